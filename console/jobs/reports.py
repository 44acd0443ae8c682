"""squeue's --format and sacct's --format over row dicts, and sacct's rows from the store.
Pure but for the store reads in acct_rows: rows in, text out.

squeue -o "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R": a code per field, "%N" pads to N columns
(left-aligned), "%.N" right-aligns; a longer value is cut to N, as squeue cuts it.
sacct --format=JobID,JobName%30,State: field names in any case, "%N" sets a column's width.
"""
from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from console.jobs.model import JobSpec, State, Task
from console.jobs.spec import SpecError, format_hostlist, format_time
from console.jobs.store import JobRow, Store

# squeue format codes -> (header, key of a queue row)
SQUEUE_CODES: dict[str, tuple[str, str]] = {
    "i": ("JOBID", "job_id"), "A": ("ARRAY_JOB_ID", "array_job_id"),
    "K": ("ARRAY_TASK_ID", "array_task_id"), "j": ("NAME", "name"), "u": ("USER", "user"),
    "t": ("ST", "st"), "T": ("STATE", "state"), "M": ("TIME", "time"),
    "l": ("TIME_LIMIT", "time_limit"), "L": ("TIME_LEFT", "time_left"), "D": ("NODES", "nodes"),
    "C": ("CPUS", "cpus"), "R": ("NODELIST(REASON)", "nodelist"), "N": ("NODELIST", "nodes_list"),
    "r": ("REASON", "reason"), "P": ("PARTITION", "partition"), "V": ("SUBMIT_TIME", "submit"),
    "S": ("START_TIME", "start"), "y": ("NICE", "nice"), "Z": ("WORK_DIR", "work_dir"),
    "o": ("COMMAND", "command"), "e": ("END_TIME", "end"),
}
Part = str | tuple[bool, int, str, str]    # literal text, or (right, width, header, key)
Cell = Callable[[str, str], object]        # (key, header) -> the cell's value
AcctRow = dict[str, object]                # sacct's fields, and JSON's extra keys
_CODE = re.compile(r"%(\.?)(\d*)(.)")


def squeue_format(fmt: str, rows: Sequence[Mapping[str, object]],
                  header: bool = True) -> list[str]:
    """Lines of squeue -o FMT output (the header first unless header is False)."""
    parts = _parse_format(fmt)
    lines = [_line(parts, lambda key, title: title)] if header else []
    lines += [_line(parts, _cell_of(r)) for r in rows]
    return lines


def _cell_of(row: Mapping[str, object]) -> Cell:
    return lambda key, title: row.get(key, "")


def _parse_format(fmt: str) -> list[Part]:
    """[literal text | (right, width, header, key)] for an squeue format string."""
    out: list[Part] = []
    pos = 0
    for match in _CODE.finditer(fmt):
        out.append(fmt[pos:match.start()])
        right, width, code = match.groups()
        if code == "%":
            out.append("%")
        elif code not in SQUEUE_CODES:
            raise SpecError(f"--format: unknown field %{code} "
                            f"(known: {''.join(sorted(SQUEUE_CODES))})")
        else:
            out.append((bool(right), int(width) if width else 0, *SQUEUE_CODES[code]))
        pos = match.end()
    out.append(fmt[pos:])
    return [p for p in out if p != ""]


def _line(parts: list[Part], value: Cell) -> str:
    text = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
            continue
        right, width, title, key = part
        cell = "" if value(key, title) is None else str(value(key, title))
        if width:
            cell = cell[:width]
            cell = cell.rjust(width) if right else cell.ljust(width)
        text.append(cell)
    return "".join(text).rstrip()


# --- sacct ----------------------------------------------------------------------------------

ACCT_FIELDS = ("JobID", "JobName", "User", "State", "ExitCode", "Elapsed", "NNodes",
               "NodeList", "Submit", "Start", "End", "Timelimit", "AllocCPUS", "WorkDir",
               "Reason")
ACCT_DEFAULT = "JobID,JobName,State,ExitCode,Elapsed,NodeList,Submit,Start,End"
_KILLED = (State.CANCELLED, State.TIMEOUT, State.OUT_OF_MEMORY)


def exit_code(task: Task) -> tuple[int, int]:
    """sacct's ExitCode as (exit status, signal): a shell's 128+N is signal N; a task KILLed
    (no exit code of its own) shows signal 9."""
    code = task.exit_code
    if code is None:
        return (0, 9) if task.state in _KILLED else (0, 0)
    if 128 < code <= 128 + 64:
        return 0, code - 128
    return code, 0


def iso(when: float | None) -> str:
    if when is None:
        return "Unknown"
    return datetime.datetime.fromtimestamp(when).strftime("%Y-%m-%dT%H:%M:%S")


def elapsed(seconds: float) -> str:
    """sacct's Elapsed: [DD-]HH:MM:SS."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def acct_row(row: JobRow, task: Task, now: float) -> AcctRow:
    code, sig = exit_code(task)
    nodes = task.nodes
    spec = row.spec
    return {"JobID": task.label, "JobName": row.name, "User": row.user,
            "State": task.state.value, "ExitCode": f"{code}:{sig}", "exit_code": code,
            "signal": sig, "Elapsed": elapsed(task.elapsed(now)), "NNodes": len(nodes) or
            spec.node_count, "NodeList": format_hostlist(nodes) or "None assigned",
            "Submit": iso(row.submit), "Start": iso(task.start), "End": iso(task.end),
            "Timelimit": format_time(spec.time_limit), "AllocCPUS": _cpus(spec, task),
            "WorkDir": spec.work_dir, "Reason": task.reason or "None",
            "task_job_id": task.task_job_id, "submit_time": row.submit,
            "start_time": task.start, "end_time": task.end}


def _cpus(spec: JobSpec, task: Task) -> int:
    if task.alloc:
        return sum(spec.cpus * n for _, n in task.alloc)
    return spec.cpus * spec.total_tasks


def acct_rows(store: Store, since: float, until: float, job_ids: Sequence[int] | None = None,
              states: Iterable[State] = (), users: Iterable[str] = (),
              now: float | None = None) -> list[AcctRow]:
    """sacct's rows: every task in the window (a job's tasks in order)."""
    now = time.time() if now is None else now
    wanted, who = set(states), set(users)
    return [acct_row(row, task, now) for row, task in store.accounting(since, until, job_ids)
            if (not wanted or task.state in wanted) and (not who or row.user in who)]


def acct_columns(fmt: str) -> list[tuple[str, int]]:
    """--format=JobID,JobName%30 -> [(field, width)]; the default widths fit the field."""
    out = []
    for item in (i.strip() for i in fmt.split(",") if i.strip()):
        name, _, width = item.partition("%")
        field = next((f for f in ACCT_FIELDS if f.lower() == name.lower()), None)
        if field is None:
            raise SpecError(f"--format: unknown field {name!r} (known: {', '.join(ACCT_FIELDS)})")
        if width and not width.isdigit():
            raise SpecError(f"--format: bad width in {item!r}")
        out.append((field, int(width) if width else 0))
    return out


def acct_lines(rows: Sequence[Mapping[str, object]], columns: list[tuple[str, int]], *, header: bool = True,
               parsable: str | None = None) -> list[str]:
    """sacct's table (columns padded; a width cuts, as sacct's does), or with parsable "|"
    separated fields ("|" after the last too for --parsable, not for --parsable2)."""
    table = ([[name for name, _ in columns]] if header else []) + \
        [[str(r.get(name, "")) for name, _ in columns] for r in rows]
    if parsable is not None:
        return ["|".join(cells) + parsable for cells in table]
    widths = [w or max([len(name)] + [len(str(r.get(name, ""))) for r in rows])
              for name, w in columns]
    lines = []
    for i, cells in enumerate(table):
        lines.append(" ".join(c[:w].ljust(w) for c, w in zip(cells, widths)).rstrip())
        if header and i == 0:
            lines.append(" ".join("-" * w for w in widths))
    return lines


_AGO = re.compile(r"now(?:([+-])(\d+)(seconds|minutes|hours|days|weeks)?)?", re.I)
_UNITS = {None: 1, "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


def parse_when(text: str, now: float) -> float:
    """sacct's -S/-E times: now[{+|-}N[seconds|minutes|hours|days|weeks]], YYYY-MM-DD[THH:MM
    [:SS]], MM/DD[/YY], HH:MM[:SS] (today), midnight, noon, today, yesterday, tomorrow."""
    from console.jobs.spec import parse_begin
    value = text.strip()
    match = _AGO.fullmatch(value)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        unit = match.group(3).lower() if match.group(3) else None
        return now + sign * int(match.group(2) or 0) * _UNITS[unit]
    day = datetime.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if value.lower() in ("midnight", "today", "yesterday"):
        return (day - datetime.timedelta(days=value.lower() == "yesterday")).timestamp()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", value)
    if clock:
        h, m, s = (int(g or 0) for g in clock.groups())
        return day.replace(hour=h, minute=m, second=s).timestamp()
    try:
        return parse_begin(value, now)
    except SpecError:
        raise SpecError(f"Invalid time specification {text!r}") from None


def state_names(text: str) -> set[State]:
    """-t/-s STATE[,STATE]: long names or squeue's codes, any case ("all": every state)."""
    out = set()
    for item in (i.strip().upper() for i in text.split(",") if i.strip()):
        if item == "ALL":
            return set(State)
        found = next((s for s in State if item in (s.value, s.code)), None)
        if found is None:
            raise SpecError(f"Invalid job state specified: {item}")
        out.add(found)
    return out
