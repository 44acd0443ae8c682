"""Pure parsers of Slurm 22.05 client output: sbatch --parsable, squeue (--json or -o text),
scontrol show job -o, sinfo -o, and the clients' error lines. Text in, values out; no I/O.

squeue's text format puts the job name LAST behind an ASCII unit separator (0x1f): names may
hold spaces, '|' or anything else a user typed, and the last field may take the rest of the line.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from console.errors import RoostError
from console.jobs.model import State
from console.jobs.spec import format_time

SqueueJob = dict[str, Any]   # one job of squeue --json, as Slurm's JSON has it

SEP = "\x1f"

# Slurm's job states -> roost's. Transient ones count as the state they are on the way through.
_STATES = {
    "PENDING": State.PENDING, "REQUEUED": State.PENDING, "REQUEUE_HOLD": State.PENDING,
    "REQUEUE_FED": State.PENDING, "RESV_DEL_HOLD": State.PENDING,
    "RUNNING": State.RUNNING, "CONFIGURING": State.RUNNING, "COMPLETING": State.RUNNING,
    "SIGNALING": State.RUNNING, "STAGE_OUT": State.RUNNING, "RESIZING": State.RUNNING,
    "SUSPENDED": State.SUSPENDED, "STOPPED": State.SUSPENDED,
    "COMPLETED": State.COMPLETED,
    "FAILED": State.FAILED, "OUT_OF_MEMORY": State.OUT_OF_MEMORY, "SPECIAL_EXIT": State.FAILED,
    "CANCELLED": State.CANCELLED, "PREEMPTED": State.CANCELLED, "REVOKED": State.CANCELLED,
    "TIMEOUT": State.TIMEOUT, "DEADLINE": State.TIMEOUT,
    "NODE_FAIL": State.NODE_FAIL, "BOOT_FAIL": State.NODE_FAIL,
}


class ParseError(RoostError, ValueError):
    """Output we cannot read: one line naming what and a short excerpt."""


def _excerpt(text: str) -> str:
    text = text.strip().replace("\n", " | ")
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def map_state(slurm_state: str) -> State:
    """"RUNNING" -> RUNNING; "CANCELLED by 0" (sacct style) and "COMPLETING+" tolerated."""
    word = re.split(r"[\s+]", slurm_state.strip().upper(), maxsplit=1)[0]
    try:
        return _STATES[word]
    except KeyError:
        raise ParseError(f"unknown Slurm job state {slurm_state!r}") from None


# --- sbatch -------------------------------------------------------------------------------

def parse_sbatch(stdout: str) -> int:
    """sbatch --parsable: "123" or "123;cluster" (first non-empty line)."""
    for line in stdout.splitlines():
        head = line.strip().split(";", 1)[0]
        if head:
            if head.isdigit():
                return int(head)
            break
    raise ParseError(f"sbatch printed no job id: {_excerpt(stdout)}")


def error_line(stderr: str, program: str) -> str:
    """Slurm clients' first "error:" message without the "prog: error: " prefix, as one line.
    sbatch wraps a long message over several error lines: a line that starts in lower case
    after one that ends mid-sentence continues it. Else the first non-empty line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    message = ""
    for line in lines:
        _, sep, rest = line.partition("error: ")
        rest = rest.strip()
        if not sep or not rest:
            continue
        if message and not (rest[0].islower() and message[-1] not in ".!?"):
            break
        message = f"{message} {rest}" if message else rest
    if message:
        return message
    if lines:
        return lines[0].removeprefix(f"{program}: ")
    return f"{program} failed without a message"


# --- squeue -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class JobRow:
    """One squeue row in roost's shape (what `roost queue` prints for the built-in queue too)."""
    job_id: str              # squeue's JOBID: 12, 12_3, 12_[4-9]
    job: int                 # the array's (or the plain job's) id
    array_task: str | None   # "3", "4-9" or None
    name: str
    user: str
    partition: str
    state: State
    slurm_state: str
    time: str
    nodes: int
    nodelist: str            # nodes when running, "(Reason)" when pending
    exit_code: int | None = None

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["state"], d["st"] = self.state.value, self.state.code
        return d


# (squeue -o field, what it is); the name stays last: it may hold anything but a newline
TEXT_FIELDS = (("%i", "label"), ("%F", "job"), ("%K", "task"), ("%u", "user"), ("%P", "part"),
               ("%T", "state"), ("%M", "time"), ("%D", "nodes"), ("%R", "where"), ("%j", "name"))
TEXT_FORMAT = SEP.join(code for code, _ in TEXT_FIELDS)


def parse_squeue_text(stdout: str) -> list[JobRow]:
    """Rows of `squeue -h -o TEXT_FORMAT`."""
    return [_text_row(line) for line in stdout.split("\n") if line.strip()]


def _text_row(line: str) -> JobRow:
    parts = line.split(SEP, len(TEXT_FIELDS) - 1)
    if len(parts) != len(TEXT_FIELDS) or not parts[1].isdigit() or not parts[7].isdigit():
        raise ParseError(f"unexpected squeue line: {_excerpt(line)}")
    v = dict(zip((key for _, key in TEXT_FIELDS), parts))
    task = None if v["task"] in ("N/A", "") else v["task"]
    return JobRow(job_id=v["label"], job=int(v["job"]), array_task=task, name=v["name"],
                  user=v["user"], partition=v["part"], state=map_state(v["state"]),
                  slurm_state=v["state"], time=v["time"], nodes=int(v["nodes"]),
                  nodelist=v["where"])


def parse_squeue_json(stdout: str, now: float) -> list[JobRow]:
    """Rows of `squeue --json` (openapi v0.0.38); now = the controller's clock (epoch s)."""
    try:
        doc = json.loads(stdout)
        jobs = doc["jobs"]
    except (ValueError, KeyError, TypeError):
        raise ParseError(f"squeue --json gave no job list: {_excerpt(stdout)}") from None
    return [_json_row(job, now) for job in jobs]


def _json_row(job: SqueueJob, now: float) -> JobRow:
    try:
        slurm_state = str(job["job_state"])
        state, task = map_state(slurm_state), _json_task(job)
        job_no = int(job.get("array_job_id") or job["job_id"])
        return JobRow(job_id=_label(job_no, task), job=job_no, array_task=task,
                      name=str(job.get("name", "")), user=str(job.get("user_name", "")),
                      partition=str(job.get("partition", "")), state=state,
                      slurm_state=slurm_state, time=format_time(_elapsed(job, now)),
                      nodes=int(job.get("node_count") or 0), nodelist=_where(job, state),
                      exit_code=_exit_code(job.get("exit_code")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"unexpected squeue --json job ({exc}): {_excerpt(json.dumps(job))}") \
            from None


def _label(job_no: int, task: str | None) -> str:
    """squeue's JOBID: 12, 12_3 (a task), 12_[4-9] (pending tasks)."""
    if task is None:
        return str(job_no)
    return f"{job_no}_{task}" if task.isdigit() else f"{job_no}_[{task}]"


def _where(job: SqueueJob, state: State) -> str:
    """NODELIST(REASON): the nodes, or "(Reason)" while pending."""
    if state is State.PENDING:
        return f"({job.get('state_reason') or 'None'})"
    return str(job.get("nodes") or "")


def _json_task(job: SqueueJob) -> str | None:
    if job.get("array_task_id") is not None:
        return str(job["array_task_id"])
    pending = job.get("array_task_string") or ""
    return pending or None


def _elapsed(job: SqueueJob, now: float) -> float:
    """squeue's TIME: run time without time spent suspended (pre_sus_time carries it)."""
    start = job.get("start_time") or 0
    state = map_state(str(job["job_state"]))
    if state is State.PENDING or not start:
        return 0
    if state is State.SUSPENDED:
        return job.get("pre_sus_time") or 0
    if state.done:
        return max(0, (job.get("end_time") or start) - start)
    since = job.get("suspend_time") or start
    return max(0, now - since) + (job.get("pre_sus_time") or 0)


def _exit_code(status: object) -> int | None:
    """squeue --json's exit_code is a wait(2) status: 768 is exit 3; a signal is 128 + SIG
    (as a shell reports it)."""
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    signal = status & 0x7F
    return 128 + signal if signal else (status >> 8) & 0xFF


# --- scontrol show job -o -----------------------------------------------------------------

_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_:/]*$")


def parse_scontrol(stdout: str) -> list[dict[str, str]]:
    """`scontrol show job -o` (or node/partition -o): one dict per line. A word without '='
    continues the previous value (names and commands may hold spaces)."""
    records = []
    for line in stdout.split("\n"):
        if line.strip():
            records.append(_scontrol_record(line))
    return records


def _scontrol_record(line: str) -> dict[str, str]:
    record: dict[str, str] = {}
    last = None
    for word in line.strip().split(" "):
        key, sep, value = word.partition("=")
        if sep and _KEY.match(key) and (last is None or key not in record):
            record[key], last = value, key
        elif last is not None:
            record[last] += " " + word
        else:
            raise ParseError(f"unexpected scontrol line: {_excerpt(line)}")
    return record


# --- sinfo --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    default: bool
    available: str        # up | down | drain | inact
    time_limit: str
    nodes: int
    allocated: int        # nodes A/I/O/T from %F
    idle: int
    other: int
    nodelist: str


@dataclass(frozen=True, slots=True)
class SlurmNode:
    name: str
    partitions: tuple[str, ...]
    state: str            # sinfo's long state: idle, mixed, allocated, down*, drained ...
    cpus: int
    memory_mb: int
    cpus_alloc: int
    reason: str


PARTITION_FORMAT = SEP.join(("%P", "%a", "%l", "%D", "%F", "%N"))
NODE_FORMAT = SEP.join(("%N", "%P", "%T", "%c", "%m", "%C", "%E"))


def parse_partitions(stdout: str) -> list[Partition]:
    """`sinfo -h -o PARTITION_FORMAT` (the default partition carries a '*')."""
    return [_partition(line) for line in stdout.split("\n") if line.strip()]


def _partition(line: str) -> Partition:
    parts = line.split(SEP)
    try:
        name, avail, limit, count, counts, nodelist = parts
        a, i, o, _ = (int(x) for x in counts.split("/"))
        return Partition(name.rstrip("*"), name.endswith("*"), avail, limit, int(count),
                         a, i, o, nodelist)
    except ValueError:
        raise ParseError(f"unexpected sinfo line: {_excerpt(line)}") from None


def parse_nodes(stdout: str) -> list[SlurmNode]:
    """`sinfo -h -N -o NODE_FORMAT`: one line per node and partition, merged per node."""
    nodes: dict[str, SlurmNode] = {}
    for line in stdout.split("\n"):
        if line.strip():
            node = _node(line)
            old = nodes.get(node.name)
            if old is not None:
                node = SlurmNode(old.name, old.partitions + node.partitions, old.state, old.cpus,
                                 old.memory_mb, old.cpus_alloc, old.reason)
            nodes[node.name] = node
    return list(nodes.values())


def _node(line: str) -> SlurmNode:
    parts = line.split(SEP, 6)
    try:
        name, part, state, cpus, mem, cpu_counts, reason = parts
        alloc = int(cpu_counts.split("/")[0])
        return SlurmNode(name, (part.rstrip("*"),), state, int(cpus), int(mem), alloc,
                         "" if reason == "none" else reason)
    except ValueError:
        raise ParseError(f"unexpected sinfo node line: {_excerpt(line)}") from None
