"""Pure parsers for sbatch-like values: times, memory, arrays, dependencies, hostlists,
output patterns and --export. Text in, values out; bad input raises SpecError with one line
worded like sbatch's own messages.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from console.errors import RoostError
from console.hostlist import HostlistError, expand, fold

MAX_ARRAY_INDEX = 4_000_000   # Slurm's hard MaxArraySize ceiling
MAX_ARRAY_TASKS = 1_000_000   # more rows than that is a typo, not a workload


class SpecError(RoostError, ValueError):
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


_EXACT_SECONDS = re.compile(r"(\d+)s")


def parse_time(text: str) -> int | None:
    """sbatch --time: seconds, or None for no limit ("0", "UNLIMITED", "INFINITE").

    As Slurm, a limit with seconds is rounded up to whole minutes ("0:30" is one minute).
    roost also takes "30s", an exact number of seconds sbatch has no form for."""
    value = text.strip()
    if value.lower() in _UNLIMITED:
        return None
    exact = _EXACT_SECONDS.fullmatch(value)
    if exact:
        return int(exact.group(1)) or None
    for pattern, units in _TIME_FORMS:
        match = pattern.fullmatch(value)
        if match:
            seconds = sum(int(g) * _UNIT_SECONDS[u] for g, u in zip(match.groups(), units))
            return -(-seconds // 60) * 60 or None   # sbatch: a zero limit means no limit
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


# --- begin (deferred start) ------------------------------------------------------------------

_NOW_PLUS = re.compile(r"now(?:\+(\d+)(seconds|minutes|hours|days|weeks)?)?", re.I)
_PLUS_UNITS = {None: 1, "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400,
               "weeks": 7 * 86400}
_NAMED_HOURS = {"midnight": 0, "noon": 12, "elevenses": 11, "fika": 15, "teatime": 16}
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_US_DATE = re.compile(r"(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2}))?")


def parse_begin(text: str, now: float) -> float:
    """sbatch --begin: an epoch time. now[+N[seconds|minutes|hours|days|weeks]], HH:MM[:SS]
    [AM|PM] (today, or tomorrow once passed), YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], midnight,
    noon, elevenses, fika, teatime, today, tomorrow (local time, as Slurm reads them)."""
    value = text.strip()
    for form in (_begin_relative, _begin_named, _begin_clock, _begin_date):
        when = form(value, now)
        if when is not None:
            return when
    raise SpecError(f"Invalid time specification {text!r} (--begin)")


def _begin_relative(value: str, now: float) -> float | None:
    match = _NOW_PLUS.fullmatch(value)
    if not match:
        return None
    unit = match.group(2).lower() if match.group(2) else None
    return now + int(match.group(1) or 0) * _PLUS_UNITS[unit]


def _day_start(now: float, days: int = 0) -> datetime.datetime:
    today = datetime.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0,
                                                         microsecond=0)
    return today + datetime.timedelta(days=days)


def _next_at(now: float, hour: int, minute: int = 0, second: int = 0) -> float:
    at = _day_start(now).replace(hour=hour, minute=minute, second=second).timestamp()
    return at if at > now else _day_start(now, 1).replace(
        hour=hour, minute=minute, second=second).timestamp()


def _begin_named(value: str, now: float) -> float | None:
    word = value.lower()
    if word in _NAMED_HOURS:
        return _next_at(now, _NAMED_HOURS[word])
    if word in ("today", "tomorrow"):
        return _day_start(now, 0 if word == "today" else 1).timestamp()
    return None


def _begin_clock(value: str, now: float) -> float | None:
    match = _CLOCK.fullmatch(value)
    if not match:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    half = (match.group(4) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise SpecError(f"Invalid time specification {value!r} (--begin)")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise SpecError(f"Invalid time specification {value!r} (--begin)")
    return _next_at(now, hour, minute, second)


def _begin_date(value: str, now: float) -> float | None:
    match = _DATE.fullmatch(value)
    try:
        if match:
            year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
            return datetime.datetime(year, month, day, hour, minute, second).timestamp()
        match = _US_DATE.fullmatch(value)
        if match:
            month, day = int(match.group(1)), int(match.group(2))
            year = 2000 + int(match.group(3)) if match.group(3) else \
                datetime.datetime.fromtimestamp(now).year
            return datetime.datetime(year, month, day).timestamp()
    except ValueError:
        raise SpecError(f"Invalid time specification {value!r} (--begin)") from None
    return None


# --- nodes ----------------------------------------------------------------------------------

_NODES = re.compile(r"(\d+)(?:-(\d+))?")


def parse_nodes(text: str) -> tuple[int, int | None]:
    """sbatch -N/--nodes: "2" or "2-4" -> (minimum, maximum or None)."""
    match = _NODES.fullmatch(text.strip())
    if not match or int(match.group(1)) < 1:
        raise SpecError(f"Invalid node count specification: {text!r}")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else None
    if high is not None and high < low:
        raise SpecError(f"Invalid node count specification: {text!r}")
    return low, high


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


# LSF's array syntax in a job name: name[1-100], name[1-100:2], name[1,5-9]%4
_LSF_ARRAY = re.compile(r"(?P<name>[^\[\]]*)\[(?P<spec>[0-9][0-9,:\-]*)\](?:%(?P<limit>\d+))?")


def name_array(name: str, *, strict: bool = False) -> tuple[str, ArraySpec] | None:
    """("primes", the array) for an LSF array name "primes[2-100]%5", else None. strict (bsub,
    where that syntax always means an array): a bad array there is an error, not a name."""
    match = _LSF_ARRAY.fullmatch(name)
    if not match:
        return None
    spec = match.group("spec") + (f"%{match.group('limit')}" if match.group("limit") else "")
    try:
        return match.group("name"), parse_array(spec)
    except SpecError as exc:
        if strict:
            raise SpecError(f"-J {name!r}: {exc}") from None
        return None


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

DEPENDENCY_KINDS = ("after", "afterany", "afterok", "afternotok", "singleton")


@dataclass(frozen=True, slots=True)
class Dependency:
    kind: str                 # one of DEPENDENCY_KINDS
    job: int
    task: int | None = None   # array index for "123_4"; None means every task of the job
    name: str | None = None   # LSF's done(NAME): the newest job of that name, found at submit


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
    if kind == "singleton":   # after every earlier job of this name and user has ended
        if ids:
            raise SpecError(f"Invalid dependency specification: {text!r}")
        return [Dependency("singleton", 0)]
    out = []
    for job_id in ids.split(":") if ids else []:
        if job_id.startswith("name=") and len(job_id) > 5:
            out.append(Dependency(kind, 0, None, job_id[5:]))
            continue
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
        if d.kind == "singleton":
            return "singleton"
        if d.name is not None and not d.job:
            return f"{d.kind}:name={d.name}"
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


def format_hostlist(names: Iterable[str]) -> str:
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

    def one(match: re.Match[str]) -> str:
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
    values: tuple[tuple[str, str], ...] = ()   # NAME=value the user listed
    all: bool = False                    # ALL (sbatch's default): pass the submitting env
    inherited: tuple[tuple[str, str], ...] = ()   # that environment (see passed_env)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What names the console's own session, user or host stays the node's (its login sets them):
# a console user is often not the node's login user, and roost's and Slurm's own variables are
# set for each task.
_SESSION_NAMES = frozenset({
    "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "SHLVL", "_", "HOSTNAME", "MAIL",
    "DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "TMUX",
    "TMUX_PANE", "STY", "WINDOWID", "KRB5CCNAME"})
_SESSION_PREFIXES = ("SSH_", "XDG_SESSION_", "SLURM_", "SLURMD_", "LSB_", "ROOST_")


def passed_env(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The submitting environment as --export=ALL passes it on (see _SESSION_NAMES)."""
    return tuple((k, v) for k, v in sorted(env.items())
                 if _NAME.fullmatch(k) and k not in _SESSION_NAMES
                 and not k.startswith(_SESSION_PREFIXES) and "\0" not in v)


def parse_export(text: str, submit_env: Mapping[str, str]) -> Export:
    """--export=ALL|NONE|[ALL,]NAME[=value],...: a bare NAME takes its value from submit_env.

    ALL (sbatch's default) passes the submitting environment (see passed_env) over the node's
    login environment; NAME,... alone passes only those over it (as sbatch, whose job then
    loads the user's login environment); NONE starts from an almost empty one.
    """
    items = [i for i in text.split(",") if i]
    clean = bool(items) and items[0].upper() == "NONE"
    everything = bool(items) and items[0].upper() == "ALL"
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
    return Export(clean, tuple(values), everything,
                  passed_env(submit_env) if everything else ())


# --- job ids and signals (cancel, bkill, run --job) --------------------------------------

_TARGET = re.compile(r"(\d+)(?:_(\d+|\[[^\]]+\]))?")


def parse_target(text: str) -> tuple[int, list[int] | None]:
    """"12" -> (12, None); "12_3" -> (12, [3]); "12_[1-3,7]" -> (12, [1, 2, 3, 7])."""
    match = _TARGET.fullmatch(text.strip())
    if not match:
        raise SpecError(f"Invalid job id specified: {text}")
    part = match.group(2)
    if part is None:
        return int(match.group(1)), None
    indices = parse_array(part.strip("[]")).indices
    return int(match.group(1)), list(indices)


def signal_name(text: str) -> str:
    """USR1, SIGUSR1, usr1 or 10 -> "USR1" (what `kill -USR1` takes)."""
    import signal  # here: a short command (bsub) should not pay for it at start-up
    value = text.strip().upper()
    try:
        sig = signal.Signals(int(value)) if value.isdigit() else \
            signal.Signals[value if value.startswith("SIG") else "SIG" + value]
    except (KeyError, ValueError):
        raise SpecError(f"Invalid signal specified: {text}") from None
    return sig.name[3:]
