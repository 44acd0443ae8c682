"""The built-in queue as the console's Jobs screens see it, UI-free: queue lines (JobLine), the
submit form's checks, a bounded tail of an output file, and QueueView, the async face the
screens call (SQLite in a worker thread, never on the event loop). console.jobs.slurm_view is
the same face over Slurm.

Lines are one per job (an array is one line with its progress); reads are a few aggregate
queries, so a 10,000-task array costs no more than a plain job. Output is followed from the end
of the file only: a 10 MB file (or a 10 MB line) reads at most TAIL_BYTES per look.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from collectors.errors import RoostError
from console.jobs.location import queue_failure_at
from console.jobs.model import JobSpec, State, Task
from console.jobs.outpaths import on_node_home
from console.jobs.spec import (
    SpecError,
    format_hostlist,
    format_time,
    parse_array,
    parse_dependency,
    parse_hostlist,
    parse_mem,
    parse_time,
)
from console.jobs.store import Store
from console.jobs.submission import Details, check_spec, job_details
from console.text import plural

RECENT = 200          # finished jobs kept on the board besides every live one
TAIL_BYTES = 64 << 10
MAX_LINE = 1000       # characters of one output line shown; the rest is counted in a note


@dataclass(frozen=True, slots=True)
class JobLine:
    """One row of the board: a job (all its tasks), squeue-like."""
    job_id: int
    name: str
    user: str
    state: str            # RUNNING > SUSPENDED > PENDING > the worst final state
    done: int             # finished tasks
    total: int
    nodes: str            # hostlist of running/suspended tasks; of every node used once done
    elapsed: str
    reason: str           # why pending (squeue's names), else ""
    exit_code: int | None
    counts: tuple[tuple[str, int], ...] = ()   # tasks per state, in _ORDER

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    @property
    def summary(self) -> str:
        """The state; for a finished job whose tasks ended differently, how they split:
        `5 CD 3 CA` (the worst state alone, CANCELLED 8/8, hid five completed tasks)."""
        if self.live or len(self.counts) < 2:
            return self.state
        done_first = sorted(self.counts, key=lambda c: c[0] != "COMPLETED")   # stable
        return " ".join(f"{n} {State(s).code}" for s, n in done_first)

    @property
    def live(self) -> bool:
        return self.state in ("PENDING", "RUNNING", "SUSPENDED")


# squeue's columns: (header, key of a queue row); `roost queue` prints them for either backend
QUEUE_COLUMNS = [("JOBID", "job_id"), ("NAME", "name"), ("ST", "st"), ("TIME", "time"),
                 ("NODES", "nodes"), ("NODELIST(REASON)", "nodelist")]
_ORDER = ("RUNNING", "SUSPENDED", "PENDING", "NODE_FAIL", "OUT_OF_MEMORY", "TIMEOUT", "FAILED",
          "CANCELLED", "COMPLETED")   # the job's state is the first its tasks have (worst final)


def job_lines(store: Store, now: float | None = None, recent: int = RECENT) -> list[JobLine]:
    """Every live job and the most recent finished ones, newest first."""
    now = time.time() if now is None else now
    ids = store.shown_job_ids(recent)
    if not ids:
        return []
    heads, pending, spans = store.job_heads(ids), store.first_pending(ids), store.spans(ids)
    counts, codes = store.job_state_counts(ids)
    used = store.job_nodes(ids)
    active: dict[int, list[Task]] = {}
    for t in store.active():
        active.setdefault(t.job_id, []).append(t)
    return [_line(job_id, heads[job_id], counts.get(job_id, {}), codes.get(job_id),
                  active.get(job_id, []), pending.get(job_id), spans.get(job_id), now,
                  used.get(job_id, []))
            for job_id in ids if job_id in heads]


def _line(job_id: int, head: tuple[str, str, int, str | None], counts: Mapping[str, int],
          code: int | None, run: list[Task], pending: tuple[str | None, int] | None,
          span: float | None, now: float,
          used: list[str] | None = None) -> JobLine:
    name, user, ntasks, job_reason = head
    state = next((s for s in _ORDER if counts.get(s)), "PENDING")
    live = state in ("PENDING", "RUNNING", "SUSPENDED")
    # squeue's NODELIST: where it runs now; once finished, where it ran (sacct's NodeList)
    nodes = sorted({n for t in run for n in t.nodes}) if live else sorted(used or ())
    elapsed = max((t.elapsed(now) for t in run), default=None)
    if elapsed is None:
        elapsed = span or 0.0
    reason = ""
    if pending is not None and state == "PENDING":
        task_reason, attempt = pending
        reason = (task_reason if attempt else job_reason) or "Priority"
    done = sum(n for s, n in counts.items() if State(s).done)
    return JobLine(job_id, name or "", user or "", state, done, ntasks or sum(counts.values()),
                   format_hostlist(nodes), format_time(elapsed), reason, code,
                   tuple((s, counts[s]) for s in _ORDER if counts.get(s)))


# ---- the submit form -------------------------------------------------------------------------

def _cpus(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise SpecError(f"Invalid --cpus-per-task specification: {text!r}")
    return int(text)


def _nodes(known: Iterable[str]) -> Callable[[str], object]:
    known = set(known)

    def check(text: str) -> tuple[str, ...]:
        names = parse_hostlist(text)
        bad = [n for n in names if known and n not in known]
        if bad:
            raise SpecError(f"Invalid node name specified ({format_hostlist(bad)})")
        return names
    return check


# form field -> (sbatch dest, label)
FIELDS: dict[str, tuple[str, str]] = {
    "command": ("", "command, or path of a #! script"),
    "name": ("job_name", "name (-J)"),
    "cpus": ("cpus", "cpus per task (-c)"),
    "mem": ("mem", "memory (--mem, e.g. 512M, 2G)"),
    "time": ("time", "time limit (-t, e.g. 10, 1:30:00, 2-00)"),
    "array": ("array", "array (-a, e.g. 1-10, 0-15:4%2)"),
    "nodelist": ("nodelist", "nodes (-w, hostlist)"),
    "dependency": ("dependency", "dependency (-d, e.g. afterok:12)"),
    "workdir": ("chdir", "working directory (-D)"),
    "output": ("output", "output (-o, e.g. %x-%j.out)"),
}
# form toggle -> (sbatch dest, label, the field it follows): on sets the flag (ON), off leaves
# it unset as the CLI does without it (a script's #SBATCH line still counts)
TOGGLES: dict[str, tuple[str, str, str]] = {
    "spread": ("spread", "spread the tasks one per node in turn (--spread-job)", "array"),
}
ON = "on"


def check_field(name: str, value: str, known: Iterable[str] = ()) -> str | None:
    """One field's error as one line, None when fine (empty optional fields are fine)."""
    value = value.strip()
    if name == "command":
        return None if value else "a command or a script path is needed"
    if not value:
        return None
    checks: Mapping[str, Callable[[str], object]] = {
        "cpus": _cpus, "mem": parse_mem, "time": parse_time, "array": parse_array,
        "dependency": parse_dependency, "nodelist": _nodes(known)}
    check = checks.get(name)
    if name == "workdir" and not on_node_home(value) and not os.path.isdir(value):
        return f"no such directory: {value}"
    try:
        if check is not None:
            check(value)
    except SpecError as exc:
        return str(exc)
    return None


def is_script(command: str, cwd: str | None = None) -> bool:
    """A path to an existing file (then its #SBATCH lines count), else a shell command."""
    path = os.path.join(cwd or os.getcwd(), os.path.expanduser(command.strip()))
    return bool(command.strip()) and " " not in command.strip() and os.path.isfile(path)


def form_args(values: Mapping[str, str], skip: Iterable[str] = ()) -> argparse.Namespace:
    """The form's fields and toggles as `roost submit`'s parsed flags (skip: fields the
    caller sets itself)."""
    dests = [dest for dest, *_ in (*FIELDS.values(), *TOGGLES.values()) if dest]
    args = argparse.Namespace(**dict.fromkeys(dests))
    for name, (dest, _label) in FIELDS.items():
        text = values.get(name, "").strip()
        if dest and text and name not in skip:
            setattr(args, dest, text)
    for name, (dest, *_) in TOGGLES.items():
        if values.get(name) == ON:
            setattr(args, dest, True)
    return args


def form_spec(values: Mapping[str, str], known: Iterable[str], store: Store,
              cwd: str | None = None) -> JobSpec:
    """The form's job, built the way `roost submit` builds it (SpecError: one line)."""
    from console.jobs.directives import build_spec, spec_from_args, wrap_script
    known, here = tuple(known), cwd or os.getcwd()
    for name in FIELDS:
        problem = check_field(name, values.get(name, ""), known)
        if problem:
            raise SpecError(f"{name}: {problem}")
    args = form_args(values)
    command = values["command"].strip()
    if is_script(command, here):
        path = os.path.join(here, os.path.expanduser(command))
        probe = spec_from_args(args, path, None)       # reads and checks the #! line
        spec = build_spec(args, probe.script, path, submit_dir=here)
    else:
        spec = build_spec(args, wrap_script(command), "--wrap", submit_dir=here)
    return check_spec(spec, known, store)


def submit_form(db_path: str, values: Mapping[str, str], known: Iterable[str],
                cwd: str | None = None) -> tuple[int, list[str]]:
    """Validate and queue; returns (job id, warnings)."""
    with Store(db_path) as store:
        spec = form_spec(values, known, store, cwd)
        return store.submit(spec), list(spec.warnings)


# ---- following output ------------------------------------------------------------------------

class Tail:
    """New complete lines of a growing file, read from its end; long lines cut with a note.

    poll() -> (restarted, lines): restarted means the shown text must be replaced (first look,
    the file shrank, or it grew by more than TAIL_BYTES since the last look)."""

    def __init__(self, path: str, tail_bytes: int = TAIL_BYTES, max_line: int = MAX_LINE):
        self.path, self.tail_bytes, self.max_line = path, tail_bytes, max_line
        self.pos: int | None = None
        self.carry = b""
        self.skipped = 0      # bytes of the current over-long line already dropped

    def poll(self) -> tuple[bool, list[str]]:
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return False, []
        pos = self.pos
        restart = pos is None or size < pos or size - pos > self.tail_bytes
        if pos is not None and not restart:
            if size == pos:
                return False, []
            start = pos
        else:
            start = max(0, size - self.tail_bytes)
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read(size - start)
        self.pos = start + len(data)
        lines: list[str] = []
        if restart:
            self.carry, self.skipped = b"", 0
            if start > 0:
                lines.append(f"… {start} earlier bytes not shown (the last {len(data)} follow)")
                cut = data.find(b"\n")   # the first line began before what was read
                if cut < 0:
                    self.skipped, data = len(data), b""
                else:
                    data = data[cut + 1:]
        return restart, lines + self._lines(data)

    def _lines(self, data: bytes) -> list[str]:
        out: list[str] = []
        if self.skipped:
            cut = data.find(b"\n")
            if cut < 0:
                self.skipped += len(data)
                return out
            out.append(f"… ({self.skipped + cut} more bytes of a long line not shown)")
            self.skipped, data = 0, data[cut + 1:]
        parts = (self.carry + data).split(b"\n")
        self.carry = parts.pop()
        out += [self._cut(p) for p in parts]
        if len(self.carry) > self.max_line:
            out.append(self._cut(self.carry[:self.max_line * 4]) + " (line continues)")
            self.skipped, self.carry = len(self.carry) - self.max_line, b""
        return out

    def _cut(self, raw: bytes) -> str:
        text = raw.decode("utf-8", "replace")
        if len(text) <= self.max_line:
            return text
        return text[:self.max_line] + f" … ({len(text) - self.max_line} more characters)"


# ---- the screens' face -----------------------------------------------------------------------

class JobsView(Protocol):
    """What the Jobs screens call: QueueView here, console.jobs.slurm_view.SlurmView on Slurm."""
    EVERY: float            # seconds between reads
    remote_outputs: bool    # output files live on the cluster, not on this host
    prefill_workdir: bool   # the form's working directory is a path on this host
    where: str              # "" for this host's queue, else e.g. "Slurm on ctl"

    def check_field(self, name: str, value: str, known: Iterable[str] = ()) -> str | None: ...

    async def read(self) -> tuple[list[JobLine], str]: ...

    async def submit(self, values: Mapping[str, str], known: Iterable[str],
                     cwd: str | None = None) -> tuple[int, list[str]]: ...

    async def act(self, job_id: int, want: str) -> tuple[str, str]: ...

    async def details(self, job_id: int) -> Details | None: ...

    async def close(self) -> None: ...


class QueueUnreadable(RoostError):
    """The queue's file cannot be read (its message is the one line to show)."""


class QueueView:
    """The Jobs screens' calls on the built-in queue; console.jobs.slurm_view.SlurmView has the
    same methods. Each call opens the database in a worker thread and closes it again."""
    EVERY = 1.0             # seconds between reads
    remote_outputs = False  # outputs are files on this host
    prefill_workdir = True  # the form's working directory is a path here
    where = ""              # the Slurm view says "Slurm on CTL"

    def __init__(self, db_path: str | os.PathLike[str], note: Callable[[], str],
                 after_request: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time) -> None:
        """note() says who schedules (status line); after_request() runs after a request was
        recorded (the service acts on it when nobody schedules); clock: the console's."""
        self.db_path, self.note, self.after_request = str(db_path), note, after_request
        self.clock = clock

    def check_field(self, name: str, value: str, known: Iterable[str] = ()) -> str | None:
        return check_field(name, value, known)

    async def read(self) -> tuple[list[JobLine], str]:
        """(the queue's lines, who schedules it)."""
        return await asyncio.to_thread(self._read)

    def _read(self) -> tuple[list[JobLine], str]:
        try:
            with Store(self.db_path) as store:
                return job_lines(store, self.clock()), self.note()
        except (sqlite3.Error, OSError) as exc:   # a full or read-only state file system
            raise QueueUnreadable(queue_failure_at(os.path.dirname(self.db_path), exc)) from None

    async def submit(self, values: Mapping[str, str], known: Iterable[str],
                     cwd: str | None = None) -> tuple[int, list[str]]:
        """Validate and queue the form's job: (job id, warnings); SpecError: one line."""
        return await asyncio.to_thread(submit_form, self.db_path, values, list(known), cwd)

    async def act(self, job_id: int, want: str) -> tuple[str, str]:
        """cancel | suspend | resume a whole job: (one-line notice, severity)."""
        n = await asyncio.to_thread(self._request, job_id, want)
        if n == 0:
            return f"{want} {job_id}: nothing to {want}", "warning"
        self.after_request()
        return f"{want} requested for job {job_id} ({plural(n, 'task')})", "information"

    def _request(self, job_id: int, want: str) -> int:
        with Store(self.db_path) as store:
            return store.request(job_id, None, want)

    async def details(self, job_id: int) -> Details | None:
        """What `roost job ID` shows; None: no such job."""
        return await asyncio.to_thread(self._details, job_id)

    def _details(self, job_id: int) -> Details | None:
        with Store(self.db_path) as store:
            return job_details(store, job_id)

    async def close(self) -> None:
        return None
