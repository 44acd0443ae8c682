"""sbatch-like options from the command line and from a script's #SBATCH (and #BSUB) lines ->
JobSpec.

Like sbatch: #SBATCH lines count only when they start the line, and only before the first
command of the script (blank lines and comments do not end the block); command-line flags
override them; a script with DOS line ends is refused. Where roost differs on purpose it says so
in a warning naming FILE:LINE or the flag: an unknown directive is a warning (sbatch refuses
it), an indented #SBATCH is ignored (as sbatch) with a warning, LSF's `-J 'name[1-10]'` makes an
array. #BSUB lines (console.jobs.lsf) count under the #SBATCH ones.
"""
from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypedDict, TypeVar

from console.jobs.model import JobSpec
from console.jobs.outpaths import on_node_home
from console.jobs.spec import (
    ArraySpec,
    Dependencies,
    SpecError,
    name_array,
    parse_array,
    parse_begin,
    parse_dependency,
    parse_export,
    parse_hostlist,
    parse_mem,
    parse_nodes,
    parse_time,
)


class _Parser(argparse.ArgumentParser):
    """argparse that raises SpecError (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise SpecError(message)


# (flags, dest, extra argparse keywords); values stay strings here and are parsed by _build.
# The help lines say what sbatch users expect to read in `roost submit --help`.
class ArgKw(TypedDict, total=False):
    """The add_argument keywords OPTIONS uses."""
    metavar: str
    help: str
    action: str
    const: str | bool
    nargs: str
    choices: tuple[str, ...]


OPTIONS: list[tuple[tuple[str, ...], str, ArgKw]] = [
    (("-J", "--job-name"), "job_name", {"metavar": "NAME", "help":
        "job name (default: the script's file name, or wrap)"}),
    (("-c", "--cpus-per-task"), "cpus", {"metavar": "N", "help":
        "cores each task needs on its node (default 1)"}),
    (("--mem",), "mem", {"metavar": "SIZE", "help":
        "memory each task needs on its node: 512, 512M, 2G (default unit M; 0: the whole node)"}),
    (("-t", "--time"), "time", {"metavar": "TIME", "help":
        "time limit: MIN, MIN:SEC, H:MIN:SEC, D-H, D-H:MIN, D-H:MIN:SEC "
        "(default: none; 0 or UNLIMITED: none)"}),
    (("-a", "--array"), "array", {"metavar": "INDICES", "help":
        "a job array: 1-10, 0-15:4, 1,3,5-7; add %%N to run at most N tasks at once"}),
    (("-o", "--output"), "output", {"metavar": "PATTERN", "help":
        "stdout file, relative to the work dir: %%j job id, %%A array job, %%a index, %%x name, "
        "%%N node, %%u user (default slurm-%%j.out, slurm-%%A_%%a.out for an array)"}),
    (("-e", "--error"), "error", {"metavar": "PATTERN", "help":
        "stderr file, as -o (default: into the stdout file)"}),
    (("-d", "--dependency"), "dependency", {"metavar": "DEPS", "help":
        "start after other jobs: afterok:ID[:ID...], afterany, afternotok, after, singleton; "
        "ID or ID_INDEX; ',' needs all, '?' needs any"}),
    (("-w", "--nodelist"), "nodelist", {"metavar": "NODELIST", "help":
        "run only on these nodes (hostlist, e.g. n[1-4]; an allocation takes all of them)"}),
    (("-x", "--exclude"), "exclude", {"metavar": "NODELIST", "help":
        "never run on these nodes (hostlist)"}),
    (("-D", "--chdir"), "chdir", {"metavar": "DIR", "help":
        "work directory on the node, relative to where you submit (default: where you submit)"}),
    (("--export",), "export", {"metavar": "VARS", "help":
        "environment for the tasks: ALL, NONE, or [ALL,]NAME[=value],... (default ALL)"}),
    (("--requeue",), "requeue", {"action": "store_const", "const": True, "help":
        "put a task back in the queue when its node fails (the default, as Slurm's JobRequeue)"}),
    (("--no-requeue",), "requeue", {"action": "store_const", "const": False, "help":
        "let a task whose node failed end NODE_FAIL"}),
    (("-N", "--nodes"), "nodes", {"metavar": "N[-M]", "help":
        "nodes for one allocation (a range takes the minimum; default 1)"}),
    (("-n", "--ntasks"), "ntasks", {"metavar": "N", "help":
        "tasks in the allocation (spread over its nodes; $SLURM_NTASKS)"}),
    (("--ntasks-per-node",), "tasks_per_node", {"metavar": "N", "help":
        "tasks on each node of the allocation"}),
    (("--exclusive",), "exclusive", {"nargs": "?", "const": "exclusive", "metavar": "MODE",
        "help": "whole nodes: no other job shares them"}),
    (("--spread-job",), "spread", {"action": "store_const", "const": True, "help":
        "spread the tasks (an array's, or -n's without -N) one per node in turn over as many "
        "nodes as hold one, instead of filling a node first"}),
    (("-m", "--distribution"), "distribution", {"metavar": "DIST", "help":
        "block (fill a node first: the default) or cyclic (one task per node in turn, as "
        "--spread-job); levels after ':' are accepted and ignored"}),
    (("--mem-per-cpu",), "mem_per_cpu", {"metavar": "SIZE", "help":
        "memory per core instead of --mem, e.g. 256M"}),
    (("-b", "--begin"), "begin", {"metavar": "TIME", "help":
        "not before TIME: now+1hour, 16:00, 2026-06-01T08:00, tomorrow, midnight ..."}),
    (("--nice",), "nice", {"nargs": "?", "const": "100", "metavar": "N", "help":
        "lower this job's priority by N (default 100 when given without N)"}),
    (("--open-mode",), "open_mode", {"choices": ("append", "truncate"), "help":
        "append to the output files or truncate them (default truncate)"}),
]
# Slurm options a Slurm user's script carries that mean nothing to the built-in queue: accepted
# (with their value) and named in one warning each, with why.
IGNORED: dict[tuple[str, ...], str] = {
    ("-p", "--partition"): "the built-in queue has no partitions",
    ("-A", "--account"): "the built-in queue keeps no accounts",
    ("-q", "--qos"): "the built-in queue has no QOS",
    ("--mail-type",): "roost sends no mail",
    ("--mail-user",): "roost sends no mail",
    ("--gres",): "the built-in queue has no generic resources",
    ("--gpus", "-G"): "the built-in queue has no generic resources",
    ("-C", "--constraint"): "the built-in queue has no node features",
}


def add_options(parser: argparse.ArgumentParser) -> None:
    for flags, dest, extra in OPTIONS:
        parser.add_argument(*flags, dest=dest, default=None, **extra)


def directive_parser() -> _Parser:
    parser = _Parser(prog="#SBATCH", add_help=False, allow_abbrev=False)
    add_options(parser)
    for flags in IGNORED:
        parser.add_argument(*flags, dest=f"ignored{flags[-1]}", default=None)
    return parser


@dataclass(frozen=True, slots=True)
class Directive:
    line: int
    args: tuple[str, ...]
    kind: str = "SBATCH"          # SBATCH | BSUB


_PREFIXES = ("#SBATCH", "#BSUB")


def scan_directives(script: str) -> tuple[list[Directive], list[str]]:
    """#SBATCH/#BSUB lines at the start of a line, before the first command; and warnings
    (FILE:LINE is added by the caller) for indented ones, which sbatch ignores too."""
    found, warnings = [], []
    for number, raw in enumerate(script.splitlines(), 1):
        kind = next((p for p in _PREFIXES if raw.startswith(p)), None)
        if kind is not None:
            words = _words(raw[len(kind):], number, kind)
            if words:
                found.append(Directive(number, tuple(words), kind[1:]))
            continue
        line = raw.strip()
        if line.startswith(_PREFIXES):
            warnings.append(f"{number}: ignoring the indented {line.split()[0]} line "
                            "(only lines starting with it count, as in sbatch)")
        elif line and not line.startswith("#"):
            break
    return found, warnings


def _words(body: str, number: int, kind: str) -> list[str]:
    try:
        return shlex.split(body, comments=True)
    except ValueError as exc:
        raise SpecError(f"line {number}: bad {kind} quoting ({exc})") from None


def parse_directives(script: str, where: str) -> tuple[argparse.Namespace, list[str]]:
    """Merged directive values (#SBATCH over #BSUB) and the warnings about them."""
    from console.jobs.lsf import bsub_directive
    directives, notes = scan_directives(script)
    warnings = [f"{where}:{n}" for n in notes]
    parser, values, lsf_values = None, argparse.Namespace(), argparse.Namespace()
    for directive in directives:
        at = f"{where}:{directive.line}"
        if directive.kind == "BSUB":
            _merge(lsf_values, bsub_directive(directive.args, at))
            continue
        parser = parser or directive_parser()   # built when needed: --wrap and bsub lines have none
        try:
            ns, unknown = parser.parse_known_args(list(directive.args))
        except SpecError as exc:
            raise SpecError(f"{at}: {exc}") from None
        warnings += _ignored(ns, at)
        _merge(values, ns, at)
        if unknown:
            warnings.append(f"{at}: ignoring unknown directive {' '.join(unknown)}")
    for key, value in vars(lsf_values).items():
        if getattr(values, key, None) is None:
            setattr(values, key, value)
    return values, warnings


def _merge(into: argparse.Namespace, ns: argparse.Namespace, at: str | None = None) -> None:
    for key, value in vars(ns).items():
        if value is not None and not key.startswith("ignored"):
            if at is not None:
                _check(key, value, at)
            setattr(into, key, value)


def _ignored(ns: argparse.Namespace, at: str) -> list[str]:
    out = []
    for flags, why in IGNORED.items():
        value = getattr(ns, f"ignored{flags[-1]}", None)
        if value is not None:
            out.append(f"{at}: ignoring {flags[-1]}={value} ({why})")
    return out


def _check(key: str, value: str, where: str) -> None:
    """Parse a directive's value now, so a bad one is reported with its file and line."""
    check = _CHECKS.get(key)
    if check is not None:
        try:
            check(value)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None


def _positive_int(text: str, flag: str) -> int:
    if not str(text).isdigit() or int(text) < 1:
        raise SpecError(f"Invalid {flag} specification: {text!r}")
    return int(text)


def _nice(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SpecError(f"Invalid --nice value: {text!r}") from None


_CHECKS: dict[str, Callable[[str], object]] = {
    "cpus": lambda v: _positive_int(v, "--cpus-per-task"), "mem": parse_mem, "time": parse_time,
    "array": parse_array, "dependency": parse_dependency, "nodelist": parse_hostlist,
    "exclude": parse_hostlist, "export": lambda v: parse_export(v, {}), "nodes": parse_nodes,
    "ntasks": lambda v: _positive_int(v, "--ntasks"), "mem_per_cpu": parse_mem,
    "tasks_per_node": lambda v: _positive_int(v, "--ntasks-per-node"),
    "begin": lambda v: parse_begin(v, time.time()), "nice": _nice,
    "distribution": lambda v: _cyclic(v, []),
}


T = TypeVar("T")
Get = Callable[[str], Any]   # an option's value as argparse gives it (str, bool) or None


class _Allocation(TypedDict):
    """JobSpec's allocation fields, as _allocation reads them."""
    nodes: int
    nodes_max: int | None
    num_tasks: int | None
    tasks_per_node: int | None
    exclusive: bool
    spread: bool


def _chdir(here: str, value: str | None) -> str | None:
    """-D DIR from the submit directory; "~" or "~/DIR" (the form's default, or quoted on the
    command line) stays the node login user's home, resolved on the node."""
    if not value:
        return None
    return value if on_node_home(value) else os.path.join(here, value)


def _pick(cli: argparse.Namespace, script: argparse.Namespace, key: str) -> Any:
    value = getattr(cli, key, None)
    return value if value is not None else getattr(script, key, None)


def build_spec(cli: argparse.Namespace, script_text: str, where: str, *,
               submit_dir: str | None = None, env: Mapping[str, str] = os.environ,
               args: Sequence[str] = (), now: float | None = None) -> JobSpec:
    """CLI values over directive values over defaults, every value parsed and checked."""
    directives, warnings = parse_directives(script_text, where)

    def get(key: str) -> Any:
        return _pick(cli, directives, key)
    here = submit_dir or os.getcwd()
    name, arr = _name_and_array(get, where, getattr(cli, "lsf", False), warnings)
    if get("mem") and get("mem_per_cpu"):
        raise SpecError("--mem, --mem-per-cpu, and --mem-per-gpu are mutually exclusive.")
    spec = JobSpec(
        script=script_text, name=name,
        cpus=_positive_int(get("cpus"), "--cpus-per-task") if get("cpus") else 1,
        mem_mb=_opt(get, "mem", parse_mem), time_limit=_opt(get, "time", parse_time),
        array=arr.indices if arr else None, array_limit=arr.limit if arr else None,
        output=get("output"), error=get("error"),
        dependencies=_opt(get, "dependency", parse_dependency) or Dependencies(),
        nodelist=_opt(get, "nodelist", parse_hostlist) or (),
        exclude=_opt(get, "exclude", parse_hostlist) or (),
        chdir=_chdir(here, get("chdir")),
        export=parse_export(get("export") or "ALL", env), requeue=get("requeue"),
        submit_dir=here, user=getpass.getuser(), args=tuple(args),
        mem_per_cpu=_opt(get, "mem_per_cpu", parse_mem),
        begin=_opt(get, "begin", lambda v: parse_begin(v, time.time() if now is None else now)),
        nice=_opt(get, "nice", _nice) or 0, open_mode=get("open_mode") or "truncate",
        script_path=os.path.join(here, where) if where not in ("--wrap", "stdin") else None,
        candidates=_opt(get, "candidates", parse_hostlist) or (),
        **_allocation(get, warnings))
    if arr is None:
        warnings += _pct_a(get)
    return _checked(dataclasses.replace(spec, warnings=tuple(warnings)))


def _opt(get: Get, key: str, parse: Callable[[str], T]) -> T | None:
    """The parsed value of an option, None when it was not given."""
    value = get(key)
    return parse(value) if value else None


def _name_and_array(get: Get, where: str, lsf: bool,
                    warnings: list[str]) -> tuple[str, ArraySpec | None]:
    """The job's name and array (None); LSF's name[1-10] syntax makes the array too."""
    name = get("job_name") or (os.path.basename(where) if where != "--wrap" else "wrap")
    arr = parse_array(get("array")) if get("array") else None
    named = name_array(name) if arr is None else None
    if named is not None:
        name, arr = named
        if not lsf:
            warnings.append(f"-J {get('job_name')}: LSF array syntax: an array of "
                            f"{len(arr.indices)} tasks named {name} (sbatch would run one job "
                            "of that literal name; --array is the Slurm way)")
    return name, arr


def _allocation(get: Get, warnings: list[str]) -> _Allocation:
    """-N (min-max: the minimum, warned), -n, --ntasks-per-node, --exclusive."""
    nodes, nodes_max = parse_nodes(get("nodes")) if get("nodes") else (1, None)
    if nodes_max is not None and nodes_max > nodes:
        warnings.append(f"-N {get('nodes')}: roost allocates the minimum, {nodes} nodes "
                        f"(Slurm may give up to {nodes_max})")
    return {"nodes": nodes, "nodes_max": nodes_max,
            "num_tasks": _opt(get, "ntasks", lambda v: _positive_int(v, "--ntasks")),
            "tasks_per_node": _opt(get, "tasks_per_node",
                                   lambda v: _positive_int(v, "--ntasks-per-node")),
            "exclusive": bool(get("exclusive")),
            "spread": bool(get("spread")) or _cyclic(get("distribution"), warnings)}


def _cyclic(value: str | None, warnings: list[str]) -> bool:
    """-m/--distribution: True for cyclic, False for block or * (the default); what follows
    ':' (socket and core distribution) and ',Pack' are ignored, with a warning."""
    if not value:
        return False
    nodes, _, rest = value.partition(":")
    nodes, _, pack = nodes.partition(",")
    if nodes not in ("block", "cyclic", "*"):
        raise SpecError(f"-m {value}: roost distributes tasks over nodes block or cyclic "
                        f"(got {nodes!r})")
    if rest or pack:
        warnings.append(f"-m {value}: only the node level ({nodes}) means something to roost")
    return nodes == "cyclic" or pack == "NoPack"


def _pct_a(get: Get) -> list[str]:
    """%a in -o/-e of a job that is no array: Slurm writes 4294967294 there, roost 0."""
    return [f"{flag} {pattern}: %a outside an array is 0 here (Slurm writes 4294967294)"
            for flag, pattern in (("-o", get("output")), ("-e", get("error")))
            if pattern and re.search(r"%\d*a", pattern)]


def _checked(spec: JobSpec) -> JobSpec:
    """Combinations sbatch refuses, in its words."""
    if spec.num_tasks is not None and spec.num_tasks < spec.node_count:
        if spec.nodelist and len(spec.nodelist) > spec.num_tasks:
            raise SpecError("Batch job submission failed: Requested node configuration is "
                            "not available")
        return dataclasses.replace(spec, nodes=spec.num_tasks)
    return spec


def wrap_script(command: str) -> str:
    return f"#!/bin/sh\n{command}\n"


DOS_LINES = ("Batch script contains DOS line breaks (\\r\\n) instead of expected UNIX line "
             "breaks (\\n).")


def read_script(script_path: str) -> str:
    """A batch script's text, refused as sbatch refuses it (no #!, DOS line ends)."""
    try:
        with open(script_path, encoding="utf-8", newline="") as f:   # keep \r\n as it is
            text = f.read()
    except OSError as exc:
        raise SpecError(f"Unable to open file {script_path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{script_path}: not a text file (not UTF-8)") from None
    if not text.startswith("#!"):
        raise SpecError("This does not look like a batch script.  The first line must start "
                        "with #! followed by the path to an interpreter.")
    if "\r\n" in text:
        raise SpecError(DOS_LINES)
    return text


def spec_from_args(cli: argparse.Namespace, script_path: str | None, wrap: str | None,
                   env: Mapping[str, str] = os.environ) -> JobSpec:
    """The submit command's job: a script file (directives honoured, its arguments in
    cli.script_args) or --wrap CMD."""
    args = tuple(getattr(cli, "script_args", None) or ())
    if wrap is not None and (script_path or args):
        raise SpecError("script arguments not permitted with --wrap option")
    if wrap is not None:
        return build_spec(cli, wrap_script(wrap), "--wrap", env=env)
    if not script_path:
        raise SpecError("Batch script is empty! (give a script or --wrap CMD)")
    return build_spec(cli, read_script(script_path), script_path, env=env, args=args)


def add_script_arguments(parser: argparse.ArgumentParser) -> None:
    """SCRIPT [ARG ...]: as sbatch, what follows the script is its $1 $2 ..."""
    parser.add_argument("script", nargs="?", metavar="SCRIPT",
                        help="a batch script; its #SBATCH lines set the options above (flags win)")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARG",
                        help="arguments for the script ($1 $2 ...)")


def parse_submit_argv(argv: Sequence[str]) -> argparse.Namespace:
    """Stand-alone parse of submit flags (tests and bench); the CLI registers the same ones."""
    parser = _Parser(prog="roost submit", allow_abbrev=False)
    add_options(parser)
    parser.add_argument("--wrap", default=None)
    parser.add_argument("-W", "--wait", action="store_true")
    add_script_arguments(parser)
    return parser.parse_args(list(argv))
