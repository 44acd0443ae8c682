"""What the console shows of Ray, UI-free: the Jobs screen's lines, form, actions, details and
task summary; the fleet table's Ray column; the node screen's tasks and actors.

RayView talks to the head's REST API over its own SSH connection (console.ray.tunnel), on the
caller's event loop: every call is a few small HTTP requests and JSON documents, nothing that
blocks. Failures come back as one-line texts (RayFleet.error, NodeRay.error) or RayError.
Only roost's jobs (submission ids roost-N) have a line on the Jobs screen (its lines are
numbered); the status line counts the others, which `roost queue` lists.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from console.config import Config
from console.jobs.model import JobSpec, State
from console.jobs.queue_view import FIELDS, JobLine, check_field, is_script
from console.jobs.spec import SpecError, format_time
from console.ray.client import RayError
from console.ray.jobs import NOT_SUPPORTED, RayJobs, refusals, warnings
from console.ray.parse import FuncSummary, RayActor, RayJob, RayNode, RayTask, fleet_map, one_line

EVERY = 2.0                 # seconds between reads of the head
TASKS_SHOWN = 50            # the node screen's tasks (running first)


@dataclass(frozen=True, slots=True)
class RayCell:
    """The fleet table's Ray column for one node."""
    state: str                        # ALIVE | DEAD
    used: float | None                # CPUs in use (None: the head did not say)
    total: float

    @property
    def text(self) -> str:
        if self.state != "ALIVE":
            return self.state
        used = "?" if self.used is None else f"{self.used:g}"
        return f"{used}/{self.total:g}"


@dataclass(frozen=True, slots=True)
class RayFleet:
    cells: Mapping[str, RayCell] = field(default_factory=dict)    # roost node -> cell
    error: str = ""                   # one line when the head could not be read


@dataclass(frozen=True, slots=True)
class NodeRay:
    """The node screen's Ray section: the Ray node it maps to, its tasks and live actors."""
    node: RayNode | None = None
    cell: RayCell | None = None
    tasks: tuple[RayTask, ...] = ()
    actors: tuple[RayActor, ...] = ()
    error: str = ""


def job_line(job: RayJob, names: Mapping[str, str], now_ms: float) -> JobLine:
    state = job.state
    node = names.get(job.driver_node_id or "", "") if state is State.RUNNING else ""
    return JobLine(job.number or 0, job.name, job.user, state.value, 1 if state.done else 0, 1,
                   node, format_time(job.elapsed(now_ms)),
                   "Resources" if state is State.PENDING else "", job.exit_code)


def form_job(values: Mapping[str, str], cwd: str | None = None) -> tuple[JobSpec, str | None]:
    """The submit form's job: (spec, the command when it is one rather than a script path).
    The working directory is a path on the cluster, taken as typed."""
    from console.jobs.directives import build_spec, spec_from_args, wrap_script
    here = cwd or os.getcwd()
    for name in FIELDS:
        problem = None if name == "workdir" else check_field(name, values.get(name, ""), ())
        if problem:
            raise SpecError(f"{name}: {problem}")
    args = argparse.Namespace(**{dest: None for dest, _ in FIELDS.values() if dest})
    for name, (dest, _label) in FIELDS.items():
        text = values.get(name, "").strip()
        if dest and text and name != "workdir":
            setattr(args, dest, text)
    command = values["command"].strip()
    if is_script(command, here):
        path = os.path.join(here, os.path.expanduser(command))
        spec, wrap = spec_from_args(args, path, None), None
    else:
        spec, wrap = build_spec(args, wrap_script(command), "--wrap", submit_dir=here), command
    return dataclasses.replace(spec, chdir=values.get("workdir", "").strip() or None), wrap


class RayView:
    """The console's calls on Ray (one per console; close() drops the SSH forward)."""
    EVERY = EVERY
    prefill_workdir = False           # the working directory is a path on the cluster
    remote_outputs = True             # the driver's log lives on the cluster (see output())

    def __init__(self, jobs: RayJobs, hosts: Mapping[str, str]):
        self.jobs, self.hosts = jobs, dict(hosts)
        self.where = f"Ray on {jobs.client.head}"
        self.controller = jobs.client.head        # what the detail screen names as "where"
        self._ids: dict[str, str] = {}            # roost node -> Ray node id, from fleet()

    @classmethod
    def from_config(cls, config: Config) -> RayView:
        hosts = {t.name: t.host for t in config.targets()}
        return cls(RayJobs.from_config(config), hosts)

    def check_field(self, name: str, value: str, known: Iterable[str] = ()) -> str | None:
        return None if name == "workdir" else check_field(name, value, known)

    # ---- the Jobs screen -------------------------------------------------------------------

    async def read(self) -> tuple[list[JobLine], str]:
        jobs, names, now = await self.jobs.client.jobs(), await self.jobs.names(), _now()
        ours = sorted((j for j in jobs if j.number is not None), key=lambda j: -(j.number or 0))
        others = len(jobs) - len(ours)
        note = self.where + (f" · {others} Ray jobs from elsewhere (roost queue -a)"
                             if others else "")
        return [job_line(j, names, now) for j in ours], note

    async def lines(self) -> list[JobLine]:
        return (await self.read())[0]

    async def submit(self, values: Mapping[str, str], known: Iterable[str] = (),
                     cwd: str | None = None) -> tuple[int, list[str]]:
        spec, wrap = form_job(values, cwd)
        problems = refusals(spec, known)
        if problems:
            raise SpecError(problems[0])
        return await self.jobs.submit(spec, wrap, known), warnings(spec)

    async def act(self, job_id: int, want: str) -> tuple[str, str]:
        if want != "cancel":
            return f"{want} {job_id}: {NOT_SUPPORTED}", "warning"
        problem = await self.jobs.cancel(str(job_id))
        if problem:
            return f"cancel {job_id}: {problem}", "warning"
        return f"cancelled job {job_id} ({self.where})", "information"

    async def details(self, job_id: int) -> dict:
        """The detail screen's facts (the keys of `roost job`), one task: the driver."""
        info, log = await self.jobs.details(str(job_id))
        task = {"task": str(job_id), "state": info["state"], "node": info["node"] or "",
                "elapsed": info["elapsed"], "exit_code": info["exit_code"],
                "reason": one_line(info["message"] or "", 160)
                if info["state"] not in ("RUNNING", "PENDING", "COMPLETED") else "",
                "output": f"ray:job-driver-{info['submission_id']}.log"}
        return {"job_id": job_id, "name": info["name"], "user": info["user"],
                "states": {info["state"]: 1}, "reason": "", "cluster": self.where,
                "nodelist": info["node"], "error": info["error_type"], "tasks": [task],
                "log": log}

    async def output(self, job_id: int, lines: int = 200) -> list[str]:
        """The last lines of the job's driver log."""
        job = await self.jobs.find(str(job_id))
        return (await self.jobs.client.logs(job, lines)).splitlines()

    async def summary(self) -> list[FuncSummary]:
        return await self.jobs.client.summary()

    # ---- the fleet and node screens ----------------------------------------------------------

    async def fleet(self) -> RayFleet:
        try:
            nodes, usage = await self.jobs.client.nodes(), await self.jobs.client.usage()
        except RayError as exc:
            return RayFleet(error=str(exc))
        mapped = fleet_map(nodes, self.hosts)
        self._ids = {name: n.node_id for name, n in mapped.items()}
        return RayFleet({name: _cell(n, usage) for name, n in mapped.items()})

    async def node(self, name: str) -> NodeRay:
        try:
            nodes, usage = await self.jobs.client.nodes(), await self.jobs.client.usage()
            found = fleet_map(nodes, self.hosts).get(name)
            if found is None:
                return NodeRay(error=f"{name} is not a node of the Ray cluster on "
                                     f"{self.jobs.client.head}")
            tasks = await self.jobs.client.tasks(found.node_id, limit=TASKS_SHOWN * 4)
            actors = await self.jobs.client.actors(found.node_id)
        except RayError as exc:
            return NodeRay(error=str(exc))
        tasks = sorted(tasks, key=lambda t: (not t.state.startswith("RUNNING"), t.name))
        return NodeRay(found, _cell(found, usage), tuple(tasks[:TASKS_SHOWN]),
                       tuple(a for a in actors if a.state != "DEAD"))

    async def close(self) -> None:
        await self.jobs.client.close()


def _cell(node: RayNode, usage: Mapping[str, tuple[float, float]]) -> RayCell:
    used = usage.get(node.node_id)
    return RayCell(node.state, used[0] if used and node.alive else None,
                   used[1] if used else node.cpus)


def _now() -> float:
    return time.time() * 1000.0

