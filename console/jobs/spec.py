"""Pure parsers for sbatch-like values: times, memory, arrays, dependencies, hostlists,
output patterns and --export. Text in, values out; bad input raises SpecError with one line
worded like sbatch's own messages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from console.hostlist import HostlistError, expand, fold

MAX_ARRAY_INDEX = 4_000_000   # Slurm's hard MaxArraySize ceiling
MAX_ARRAY_TASKS = 1_000_000   # more rows than that is a typo, not a workload


class SpecError(ValueError):
    """One line, shown to the user as-is (after the "roost submit: error: " prefix)."""


# --- time -----------------------------------------------------------------------------------

_UNLIMITED = {"unlimited", "infinite", "-1"}
_TIME_FORMS = [  # sbatch's accepted forms, in the order it documents them
    (re.compile(r"(\d+)"), ("m",)),
    (re.compile(r"(\d+):(\d+)"), ("m", "s")),
    (re.compile(r"(\d+):(\d+):(\d+)"), ("h", "m", "s")),
    (re.compile(r"(\d+)-(\d+)"), ("d", "h")),
    (re.compile(r"(\d+)-(\d+):(\d+)"), ("d", "h", "m")),
    (re.compile(r"(\d+)-(\d+):(\d+):(\d+)"), ("d", "h", "m", "s")),
]
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_time(text: str) -> int | None:
    """sbatch --time: seconds, or None for no limit ("0", "UNLIMITED", "INFINITE")."""
    value = text.strip()
    if value.lower() in _UNLIMITED:
        return None
    for pattern, units in _TIME_FORMS:
        match = pattern.fullmatch(value)
        if match:
            seconds = sum(int(g) * _UNIT_SECONDS[u] for g, u in zip(match.groups(), units))
            return seconds or None   # sbatch: a zero limit means no limit
    raise SpecError(f"Invalid time limit specification: {text!r}")


def format_time(seconds: float | None) -> str:
    """squeue's TIME column: [days-]hours:minutes:seconds, minutes:seconds under an hour."""
    if seconds is None:
        return "UNLIMITED"
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


# --- memory ---------------------------------------------------------------------------------

_MEM = re.compile(r"(\d+)([KMGT]?)B?", re.IGNORECASE)
_MEM_SHIFT = {"K": -10, "": 0, "M": 0, "G": 10, "T": 20}


def parse_mem(text: str) -> int:
    """sbatch --mem: megabytes (default unit M; K, G, T accepted). 0 means the whole node."""
    match = _MEM.fullmatch(text.strip())
    if not match:
        raise SpecError(f"Invalid --mem specification: {text!r}")
    number, unit = int(match.group(1)), match.group(2).upper()
    shift = _MEM_SHIFT[unit]
    mb = number << shift if shift >= 0 else -(-number >> -shift)  # K rounds up to whole MB
    return mb


# --- arrays ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ArraySpec:
    indices: tuple[int, ...]    # sorted, unique
    limit: int | None = None    # %N: at most N tasks running at once


_ARRAY_PART = re.compile(r"(\d+)(?:-(\d+)(?::(\d+))?)?")


def _array_part(part: str, text: str) -> range:
    match = _ARRAY_PART.fullmatch(part)
    if not match:
        raise SpecError(f"Invalid job array specification: {text!r}")
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) is not None else start
    step = int(match.group(3)) if match.group(3) is not None else 1
    if end < start or step < 1 or end > MAX_ARRAY_INDEX:
        raise SpecError(f"Invalid job array specification: {text!r}")
    return range(start, end + 1, step)


def parse_array(text: str) -> ArraySpec:
    """sbatch --array: "1-10", "0-15:4", "1,3,5-7", any of those with "%N" at the end."""
    body, _, limit_text = text.strip().partition("%")
    limit = None
    if limit_text:
        if not limit_text.isdigit() or int(limit_text) < 1:
            raise SpecError(f"Invalid job array specification: {text!r}")
        limit = int(limit_text)
    ranges = [_array_part(p, text) for p in body.split(",")]
    if sum(len(r) for r in ranges) > MAX_ARRAY_TASKS:
        raise SpecError(f"Job array too large: {text!r} (at most {MAX_ARRAY_TASKS} tasks)")
    indices = sorted(set().union(*ranges)) if len(ranges) > 1 else list(ranges[0])
    return ArraySpec(tuple(indices), limit)


def format_indices(indices: tuple[int, ...] | list[int]) -> str:
    """Compact form squeue uses: [1-3,7,9-10]; input must be sorted."""
    parts, i = [], 0
    while i < len(indices):
        j = i
        while j + 1 < len(indices) and indices[j + 1] == indices[j] + 1:
            j += 1
        parts.append(str(indices[i]) if i == j else f"{indices[i]}-{indices[j]}")
        i = j + 1
    return ",".join(parts)


# --- dependencies ---------------------------------------------------------------------------

DEPENDENCY_KINDS = ("after", "afterany", "afterok", "afternotok")


@dataclass(frozen=True, slots=True)
class Dependency:
    kind: str                 # one of DEPENDENCY_KINDS
    job: int
    task: int | None = None   # array index for "123_4"; None means every task of the job


@dataclass(frozen=True, slots=True)
class Dependencies:
    items: tuple[Dependency, ...] = ()
    any_of: bool = False      # "?" separator: one satisfied dependency is enough


_DEP_ID = re.compile(r"(\d+)(?:_(\d+))?")


def _dependency_group(group: str, text: str) -> list[Dependency]:
    kind, _, ids = group.partition(":")
    if kind not in DEPENDENCY_KINDS:
        raise SpecError(f"Invalid dependency specification: {text!r} "
                        f"(supported: {', '.join(DEPENDENCY_KINDS)})")
    out = []
    for job_id in ids.split(":") if ids else []:
        match = _DEP_ID.fullmatch(job_id.split("+", 1)[0])  # "+time" delay is ignored
        if not match:
            raise SpecError(f"Invalid dependency specification: {text!r}")
        task = int(match.group(2)) if match.group(2) is not None else None
        out.append(Dependency(kind, int(match.group(1)), task))
    if not out:
        raise SpecError(f"Invalid dependency specification: {text!r}")
    return out


def parse_dependency(text: str) -> Dependencies:
    """sbatch --dependency: "afterok:12:13,afterany:14_2"; "?" between groups means any-of."""
    value = text.strip()
    if "," in value and "?" in value:
        raise SpecError(f"Invalid dependency specification: {text!r} (mixes ',' and '?')")
    any_of = "?" in value
    groups = value.split("?" if any_of else ",")
    items = [d for g in groups for d in _dependency_group(g, text)]
    return Dependencies(tuple(items), any_of and len(items) > 1)  # one item: same either way


def format_dependency(deps: Dependencies) -> str:
    def one(d: Dependency) -> str:
        return f"{d.kind}:{d.job}" + ("" if d.task is None else f"_{d.task}")
    return ("?" if deps.any_of else ",").join(one(d) for d in deps.items)


# --- hostlists ------------------------------------------------------------------------------

def parse_hostlist(text: str) -> tuple[str, ...]:
    """Slurm/ClusterShell hostlist ("n[1-4,7],ctl") -> sorted unique names."""
    if not text.strip():
        raise SpecError("Invalid hostlist: empty")
    try:
        return tuple(expand(text.strip()))
    except HostlistError as exc:  # bad syntax, or more names than max_hostlist
        raise SpecError(f"Invalid hostlist: {exc}") from None


def format_hostlist(names) -> str:
    return fold(names)


# --- output patterns ------------------------------------------------------------------------

_PATTERN = re.compile(r"%(\d*)([%AajJNnstux])")


@dataclass(frozen=True, slots=True)
class PatternValues:
    job_id: int          # %j: this task's own job id
    array_job_id: int    # %A
    array_index: int | None
    name: str            # %x
    node: str            # %N
    user: str            # %u


def expand_pattern(pattern: str, v: PatternValues) -> str:
    """sbatch filename patterns: %j %J %A %a %x %N %n %s %t %u %%, with zero-pad widths (%4a).

    %a outside an array is "4294967294" in Slurm; roost writes 0 for that too few users care.
    """
    table = {"A": v.array_job_id, "a": 0 if v.array_index is None else v.array_index,
             "j": v.job_id, "J": v.job_id, "x": v.name, "N": v.node, "n": 0, "s": "batch",
             "t": 0, "u": v.user}

    def one(match: re.Match) -> str:
        width, code = match.groups()
        if code == "%":
            return "%"
        value = table[code]
        if width and isinstance(value, int):
            return str(value).zfill(int(width))
        return str(value)
    return _PATTERN.sub(one, pattern)


# --- export ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Export:
    clean: bool = False                  # NONE: start from an empty environment
    values: tuple[tuple[str, str], ...] = ()


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_export(text: str, submit_env: Mapping[str, str]) -> Export:
    """--export=ALL|NONE|[ALL,]NAME[=value],...: a bare NAME takes its value from submit_env.

    The task's base environment is the node's login environment (ALL, default) or empty (NONE).
    """
    items = [i for i in text.split(",") if i]
    clean = bool(items) and items[0].upper() == "NONE"
    if items and items[0].upper() in ("ALL", "NONE"):
        items = items[1:]
    values = []
    for item in items:
        name, eq, value = item.partition("=")
        if not _NAME.fullmatch(name):
            raise SpecError(f"Invalid --export specification: {text!r}")
        if not eq:
            if name not in submit_env:
                continue   # sbatch silently skips unset names too
            value = submit_env[name]
        values.append((name, value))
    return Export(clean, tuple(values))
