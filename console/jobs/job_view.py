"""How `roost job ID` shows one job to a person and to a script: dates instead of epoch
floats, task counts by state, and a reason only while a task still waits.

Text: `submitted: 2026-06-01 14:30:05 (3 min ago)`, `tasks: 8 (5 COMPLETED, 3 CANCELLED)`.
JSON: times in ISO 8601 with the local offset, `states` counts by state, `state` one word for
the job (the first of RUNNING, SUSPENDED, PENDING that any task is in; else COMPLETED when every
task completed, else the worst end: NODE_FAIL, FAILED, TIMEOUT, CANCELLED), `reason` null unless
a task is PENDING.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any

ORDER = ("RUNNING", "SUSPENDED", "PENDING", "COMPLETED", "FAILED", "TIMEOUT", "NODE_FAIL",
         "CANCELLED")
WORST_END = ("NODE_FAIL", "FAILED", "TIMEOUT", "CANCELLED")
TIMES = ("submit", "start", "end", "begin")


def job_state(states: dict[str, int]) -> str:
    for live in ("RUNNING", "SUSPENDED", "PENDING"):
        if states.get(live):
            return live
    if set(states) <= {"COMPLETED"}:
        return "COMPLETED"
    return next((s for s in WORST_END if states.get(s)), "UNKNOWN")


def counts(states: dict[str, int]) -> str:
    """`8 (5 COMPLETED, 3 CANCELLED)`; one task is just `1 (COMPLETED)`."""
    total = sum(states.values())
    parts = [f"{states[s]} {s}" if total > 1 else s for s in ORDER if states.get(s)]
    return f"{total} ({', '.join(parts)})"


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def when(ts: float, now: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    return f"{stamp} ({ago(now - ts)})"


def ago(seconds: float) -> str:
    if seconds < 0:
        return "in the future"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def _reason(info: dict) -> str | None:
    return info["reason"] if info["states"].get("PENDING") else None


def facts(info: dict, now: float) -> list[tuple[str, Any]]:
    """The `key: value` lines before the task table; unset facts are left out."""
    mem = f"{info['mem_mb']} MB" if info.get("mem_mb") else None
    array = info.get("array")
    if array and info.get("array_limit"):
        array = f"{array}%{info['array_limit']}"
    rows: list[tuple[str, Any]] = [
        ("job", info["job_id"]), ("cluster", info.get("cluster")), ("name", info["name"]),
        ("user", info["user"]), ("submitted", when(info["submit"], now)),
        ("started", when(info["start"], now) if info.get("start") else None),
        ("ended", when(info["end"], now) if info.get("end") else None),
        ("state", job_state(info["states"])), ("tasks", counts(info["states"])),
        ("reason", _reason(info)), ("not before", when(info["begin"], now) if info.get("begin")
                                    else None),
        ("array", array), *_allocation(info), ("cpus per task", info["cpus_per_task"]),
        ("memory", mem), ("time limit", info["time_limit"]), ("work dir", info["work_dir"]),
        ("command", info.get("command")), ("dependency", info.get("dependency")),
        ("nodelist", info.get("nodelist")), ("exclude", info.get("exclude")),
        ("requeue", "yes" if info.get("requeue") else "no"),
        ("output", info.get("output")), ("error", info.get("error"))]
    return [(k, v) for k, v in rows if v not in (None, "")]


def _allocation(info: dict) -> list[tuple[str, Any]]:
    """What the job holds beyond one task, shown only when it asks for more."""
    nodes, tasks = info.get("num_nodes"), info.get("num_tasks")
    per_cpu = info.get("mem_per_cpu")
    return [("nodes", nodes if nodes not in (None, "1") else None),
            ("tasks per job", tasks if tasks not in (None, 1) else None),
            ("tasks per node", info.get("tasks_per_node")),
            ("memory per cpu", f"{per_cpu} MB" if per_cpu else None),
            ("exclusive", "yes" if info.get("exclusive") else None),
            ("nice", info.get("nice") or None), ("candidates", info.get("candidates"))]


def as_json(info: dict) -> dict:
    """The JSON document: ISO 8601 times, counts by state, the job's one-word state."""
    doc = {k: iso(v) if k in TIMES else v for k, v in info.items() if k != "tasks"}
    doc["state"], doc["reason"] = job_state(info["states"]), _reason(info)
    doc["tasks"] = [{k: iso(v) if k in ("start", "end") else v for k, v in t.items()}
                    for t in info["tasks"]]
    return doc
