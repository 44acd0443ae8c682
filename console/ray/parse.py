"""Ray's JSON documents -> frozen dataclasses. Pure: no I/O, no ray import.

Shapes, as Ray 2.60's dashboard serves them:
  GET /api/jobs/, /api/jobs/ID        a job dict (or a list of them)
  GET /api/v0/nodes?detail=1          {"result": true, "msg": "", "data": {"result": {"result": [...]}}}
  GET /api/v0/tasks/summarize         ... "node_id_to_summary": {"cluster": {"summary": {FUNC: {...}}}}
  GET /api/v0/tasks, /api/v0/actors   ... {"result": [...]}
  GET /api/cluster_status             {"data": {"clusterStatus": {"loadMetricsReport":
                                        {"usageByNode": {NODE_ID: {"CPU": [used, total]}}}}}}
  errors                              text bodies, often a Python traceback
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.errors import RoostError
from console.jobs.model import State

LABEL = "roost.node"                  # the Ray node label naming the roost node
PREFIX = "roost-"                     # roost's submission ids: roost-1, roost-2 ...

# Ray job status -> roost's (Slurm's) state names
STATES = {"PENDING": State.PENDING, "RUNNING": State.RUNNING, "STOPPED": State.CANCELLED,
          "SUCCEEDED": State.COMPLETED, "FAILED": State.FAILED}
# a FAILED job whose supervisor died with its node: the node failed, not the program
NODE_FAILURES = ("JOB_SUPERVISOR_ACTOR_DIED", "JOB_SUPERVISOR_ACTOR_START_FAILURE")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LABEL_VALUE = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?")


class ParseError(RoostError, ValueError):
    """A document that is not what Ray serves; one line."""


def clean(text: Any) -> str:
    """Text from Ray (messages, logs) without escape codes or control characters but newlines
    and tabs; a terminal shows it as text."""
    return _CONTROL.sub("", _ANSI.sub("", str(text or "")))


def one_line(text: Any, limit: int = 300) -> str:
    line = " ".join(clean(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def label_value_ok(name: str) -> bool:
    """Ray accepts this as a label value (a roost node name may be longer or end in '-')."""
    return bool(_LABEL_VALUE.fullmatch(name))


def submission_id(number: int) -> str:
    return f"{PREFIX}{number}"


def number_of(sid: str) -> int | None:
    """roost-12 -> 12; another submission id -> None."""
    rest = sid[len(PREFIX):] if sid.startswith(PREFIX) else ""
    return int(rest) if rest.isdigit() and not rest.startswith("0") else None


# ---- jobs -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RayJob:
    submission_id: str
    status: str                       # Ray's own word: PENDING RUNNING STOPPED SUCCEEDED FAILED
    entrypoint: str = ""
    message: str = ""
    error_type: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    exit_code: int | None = None      # the entrypoint's (driver_exit_code)
    driver_node_id: str | None = None
    job_id: str | None = None         # Ray's internal job id once a driver connected
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def state(self) -> State:
        if self.status == "FAILED" and self.error_type in NODE_FAILURES:
            return State.NODE_FAIL
        return STATES.get(self.status, State.PENDING)

    @property
    def number(self) -> int | None:
        return number_of(self.submission_id)

    @property
    def label(self) -> str:
        """The id a user types: 12 for roost-12, else Ray's submission id."""
        return str(self.number) if self.number is not None else self.submission_id

    @property
    def name(self) -> str:
        return self.metadata.get("roost.name") or self.metadata.get("job_name") or \
            self.entrypoint.split(" ", 1)[0].rsplit("/", 1)[-1] or "ray"

    @property
    def user(self) -> str:
        return self.metadata.get("roost.user", "")

    def elapsed(self, now_ms: float) -> float:
        if self.start_ms is None or self.status == "PENDING":
            return 0.0
        end = self.end_ms if self.end_ms is not None else now_ms
        return max(0.0, (end - self.start_ms) / 1000.0)

    @property
    def reason(self) -> str:
        """One line on why it ended (exit code and Ray's message), empty while it runs."""
        if self.state in (State.PENDING, State.RUNNING, State.COMPLETED):
            return ""
        first = one_line(self.message.split("last available logs", 1)[0].rstrip(" ,:"), 160)
        code = f"exit {self.exit_code}: " if self.exit_code is not None else ""
        kind = f" [{self.error_type}]" if self.error_type else ""
        return f"{code}{first}{kind}".strip()


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_job(doc: Any) -> RayJob:
    if not isinstance(doc, dict) or not isinstance(doc.get("submission_id") or doc.get("job_id"),
                                                   str):
        raise ParseError(f"not a Ray job: {one_line(repr(doc), 80)}")
    meta = doc.get("metadata") or {}
    return RayJob(
        submission_id=doc.get("submission_id") or doc["job_id"],
        status=str(doc.get("status") or "PENDING"), entrypoint=str(doc.get("entrypoint") or ""),
        message=str(doc.get("message") or ""), error_type=doc.get("error_type") or None,
        start_ms=_int(doc.get("start_time")) or None, end_ms=_int(doc.get("end_time")) or None,
        exit_code=_int(doc.get("driver_exit_code")),
        driver_node_id=doc.get("driver_node_id") or None, job_id=doc.get("job_id") or None,
        metadata={str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {})


def parse_jobs(doc: Any) -> list[RayJob]:
    """GET /api/jobs/ -> jobs, submitted ones only (drivers run by hand have no submission)."""
    if not isinstance(doc, list):
        raise ParseError(f"expected a list of Ray jobs, got {type(doc).__name__}")
    return [parse_job(d) for d in doc if isinstance(d, dict) and d.get("submission_id")]


# ---- the state API ------------------------------------------------------------------------

def unwrap(doc: Any) -> Any:
    """The state API envelope {"result": ok, "msg": why, "data": {"result": X}} -> X."""
    if not isinstance(doc, dict) or "data" not in doc:
        raise ParseError(f"not a Ray state API answer: {one_line(repr(doc), 80)}")
    if doc.get("result") is False:
        raise ParseError(one_line(doc.get("msg") or "the state API refused the request"))
    data = doc["data"].get("result") if isinstance(doc["data"], dict) else None
    return data.get("result") if isinstance(data, dict) and "result" in data else data


@dataclass(frozen=True, slots=True)
class RayNode:
    node_id: str
    ip: str
    name: str
    state: str                        # ALIVE | DEAD
    is_head: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    cpus: float = 0.0
    start_ms: int = 0

    @property
    def roost_node(self) -> str | None:
        return self.labels.get(LABEL)

    @property
    def alive(self) -> bool:
        return self.state == "ALIVE"


def parse_nodes(doc: Any) -> list[RayNode]:
    items = unwrap(doc)
    if not isinstance(items, list):
        raise ParseError("expected a list of Ray nodes")
    out = []
    for n in items:
        if not isinstance(n, dict) or not n.get("node_id"):
            continue
        res = n.get("resources_total") or {}
        labels = n.get("labels") or {}
        out.append(RayNode(str(n["node_id"]), str(n.get("node_ip") or ""),
                           str(n.get("node_name") or ""), str(n.get("state") or "DEAD"),
                           bool(n.get("is_head_node")), {str(k): str(v) for k, v in labels.items()},
                           float(res.get("CPU") or 0), _int(n.get("start_time_ms")) or 0))
    return out


def parse_usage(doc: Any) -> dict[str, tuple[float, float]]:
    """GET /api/cluster_status -> node id -> (CPUs in use, CPUs)."""
    try:
        by_node = doc["data"]["clusterStatus"]["loadMetricsReport"]["usageByNode"]
    except (KeyError, TypeError):
        return {}
    out = {}
    for node_id, usage in (by_node or {}).items():
        cpu = usage.get("CPU") if isinstance(usage, dict) else None
        if isinstance(cpu, list) and len(cpu) == 2:
            out[str(node_id)] = (float(cpu[0]), float(cpu[1]))
    return out


RUNNING_STATES = ("RUNNING", "RUNNING_IN_RAY_GET", "RUNNING_IN_RAY_WAIT")


@dataclass(frozen=True, slots=True)
class FuncSummary:
    """One function (or actor method) across the cluster: how many tasks in each phase."""
    name: str
    kind: str                         # NORMAL_TASK | ACTOR_TASK | ACTOR_CREATION_TASK
    pending: int = 0
    running: int = 0
    finished: int = 0
    failed: int = 0


def parse_summary(doc: Any) -> list[FuncSummary]:
    """GET /api/v0/tasks/summarize -> per function, busiest first."""
    result = unwrap(doc)
    try:
        summary = result["node_id_to_summary"]["cluster"]["summary"]
    except (KeyError, TypeError):
        raise ParseError("expected a task summary (node_id_to_summary.cluster)") from None
    out = []
    for name, entry in (summary or {}).items():
        counts = entry.get("state_counts") or {}
        running = sum(counts.get(s, 0) for s in RUNNING_STATES)
        finished, failed = counts.get("FINISHED", 0), counts.get("FAILED", 0)
        pending = sum(counts.values()) - running - finished - failed
        out.append(FuncSummary(clean(entry.get("func_or_class_name") or name),
                               str(entry.get("type") or ""), pending, running, finished, failed))
    return sorted(out, key=lambda f: (-f.running, -f.pending, -f.failed, f.name))


@dataclass(frozen=True, slots=True)
class RayTask:
    task_id: str
    name: str
    state: str
    node_id: str | None
    kind: str = ""
    worker_pid: int | None = None
    job_id: str | None = None


def parse_tasks(doc: Any) -> list[RayTask]:
    items = unwrap(doc)
    return [RayTask(str(t.get("task_id") or ""), clean(t.get("name") or t.get("func_or_class_name")),
                    str(t.get("state") or ""), t.get("node_id") or None, str(t.get("type") or ""),
                    _int(t.get("worker_pid")), t.get("job_id") or None)
            for t in (items or []) if isinstance(t, dict)]


@dataclass(frozen=True, slots=True)
class RayActor:
    actor_id: str
    class_name: str
    state: str                        # ALIVE | DEAD | PENDING_CREATION | RESTARTING ...
    node_id: str | None
    pid: int | None = None
    name: str = ""
    job_id: str | None = None


def parse_actors(doc: Any) -> list[RayActor]:
    items = unwrap(doc)
    return [RayActor(str(a.get("actor_id") or ""), clean(a.get("class_name")),
                     str(a.get("state") or ""), a.get("node_id") or None, _int(a.get("pid")),
                     clean(a.get("name")), a.get("job_id") or None)
            for a in (items or []) if isinstance(a, dict)]


# ---- errors ---------------------------------------------------------------------------------

_EXCEPTION = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?([A-Z]\w*(?:Error|Exception)): (.+)$")


def error_line(status: int, body: str) -> str:
    """One line for an HTTP error from the dashboard: the innermost exception's message when
    the body is a traceback (Ray wraps the job agent's in a RuntimeError), else its text."""
    lines = [ln for ln in clean(body).splitlines() if ln.strip() and ln.strip() != "."]
    found = [m for m in map(_EXCEPTION.match, lines) if m]
    inner = [m for m in found if m.group(1) != "RuntimeError"] or found
    if inner:
        return one_line(f"{inner[-1].group(1)}: {inner[-1].group(2)}")
    return one_line(lines[-1] if lines else f"HTTP {status}") or f"HTTP {status}"


def is_duplicate(status: int, body: str) -> bool:
    """Ray's answer to a submission id it already has: HTTP 500 "... already exists"."""
    return status >= 400 and "already exists" in body


# ---- roost nodes <-> Ray nodes ---------------------------------------------------------------

def fleet_map(nodes: list[RayNode], hosts: Mapping[str, str]) -> dict[str, RayNode]:
    """Fleet node name -> its Ray node, by the roost.node label, else by address. A name seen
    twice (a restarted node leaves a DEAD entry) keeps the live, then the newest one."""
    by_host = {host: name for name, host in hosts.items()}
    out: dict[str, RayNode] = {}
    for node in nodes:
        name = node.roost_node if node.roost_node in hosts else by_host.get(node.ip)
        if name is None:
            continue
        old = out.get(name)
        if old is None or (node.alive, node.start_ms) > (old.alive, old.start_ms):
            out[name] = node
    return out
