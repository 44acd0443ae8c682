"""What the console's Jobs screen shows and does, UI-free: queue lines, the submit form's checks,
and a bounded tail of an output file.

Lines are one per job (an array is one line with its progress); reads are a few aggregate
queries, so a 10,000-task array costs no more than a plain job. Output is followed from the end
of the file only: a 10 MB file (or a 10 MB line) reads at most TAIL_BYTES per look.
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Iterable, Mapping

from console.jobs.model import JobSpec, State
from console.jobs.spec import (
    SpecError, format_hostlist, format_time, parse_array, parse_dependency, parse_hostlist,
    parse_mem, parse_time)
from console.jobs.store import Store

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
    nodes: str            # hostlist of running/suspended tasks
    elapsed: str
    reason: str           # why pending (squeue's names), else ""
    exit_code: int | None

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    @property
    def live(self) -> bool:
        return self.state in ("PENDING", "RUNNING", "SUSPENDED")


_ORDER = ("RUNNING", "SUSPENDED", "PENDING", "NODE_FAIL", "TIMEOUT", "FAILED", "CANCELLED",
          "COMPLETED")


def job_lines(store: Store, now: float | None = None, recent: int = RECENT) -> list[JobLine]:
    """Every live job and the most recent finished ones, newest first."""
    now = time.time() if now is None else now
    db = store.db
    live = {r[0] for r in db.execute(
        "SELECT DISTINCT job_id FROM tasks WHERE state IN ('PENDING','RUNNING','SUSPENDED')")}
    last = [r[0] for r in db.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT ?", (recent,))]
    ids = sorted(live.union(last), reverse=True)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    jobs = {r[0]: r[1:] for r in db.execute(
        f"SELECT id, name, user, ntasks, reason FROM jobs WHERE id IN ({marks})", ids)}
    counts: dict[int, dict[str, int]] = {}
    codes: dict[int, int | None] = {}
    for job_id, state, n, code in db.execute(
            f"SELECT job_id, state, count(*), max(exit_code) FROM tasks WHERE job_id IN ({marks}) "
            "GROUP BY job_id, state", ids):
        counts.setdefault(job_id, {})[state] = n
        if code is not None:
            codes[job_id] = max(code, codes.get(job_id) or 0)
    pending = {r[0]: (r[1], r[2]) for r in db.execute(
        f"SELECT job_id, reason, attempt, min(pos) FROM tasks WHERE state='PENDING' "
        f"AND job_id IN ({marks}) GROUP BY job_id", ids)}
    active: dict[int, list] = {}
    for t in store.active():
        active.setdefault(t.job_id, []).append(t)
    ends = dict(db.execute(f"SELECT job_id, max(end) - min(start) FROM tasks WHERE job_id IN "
                           f"({marks}) AND start IS NOT NULL GROUP BY job_id", ids))
    out = []
    for job_id in ids:
        if job_id not in jobs:
            continue
        name, user, ntasks, job_reason = jobs[job_id]
        c = counts.get(job_id, {})
        state = next((s for s in _ORDER if c.get(s)), "PENDING")
        run = active.get(job_id, [])
        elapsed = max((t.elapsed(now) for t in run), default=None)
        if elapsed is None:
            elapsed = ends.get(job_id) or 0.0
        reason = ""
        if job_id in pending and state == "PENDING":
            task_reason, attempt = pending[job_id]
            reason = (task_reason if attempt else job_reason) or "Priority"
        done = sum(n for s, n in c.items() if State(s).done)
        out.append(JobLine(job_id, name or "", user or "", state, done, ntasks or sum(c.values()),
                           format_hostlist(sorted({t.node for t in run if t.node})),
                           format_time(elapsed), reason, codes.get(job_id)))
    return out


# ---- the submit form -------------------------------------------------------------------------

def _cpus(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise SpecError(f"Invalid --cpus-per-task specification: {text!r}")
    return int(text)


def _nodes(known: Iterable[str]) -> Callable[[str], object]:
    known = set(known)

    def check(text: str):
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
    if name == "workdir" and not os.path.isdir(os.path.expanduser(value)):
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


def form_spec(values: Mapping[str, str], known: Iterable[str], store: Store,
              cwd: str | None = None) -> JobSpec:
    """The form's job, built the way `roost submit` builds it (SpecError: one line)."""
    from console.jobs.cli import _check_spec
    from console.jobs.directives import build_spec, spec_from_args, wrap_script
    known, here = tuple(known), cwd or os.getcwd()
    for name in FIELDS:
        problem = check_field(name, values.get(name, ""), known)
        if problem:
            raise SpecError(f"{name}: {problem}")
    args = argparse.Namespace(**{dest: None for dest, _ in FIELDS.values() if dest})
    for name, (dest, _label) in FIELDS.items():
        text = values.get(name, "").strip()
        if dest and text:
            setattr(args, dest, os.path.expanduser(text) if name == "workdir" else text)
    command = values["command"].strip()
    if is_script(command, here):
        path = os.path.join(here, os.path.expanduser(command))
        probe = spec_from_args(args, path, None)       # reads and checks the #! line
        spec = build_spec(args, probe.script, path, submit_dir=here)
    else:
        spec = build_spec(args, wrap_script(command), "--wrap", submit_dir=here)
    return _check_spec(spec, SimpleNamespace(names=known), store)


def submit_form(db_path: str, values: Mapping[str, str], known: Iterable[str],
                cwd: str | None = None) -> tuple[int, list[str]]:
    """Validate and queue; returns (job id, warnings)."""
    store = Store(db_path)
    try:
        spec = form_spec(values, known, store, cwd)
        return store.submit(spec), list(spec.warnings)
    finally:
        store.close()


def request(db_path: str, job_id: int, want: str) -> int:
    """cancel | suspend | resume a whole job (as `roost cancel ID`); tasks affected."""
    store = Store(db_path)
    try:
        return store.request(job_id, None, want)
    finally:
        store.close()


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
        restart = self.pos is None or size < self.pos or size - self.pos > self.tail_bytes
        start = max(0, size - self.tail_bytes) if restart else self.pos
        if not restart and size == self.pos:
            return False, []
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
        out = []
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
