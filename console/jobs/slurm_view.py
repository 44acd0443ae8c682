"""The Jobs screens on Slurm, UI-free: squeue rows folded into the queue view's JobLine (one line per
job, an array with its progress), the form's job sent with sbatch, cancel/suspend/resume as
one-line notices, and `scontrol show job` as the details the job screen shows.

Every call is a coroutine on the backend's one SSH connection to the controller
(console.jobs.slurm.SlurmBackend). That connection, the SSH traffic and the parsing of squeue's
output (about 18 ms for 1,000 jobs of `squeue --json`) live on a private event loop in a daemon
thread, so the caller's loop (the console's UI) only awaits the results; nothing here blocks or
touches a screen.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections import Counter
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from console.config import Config
from console.jobs.model import JobSpec, State
from console.jobs.queue_view import FIELDS, RECENT, JobLine, check_field, form_args, is_script
from console.jobs.slurm import SlurmBackend, SlurmError
from console.jobs.slurm_parse import JobRow, ParseError, map_state
from console.jobs.spec import SpecError, format_hostlist, parse_array, parse_hostlist
from console.jobs.submission import Details

EVERY = 2.0           # seconds between squeue reads
ORDER = (State.RUNNING, State.SUSPENDED, State.PENDING, State.NODE_FAIL, State.TIMEOUT,
         State.FAILED, State.CANCELLED, State.COMPLETED)
DONE_WORDS = {"cancel": "cancelled", "suspend": "suspended", "resume": "resumed"}


# ---- squeue rows -> queue lines ----------------------------------------------------------

def seconds(elapsed: str) -> int:
    """squeue's TIME (M:SS, H:MM:SS, D-HH:MM:SS) in seconds; 0 when unreadable."""
    days, _, clock = elapsed.strip().rpartition("-")
    try:
        total = 0
        for part in clock.split(":"):    # [[H:]M:]S, most significant first
            total = total * 60 + int(part)
        return total + int(days or 0) * 86400
    except ValueError:
        return 0


def task_count(row: JobRow) -> int:
    """Tasks behind one squeue row: a folded pending array (12_[4-9]) counts each of them."""
    if row.array_task is None or row.array_task.isdigit():
        return 1
    try:
        return len(parse_array(row.array_task).indices)
    except SpecError:
        return 1


def _nodes(rows: Iterable[JobRow], live: bool = True) -> str:
    """Where the job runs now; once it is over, where it ran."""
    names: set[str] = set()
    for r in rows:
        ran = r.state in (State.RUNNING, State.SUSPENDED) or (not live and r.state.done)
        if ran and r.nodelist and not r.nodelist.startswith("("):
            try:
                names.update(parse_hostlist(r.nodelist))
            except SpecError:
                names.add(r.nodelist)
    return format_hostlist(sorted(names))


def job_line(rows: list[JobRow]) -> JobLine:
    """One queue line from every squeue row of one job (an array's tasks)."""
    counts: Counter[State] = Counter()
    for r in rows:
        counts[r.state] += task_count(r)
    state = next(s for s in ORDER if counts[s])
    pending = next((r for r in rows if r.state is State.PENDING), None)
    reason = pending.nodelist.strip("()") if pending and state is State.PENDING else ""
    codes = [r.exit_code for r in rows if r.exit_code is not None]
    elapsed = max((r.time for r in rows), key=seconds)
    live = state in (State.PENDING, State.RUNNING, State.SUSPENDED)
    return JobLine(rows[0].job, rows[0].name, rows[0].user, state.value,
                   sum(n for s, n in counts.items() if s.done), sum(counts.values()),
                   _nodes(rows, live), elapsed, reason, max(codes) if codes else None,
                   tuple((s.value, counts[s]) for s in ORDER if counts[s]))


def job_lines_of(rows: Iterable[JobRow], recent: int = RECENT) -> list[JobLine]:
    """Every live job and the most recent finished ones, newest first (as the built-in queue view)."""
    by_job: dict[int, list[JobRow]] = {}
    for r in rows:
        by_job.setdefault(r.job, []).append(r)
    lines = [job_line(by_job[j]) for j in sorted(by_job, reverse=True)]
    finished = [ln for ln in lines if not ln.live][:recent]
    keep = {id(ln) for ln in finished}
    return [ln for ln in lines if ln.live or id(ln) in keep]


# ---- the form ----------------------------------------------------------------------------

def check_slurm_field(name: str, value: str, _known: Iterable[str] = ()) -> str | None:
    """The form's checks for a Slurm job: node names and the working directory are the
    cluster's (Slurm judges them), the rest is parsed as for the built-in queue."""
    if name == "workdir":
        return None
    return check_field(name, value, ())


def form_job(values: Mapping[str, str], cwd: str | None = None) -> JobSpec:
    """The form's job for sbatch: a local script file (sent on stdin) or a shell command.
    The working directory is a path on the cluster, taken as typed (empty: the login dir)."""
    from console.jobs.directives import build_spec, spec_from_args, wrap_script
    here = cwd or os.getcwd()
    for name in FIELDS:
        problem = check_slurm_field(name, values.get(name, ""))
        if problem:
            raise SpecError(f"{name}: {problem}")
    args = form_args(values, skip=("workdir",))
    command = values["command"].strip()
    if is_script(command, here):
        path = os.path.join(here, os.path.expanduser(command))
        spec = build_spec(args, spec_from_args(args, path, None).script, path, submit_dir=here)
    else:
        spec = build_spec(args, wrap_script(command), "--wrap", submit_dir=here)
    return dataclasses.replace(spec, chdir=values.get("workdir", "").strip() or None)


# ---- scontrol show job -> the details screen's dict ---------------------------------------

def _null(value: str | None) -> str:
    return "" if value in (None, "(null)", "None") else value


def _task(rec: Mapping[str, str]) -> Details:
    array, task = _null(rec.get("ArrayJobId")), _null(rec.get("ArrayTaskId"))
    code = rec.get("ExitCode", "").split(":")[0]
    state = rec.get("JobState", "")
    try:
        shown = map_state(state).value
    except ParseError:
        shown = state
    return {"task": f"{array}_{task}" if array and task else rec.get("JobId", ""),
            "state": shown, "node": _null(rec.get("NodeList")) if shown != "PENDING" else "",
            "elapsed": rec.get("RunTime", ""), "exit_code": int(code) if code.isdigit() else None,
            "reason": _null(rec.get("Reason")) if shown == "PENDING" else "",
            "output": _null(rec.get("StdOut"))}


def details_of(job_id: int, records: list[dict[str, str]], controller: str) -> Details:
    """What JobDetailScreen shows (the keys of console.jobs.submission.job_details) from scontrol."""
    first = records[0]
    tasks = [_task(r) for r in records]
    states = Counter(t["state"] for t in tasks)
    return {"job_id": job_id, "name": first.get("JobName", ""),
            "user": first.get("UserId", "").split("(")[0], "states": dict(states),
            "reason": _null(first.get("Reason")), "cpus_per_task": first.get("CPUs/Task"),
            "mem_mb": _null(first.get("MinMemoryNode") or first.get("MinMemoryCPU")),
            "time_limit": first.get("TimeLimit"), "dependency": _null(first.get("Dependency")),
            "nodelist": _null(first.get("NodeList")), "work_dir": first.get("WorkDir"),
            "output": _null(first.get("StdOut")), "error": _null(first.get("StdErr")),
            "tasks": tasks, "cluster": f"Slurm on {controller}"}


# ---- the view ------------------------------------------------------------------------------

T = TypeVar("T")


class LoopThread:
    """An event loop of its own in a daemon thread, started on first use."""

    def __init__(self, name: str = "roost-slurm") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await coro on the private loop (cancelling the caller cancels it there too)."""
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            self.thread = threading.Thread(target=self.loop.run_forever, name=self.name,
                                           daemon=True)
            self.thread.start()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def stop(self) -> None:
        loop, thread, self.loop, self.thread = self.loop, self.thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, 5.0)
            if not thread.is_alive():
                loop.close()


class SlurmView:
    """The Jobs screens' calls on Slurm (the same face as queue_view.QueueView): rows, submit,
    cancel/suspend/resume, details."""
    EVERY = EVERY
    remote_outputs = True    # output files live on the cluster
    prefill_workdir = False  # the working directory is a path on the cluster

    def __init__(self, backend: SlurmBackend, controller: str) -> None:
        self.backend, self.controller = backend, controller
        self.where = f"Slurm on {controller}"
        self.worker = LoopThread()

    @classmethod
    def from_config(cls, config: Config) -> SlurmView:
        backend = SlurmBackend.from_config(config)
        return cls(backend, backend.name)

    def check_field(self, name: str, value: str, known: Iterable[str] = ()) -> str | None:
        return check_slurm_field(name, value, known)

    async def read(self) -> tuple[list[JobLine], str]:
        """(the queue's lines, who schedules it)."""
        return await self.lines(), self.where

    async def lines(self) -> list[JobLine]:
        """Every job squeue knows (finished ones until Slurm's MinJobAge), as queue lines."""
        return await self.worker.run(self._lines())

    async def _lines(self) -> list[JobLine]:
        return job_lines_of(await self.backend.queue(all_states=True))

    async def submit(self, values: Mapping[str, str], known: Iterable[str] = (),
                     cwd: str | None = None) -> tuple[int, list[str]]:
        """The form's job through sbatch: (job id, warnings); SpecError/SlurmError: one line."""
        spec = form_job(values, cwd)
        return await self.worker.run(self.backend.submit(spec)), list(spec.warnings)

    async def act(self, job_id: int, want: str) -> tuple[str, str]:
        """cancel | suspend | resume a whole job: (one-line notice, severity)."""
        errors = await self.worker.run(getattr(self.backend, want)([str(job_id)]))
        if errors:
            return f"{want} {job_id}: {errors[0]}", "warning"
        return f"{DONE_WORDS[want]} job {job_id} ({self.controller})", "information"

    async def details(self, job_id: int) -> Details:
        records = await self.worker.run(self.backend.job(str(job_id)))
        if not records:
            raise SlurmError(f"Invalid job id specified: {job_id}")
        return details_of(job_id, records, self.controller)

    async def close(self) -> None:
        if self.worker.loop is not None:
            try:
                await self.worker.run(self.backend.close())
            finally:
                await self.worker.stop()
