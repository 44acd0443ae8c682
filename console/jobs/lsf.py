"""LSF/OpenLava's bsub options and #BSUB directives -> the sbatch-like values roost builds a
JobSpec from (console.jobs.directives). Pure: text in, an argparse.Namespace of sbatch option
values out; bad input raises SpecError with one line naming the flag.

    -J 'name[1-100:2]%5'   array (slot limit %5)    -n N            tasks (slots)
    -o / -oo FILE          output, appended / overwritten (%J job, %I index)
    -e / -eo FILE          error, appended / overwritten
    -W [HH:]MM             run limit                -w 'done(12) && ended(13)'  dependencies
    -M MEM                 memory (MB; K/M/G)       -R 'rusage[mem=N] span[ptile=N|hosts=1]'
    -m 'h1 h2'             run on one of these      -x              exclusive hosts
    -b [[MM:]DD:]HH:MM     begin time               -cwd DIR        working directory
    -env 'all, A=1'        environment              -r / -rn        rerunnable or not
    -sp N                  user priority (higher runs first)        -K  wait for the job
Queues, projects, groups, mail and pre/post-execution commands have no meaning on roost's queue:
each is named in a warning.
"""
from __future__ import annotations

import argparse
import datetime
import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from console.jobs.spec import SpecError, format_indices, name_array, parse_hostlist


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise SpecError(message)


# (flags, dest, help); every value is text, converted by _convert
BSUB_OPTIONS: list[tuple[tuple[str, ...], str, str]] = [
    (("-J",), "J", "job name; 'name[1-100]%%N' is an array"),
    (("-o",), "o", "output file, appended (%%J job id, %%I array index)"),
    (("-oo",), "oo", "output file, overwritten"),
    (("-e",), "e", "error file, appended"),
    (("-eo",), "eo", "error file, overwritten"),
    (("-n",), "n", "number of tasks (slots)"),
    (("-W",), "W", "run limit, [hours:]minutes"),
    (("-w",), "w", "dependency: done(ID), ended(ID), exit(ID), started(ID) joined by && or ||"),
    (("-M",), "M", "memory limit (MB, or with K/M/G)"),
    (("-R",), "R", "resources: rusage[mem=MB], span[ptile=N], span[hosts=1]"),
    (("-m",), "m", "hosts the job may run on (any one of them)"),
    (("-b",), "b", "begin time, [[[YYYY:]MM:]DD:]hh:mm"),
    (("-cwd",), "cwd", "working directory"),
    (("-env",), "env", "environment: all | none | 'all, NAME=value, ...'"),
    (("-sp",), "sp", "user priority (higher runs first)"),
]
FLAGS = [(("-x",), "x", "exclusive: whole hosts"), (("-r",), "r", "rerunnable (requeued)"),
         (("-rn",), "rn", "not rerunnable"), (("-K",), "K", "wait for the job; its exit code")]
IGNORED = {"-q": "the built-in queue has no LSF queues", "-P": "no projects",
           "-G": "no user groups", "-g": "no job groups", "-u": "roost sends no mail",
           "-E": "no pre-execution commands", "-Ep": "no post-execution commands",
           "-L": "tasks run under the node's login shell environment", "-app": "no profiles"}
IGNORED_FLAGS = {"-N": "roost sends no mail", "-B": "roost sends no mail"}


def add_bsub_options(parser: argparse.ArgumentParser) -> None:
    for flags, dest, text in BSUB_OPTIONS:
        parser.add_argument(*flags, dest=f"bsub_{dest}", default=None, help=text)
    for flags, dest, text in FLAGS:
        parser.add_argument(*flags, dest=f"bsub_{dest}", action="store_true", help=text)
    for flag, why in IGNORED.items():
        parser.add_argument(flag, dest=f"bsub_ignored{flag}", default=None, help=f"ignored: {why}")
    for flag, why in IGNORED_FLAGS.items():
        parser.add_argument(flag, dest=f"bsub_ignored{flag}", action="store_const", const="",
                            help=f"ignored: {why}")


def bsub_parser(prog: str = "#BSUB") -> _Parser:
    parser = _Parser(prog=prog, add_help=False, allow_abbrev=False)
    add_bsub_options(parser)
    return parser


def bsub_directive(words: Sequence[str], at: str) -> argparse.Namespace:
    """One #BSUB line's values, as sbatch option values; `at` (FILE:LINE) prefixes errors."""
    try:
        ns, unknown = bsub_parser().parse_known_args(list(words))
        if unknown:
            raise SpecError(f"unknown #BSUB option {' '.join(unknown)}")
        values, _warnings = convert(ns)
    except SpecError as exc:
        raise SpecError(f"{at}: {exc}") from None
    return values


def convert(ns: argparse.Namespace) -> tuple[argparse.Namespace, list[str]]:
    """bsub option values (dest bsub_X) -> (sbatch option values, warnings)."""
    def get(key: str) -> Any:     # argparse's value: str, True for a flag, or None
        return getattr(ns, f"bsub_{key}", None)
    out = argparse.Namespace(lsf=True)
    if get("J"):
        out.job_name = get("J")
        named = name_array(get("J"), strict=True)
        if named is not None:     # LSF's own array syntax: the name and the indices
            out.job_name, spec = named
            out.array = format_indices(list(spec.indices)) + \
                (f"%{spec.limit}" if spec.limit else "")
    _outputs(get, out)
    for key, dest, conv in _SIMPLE:
        if get(key):
            setattr(out, dest, conv(get(key)))
    if get("R"):
        _resources(get("R"), out)
    if get("x"):
        out.exclusive = "exclusive"
    if get("r") or get("rn"):
        out.requeue = bool(get("r"))
    warnings = [f"ignoring {flag} ({why})" for flag, why in {**IGNORED, **IGNORED_FLAGS}.items()
                if getattr(ns, f"bsub_ignored{flag}", None) is not None]
    return out, warnings


def _outputs(get: Callable[[str], Any], out: argparse.Namespace) -> None:
    """-o/-e append (LSF), -oo/-eo overwrite; %J and %I become Slurm's %A and %a."""
    for key, dest in (("oo", "output"), ("o", "output"), ("eo", "error"), ("e", "error")):
        if get(key) and getattr(out, dest, None) is None:
            setattr(out, dest, lsf_pattern(get(key)))
            if dest == "output":
                out.open_mode = "truncate" if key == "oo" else "append"


def lsf_pattern(pattern: str) -> str:
    """LSF's %J (job id) and %I (array index) in Slurm's spelling (%A, %a); %% stays."""
    return re.sub(r"%(%|J|I)", lambda m: {"%": "%%", "J": "%A", "I": "%a"}[m.group(1)], pattern)


def run_limit(text: str) -> str:
    """-W [hour:]minute -> minutes, as sbatch's --time reads a bare number."""
    match = re.fullmatch(r"(?:(\d+):)?(\d+)(?:/\S+)?", text.strip())
    if not match:
        raise SpecError(f"-W {text}: expected [hours:]minutes")
    return str(int(match.group(1) or 0) * 60 + int(match.group(2)))


def memory(text: str) -> str:
    """-M: MB unless a unit is given (LSF_UNIT_FOR_LIMITS=MB, the common setting)."""
    match = re.fullmatch(r"(\d+)\s*([KMGT]?)B?", text.strip(), re.I)
    if not match:
        raise SpecError(f"-M {text}: expected a memory size (MB, or with K/M/G)")
    return f"{match.group(1)}{match.group(2).upper() or 'M'}"


_DEP = re.compile(r"\s*(done|ended|exit|started|post_done|post_err)\(\s*([^)\s]+)\s*\)\s*")
_DEP_KINDS = {"done": "afterok", "post_done": "afterok", "ended": "afterany",
              "post_err": "afternotok", "exit": "afternotok", "started": "after"}


def dependency(text: str) -> str:
    """-w 'done(12) && ended(13)' -> 'afterok:12,afterany:13'; || joins with '?'. A job array
    element is ID[INDEX]; a name in quotes or bare is looked up at submit (name:NAME)."""
    value = text.strip()
    if "&&" in value and "||" in value:
        raise SpecError(f"-w {text}: roost takes either && or || between conditions, not both")
    sep = "||" if "||" in value else "&&"
    parts = []
    for cond in value.split(sep):
        match = _DEP.fullmatch(cond)
        if not match:
            raise SpecError(f"-w {text}: expected done(ID), ended(ID), exit(ID) or started(ID)")
        parts.append(f"{_DEP_KINDS[match.group(1)]}:{_dep_target(match.group(2), text)}")
    return ("?" if sep == "||" else ",").join(parts)


def _dep_target(target: str, text: str) -> str:
    target = target.strip("\"'")
    element = re.fullmatch(r"(\d+)\[(\d+)\]", target)
    if element:
        return f"{element.group(1)}_{element.group(2)}"
    if target.isdigit():
        return target
    if re.fullmatch(r"[A-Za-z0-9_.\-]+", target):
        return f"name={target}"
    raise SpecError(f"-w {text}: cannot read the job {target!r}")


def begin(text: str, now: float | None = None) -> str:
    """-b [[[YYYY:]MM:]DD:]hh:mm -> an sbatch --begin time (YYYY-MM-DDTHH:MM, or HH:MM)."""
    parts = text.strip().split(":")
    if not 2 <= len(parts) <= 5 or not all(p.isdigit() for p in parts):
        raise SpecError(f"-b {text}: expected [[[YYYY:]MM:]DD:]hh:mm")
    hour, minute = int(parts[-2]), int(parts[-1])
    if len(parts) == 2:
        return f"{hour:02d}:{minute:02d}"
    today = datetime.date.today()
    day = int(parts[-3])
    month = int(parts[-4]) if len(parts) >= 4 else today.month
    year = int(parts[-5]) if len(parts) == 5 else today.year
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"


def env(text: str) -> str:
    """-env 'all, A=1' / 'none' / 'A, B=2' -> sbatch's --export spelling."""
    items = [i.strip() for i in text.split(",") if i.strip()]
    if items and items[0].lower() in ("all", "none"):
        items[0] = items[0].upper()
    return ",".join(items)


def priority(text: str) -> str:
    """-sp N (higher runs first) -> a nice value (lower runs first)."""
    if not text.strip().isdigit():
        raise SpecError(f"-sp {text}: expected a positive number")
    return str(-int(text))


def hosts(text: str) -> str:
    names = text.replace(",", " ").split()
    return ",".join(parse_hostlist(" ".join(names).replace(" ", ",")))


_SIMPLE: list[tuple[str, str, Callable[[str], str]]] = [
    ("n", "ntasks", str), ("W", "time", run_limit), ("w", "dependency", dependency),
    ("M", "mem", memory), ("m", "candidates", hosts), ("b", "begin", begin),
    ("cwd", "chdir", str), ("env", "export", env), ("sp", "nice", priority)]


def _resources(text: str, out: argparse.Namespace) -> None:
    """The parts of -R roost can honour: rusage[mem=N], span[ptile=N], span[hosts=1]."""
    mem = re.search(r"rusage\[[^\]]*mem=(\d+)", text)
    if mem:
        out.mem = f"{mem.group(1)}M"
    ptile = re.search(r"span\[[^\]]*ptile=(\d+)", text)
    if ptile:
        out.tasks_per_node = ptile.group(1)
    if re.search(r"span\[[^\]]*hosts=1\b", text):
        out.nodes = "1"
