"""[jobs] backend = "ray": roost's job commands on Ray's Job API, through the head's SSH forward.

    roost submit --wrap CMD / SCRIPT   POST /api/jobs/ with submission id roost-N (N the next
                                       free number; a race for N moves on to N+1)
    roost queue [-a]                   GET /api/jobs/, states mapped to roost's (Slurm's) names
    roost job ID                       the job, Ray's message and exit code, its log's last lines
    roost cancel ID                    POST /api/jobs/ID/stop
    roost suspend / resume             not supported by Ray (one line, exit 1)

sbatch flags: -J is kept in the job's metadata; -c N and --mem reserve CPUs and memory for the
entrypoint (Ray reserves none by default); -w/--nodelist and -x/--exclude become an
entrypoint_label_selector on the roost.node label (`roost ray up` puts it on every node);
--export adds runtime_env env_vars; -D runs the command there; a script's arguments reach it as
$1 $2 ...; --mem-per-cpu reserves that much per CPU; LSF's -m picks among its nodes. Arrays,
dependencies, multi-node allocations and --begin have no Ray equivalent and are refused; time
limits, output files, --nice and --exclusive are warned about: never silently lost.
"""
from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collectors import transport
from console.config import Config, ConfigError
from console.jobs.model import JobSpec, State
from console.jobs.outpaths import cd_argument
from console.jobs.spec import format_time
from console.ray.client import RayClient, RayDuplicate, RayError
from console.ray.parse import LABEL, RayJob, RayNode, submission_id
from console.ray.tunnel import RayTunnel

NOT_SUPPORTED = "not supported by Ray (a Ray job cannot be paused; `roost cancel` stops it)"
RETRIES = 5                           # submission id races before giving up


class RayJobError(RayError):
    """A job request Ray cannot carry out; one line."""


# ---- JobSpec -> the submission -------------------------------------------------------------

def entrypoint(spec: JobSpec, wrap: str | None = None) -> str:
    """The shell command Ray runs (under /bin/sh on the node its supervisor picked). A wrapped
    command stays readable; a script travels inside the command and runs from a private
    temporary file, so its #! line picks the interpreter."""
    cd = f"cd {cd_argument(spec.chdir)} && " if spec.chdir else ""
    if wrap is not None:
        return f"{cd}{wrap}" if not cd else f"{cd}{{ {wrap}\n}}"
    args = "".join(f" {shlex.quote(a)}" for a in spec.args)
    return (f'{cd}f=$(mktemp) && printf %s {shlex.quote(spec.script)} > "$f" && chmod 700 "$f" '
            f'&& "$f"{args}; rc=$?; rm -f "$f"; exit $rc')


def label_selector(spec: JobSpec) -> dict[str, str]:
    """--nodelist / --exclude on the roost.node label (Ray's "in(a,b)" / "!in(a,b)"); LSF's
    -m (any one of its nodes) reads as a list to pick from."""
    names = [n for n in spec.nodelist or spec.candidates if n not in spec.exclude]
    if (spec.nodelist or spec.candidates) and not names:
        raise RayJobError("Batch job submission failed: --exclude removes every node of "
                          "--nodelist")
    if names:
        return {LABEL: names[0] if len(names) == 1 else f"in({','.join(names)})"}
    if spec.exclude:
        return {LABEL: f"!in({','.join(spec.exclude)})"}
    return {}


def refusals(spec: JobSpec, known: Iterable[str] = ()) -> list[str]:
    """Why Ray cannot take the job (sbatch's wording where it has one); known: node names."""
    known = set(known)
    out = [f"Batch job submission failed: Invalid node name specified ({name})"
           for name in (*spec.nodelist, *spec.candidates, *spec.exclude)
           if known and name not in known][:1]
    if spec.array is not None:
        out.append("--array: not supported by Ray (submit one job per index)")
    if spec.dependencies.items:
        out.append("--dependency: not supported by Ray (wait in the entrypoint instead)")
    if spec.nodes > 1 or (spec.num_tasks or 1) > 1 or (spec.tasks_per_node or 1) > 1:
        out.append("--nodes/--ntasks: a Ray job's driver runs on one node; spread the work with "
                   "Ray tasks, or use the built-in queue for MPI allocations")
    if spec.begin is not None:
        out.append("--begin: not supported by Ray (submit it then)")
    return out


def warnings(spec: JobSpec) -> list[str]:
    out = list(spec.warnings)
    if spec.time_limit is not None:
        out.append("ignoring --time: Ray jobs have no time limit (roost cancel stops one)")
    if spec.output or spec.error:
        out.append("ignoring --output/--error: Ray keeps the driver's log (roost ray logs ID)")
    if spec.requeue:
        out.append("ignoring --requeue: Ray does not requeue jobs")
    if spec.export.clean:
        out.append("--export=NONE: Ray jobs start from the node's Ray environment")
    if spec.nice:
        out.append("ignoring --nice: Ray runs jobs as they come")
    if spec.exclusive:
        out.append("ignoring --exclusive: Ray shares its nodes (reserve CPUs with -c)")
    return out


def request(spec: JobSpec, wrap: str | None = None) -> dict[str, Any]:
    """The POST /api/jobs/ keywords of RayClient.submit (without the submission id)."""
    env = {k: v for k, v in spec.export.values}
    mem = _memory_mb(spec)
    return {"entrypoint": entrypoint(spec, wrap),
            "metadata": {"roost.name": spec.name, "roost.user": spec.user},
            "num_cpus": spec.cpus if spec.cpus != 1 else None,
            "memory": mem * 1024 * 1024 if mem else None,
            "label_selector": label_selector(spec),
            "runtime_env": {"env_vars": env} if env else None}


def _memory_mb(spec: JobSpec) -> int | None:
    """--mem, or --mem-per-cpu times the CPUs asked for."""
    if spec.mem_per_cpu:
        return spec.mem_per_cpu * spec.cpus
    return spec.mem_mb or None


# ---- rows ----------------------------------------------------------------------------------

def node_names(nodes: list[RayNode]) -> dict[str, str]:
    """Ray node id -> the roost name it carries (else its Ray name, else its address)."""
    return {n.node_id: n.roost_node or n.name or n.ip for n in nodes}


def queue_row(job: RayJob, names: dict[str, str], now_ms: float) -> dict[str, object]:
    """One `roost queue` row (the built-in queue's keys)."""
    state = job.state
    where = names.get(job.driver_node_id or "", "") if state is State.RUNNING else ""
    if state is State.PENDING:
        where = "(Resources)"
    elif state.done and job.reason:
        where = f"({job.reason})"
    return {"job_id": job.label, "name": job.name, "user": job.user, "state": state.value,
            "st": state.code, "time": format_time(job.elapsed(now_ms)), "nodes": 1,
            "nodelist": where, "exit_code": job.exit_code, "submission_id": job.submission_id}


def details(job: RayJob, names: dict[str, str], now_ms: float) -> dict[str, object]:
    """`roost job ID`: what Ray knows about one job."""
    return {"job_id": job.label, "submission_id": job.submission_id, "name": job.name,
            "user": job.user, "state": job.state.value, "ray_status": job.status,
            "node": names.get(job.driver_node_id or "") or None,
            "elapsed": format_time(job.elapsed(now_ms)), "exit_code": job.exit_code,
            "error_type": job.error_type, "message": job.message.split(
                ", last available logs", 1)[0].strip() or None,
            "entrypoint": job.entrypoint, "ray_job_id": job.job_id}


def sort_key(job: RayJob) -> tuple[bool, int, int]:
    return (job.number is None, -(job.number or 0), -(job.start_ms or 0))


# ---- the backend ---------------------------------------------------------------------------

@dataclass
class RayJobs:
    """Ray's jobs for roost's commands: open with from_config (its own SSH connection) or
    around any RayClient (e.g. one on the console fleet's connection)."""
    client: RayClient

    @classmethod
    def from_config(cls, config: Config) -> RayJobs:
        head = config.ray.head
        if not head:
            raise ConfigError(f"{config.ray.where or 'roost.toml'}: ray.head: expected the name "
                              f"of the node that runs the Ray head ([jobs] backend = \"ray\")")
        target = config.target(config.node(head))
        tunnel = RayTunnel(head, lambda: transport.connect(target), config.ray.dashboard_port)
        return cls(RayClient(tunnel))

    async def __aenter__(self) -> RayJobs:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def submit(self, spec: JobSpec, wrap: str | None = None,
                     known: Iterable[str] = ()) -> int:
        """The job's roost number (submission id roost-N); known: the fleet's node names."""
        problems = refusals(spec, known)
        if problems:
            raise RayJobError(problems[0])
        keywords = request(spec, wrap)
        number = await self.next_number()
        for _ in range(RETRIES):
            try:
                await self.client.submit(submission_id=submission_id(number), **keywords)
                return number
            except RayDuplicate:
                number += 1          # another console took it between our list and our POST
        raise RayJobError(f"submission ids {submission_id(number - RETRIES)}..{number - 1} "
                          f"were all taken while submitting; try again")

    async def next_number(self) -> int:
        taken = [j.number for j in await self.client.jobs() if j.number is not None]
        return max(taken, default=0) + 1

    async def find(self, label: str) -> RayJob:
        """A job by roost's number (12) or Ray's submission id; RayJobError if unknown."""
        sid = submission_id(int(label)) if label.isdigit() else label
        job = await self.client.job(sid)
        if job is None:
            raise RayJobError(f"Invalid job id specified: {label}")
        return job

    async def jobs(self, all_states: bool = False) -> list[RayJob]:
        jobs = sorted(await self.client.jobs(), key=sort_key)
        return [j for j in jobs if all_states or not j.state.done]

    async def names(self) -> dict[str, str]:
        return node_names(await self.client.nodes())

    async def rows(self, ids: Sequence[str] = (),
                   all_states: bool = False) -> list[dict[str, object]]:
        jobs, names, now = await self.jobs(all_states or bool(ids)), await self.names(), _now()
        return [queue_row(j, names, now) for j in jobs
                if not ids or j.label in ids or j.submission_id in ids]

    async def cancel(self, label: str) -> str | None:
        """Stop a job; an error line when there was nothing to stop."""
        job = await self.find(label)
        if job.state.done or not await self.client.stop(job.submission_id):
            return f"Kill job error on job id {label}: Job/step already completing or completed"
        return None

    async def details(self, label: str, lines: int = 20) -> tuple[dict[str, object], str]:
        """The job's facts and its log's last lines (or why they cannot be read: the node that
        ran the driver may have left the cluster)."""
        job = await self.find(label)
        try:
            log = await self.client.logs(job, lines)
        except RayError as exc:
            log = f"(the driver's log cannot be read: {exc})"
        return details(job, await self.names(), _now()), log

    async def wait(self, number: int, every: float = 0.5) -> RayJob:
        """Until the job ends (submit --wait)."""
        while True:
            job = await self.find(str(number))
            if job.state.done:
                return job
            await _sleep(every)


def _now() -> float:
    return time.time() * 1000.0


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)

