"""sbatch-like options from the command line and from a script's #SBATCH lines -> JobSpec.

Like sbatch: #SBATCH lines count only before the first command of the script; command-line
flags override them; an unknown directive is a warning, an unknown flag an error.
"""
from __future__ import annotations

import argparse
import getpass
import os
import shlex
from dataclasses import dataclass
from typing import Mapping, Sequence

from console.jobs.model import JobSpec
from console.jobs.spec import (
    Dependencies, Export, SpecError, parse_array, parse_dependency, parse_export, parse_hostlist,
    parse_mem, parse_time)


class _Parser(argparse.ArgumentParser):
    """argparse that raises SpecError (one line) instead of printing usage and exiting."""

    def error(self, message: str):
        raise SpecError(message)


# (flags, dest, extra argparse keywords); values stay strings here and are parsed by _build.
OPTIONS: list[tuple[tuple[str, ...], str, dict]] = [
    (("-J", "--job-name"), "job_name", {}),
    (("-c", "--cpus-per-task"), "cpus", {}),
    (("--mem",), "mem", {}),
    (("-t", "--time"), "time", {}),
    (("-a", "--array"), "array", {}),
    (("-o", "--output"), "output", {}),
    (("-e", "--error"), "error", {}),
    (("-d", "--dependency"), "dependency", {}),
    (("-w", "--nodelist"), "nodelist", {}),
    (("-x", "--exclude"), "exclude", {}),
    (("-D", "--chdir"), "chdir", {}),
    (("--export",), "export", {}),
    (("--requeue",), "requeue", {"action": "store_const", "const": True}),
    (("--no-requeue",), "requeue", {"action": "store_const", "const": False}),
]


def add_options(parser: argparse.ArgumentParser) -> None:
    for flags, dest, extra in OPTIONS:
        parser.add_argument(*flags, dest=dest, default=None, **extra)


def directive_parser() -> _Parser:
    parser = _Parser(prog="#SBATCH", add_help=False, allow_abbrev=False)
    add_options(parser)
    return parser


@dataclass(frozen=True, slots=True)
class Directive:
    line: int
    args: tuple[str, ...]


def scan_directives(script: str) -> list[Directive]:
    """#SBATCH lines before the first command (blank lines and comments do not end the block)."""
    found = []
    for number, raw in enumerate(script.splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("#") and not line.startswith("#SBATCH")):
            continue
        if not line.startswith("#SBATCH"):
            break
        body = line[len("#SBATCH"):]
        if body and not body[0].isspace():
            continue   # "#SBATCHX" is a comment, as in sbatch
        try:
            words = shlex.split(body, comments=True)
        except ValueError as exc:
            raise SpecError(f"line {number}: bad #SBATCH quoting ({exc})") from None
        if words:
            found.append(Directive(number, tuple(words)))
    return found


def parse_directives(script: str, where: str) -> tuple[argparse.Namespace, list[str]]:
    """Merged directive values and warnings for unknown ones."""
    parser, values, warnings = directive_parser(), argparse.Namespace(), []
    for directive in scan_directives(script):
        try:
            ns, unknown = parser.parse_known_args(list(directive.args))
        except SpecError as exc:
            raise SpecError(f"{where}:{directive.line}: {exc}") from None
        for key, value in vars(ns).items():
            if value is not None:
                _check(key, value, f"{where}:{directive.line}")
                setattr(values, key, value)
        if unknown:
            warnings.append(f"{where}:{directive.line}: ignoring unknown directive "
                            f"{' '.join(unknown)}")
    return values, warnings


def _check(key: str, value, where: str) -> None:
    """Parse a directive's value now, so a bad one is reported with its file and line."""
    check = _CHECKS.get(key)
    if check is not None:
        try:
            check(value)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None


def _positive_int(text: str, flag: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise SpecError(f"Invalid {flag} specification: {text!r}")
    return int(text)


_CHECKS = {
    "cpus": lambda v: _positive_int(v, "--cpus-per-task"), "mem": parse_mem, "time": parse_time,
    "array": parse_array, "dependency": parse_dependency, "nodelist": parse_hostlist,
    "exclude": parse_hostlist, "export": lambda v: parse_export(v, {}),
}


def _pick(cli: argparse.Namespace, script: argparse.Namespace, key: str):
    value = getattr(cli, key, None)
    return value if value is not None else getattr(script, key, None)


def build_spec(cli: argparse.Namespace, script_text: str, where: str, *,
               submit_dir: str | None = None,
               env: Mapping[str, str] = os.environ) -> JobSpec:
    """CLI values over directive values over defaults, every value parsed and checked."""
    directives, warnings = parse_directives(script_text, where)
    get = lambda key: _pick(cli, directives, key)  # noqa: E731
    arr = parse_array(get("array")) if get("array") else None
    return JobSpec(
        script=script_text,
        name=get("job_name") or (os.path.basename(where) if where != "--wrap" else "wrap"),
        cpus=_positive_int(get("cpus"), "--cpus-per-task") if get("cpus") else 1,
        mem_mb=parse_mem(get("mem")) if get("mem") else None,
        time_limit=parse_time(get("time")) if get("time") else None,
        array=arr.indices if arr else None,
        array_limit=arr.limit if arr else None,
        output=get("output"), error=get("error"),
        dependencies=parse_dependency(get("dependency")) if get("dependency") else Dependencies(),
        nodelist=parse_hostlist(get("nodelist")) if get("nodelist") else (),
        exclude=parse_hostlist(get("exclude")) if get("exclude") else (),
        chdir=os.path.join(submit_dir or os.getcwd(), get("chdir")) if get("chdir") else None,
        export=parse_export(get("export"), env) if get("export") else Export(),
        requeue=bool(get("requeue")),
        submit_dir=submit_dir or os.getcwd(),
        user=getpass.getuser(),
        warnings=tuple(warnings))


def wrap_script(command: str) -> str:
    return f"#!/bin/sh\n{command}\n"


def spec_from_args(cli: argparse.Namespace, script_path: str | None, wrap: str | None,
                   env: Mapping[str, str] = os.environ) -> JobSpec:
    """The submit command's job: a script file (directives honoured) or --wrap CMD."""
    if wrap is not None and script_path:
        raise SpecError("script arguments not permitted with --wrap option")
    if wrap is not None:
        return build_spec(cli, wrap_script(wrap), "--wrap", env=env)
    if not script_path:
        raise SpecError("Batch script is empty! (give a script or --wrap CMD)")
    try:
        text = open(script_path, encoding="utf-8").read()
    except OSError as exc:
        raise SpecError(f"Unable to open file {script_path}: {exc.strerror}") from None
    if not text.startswith("#!"):
        raise SpecError("This does not look like a batch script.  The first line must start "
                        "with #! followed by the path to an interpreter.")
    return build_spec(cli, text, script_path, env=env)


def parse_submit_argv(argv: Sequence[str]) -> argparse.Namespace:
    """Stand-alone parse of submit flags (tests and bench); the CLI registers the same ones."""
    parser = _Parser(prog="roost submit", allow_abbrev=False)
    add_options(parser)
    parser.add_argument("--wrap", default=None)
    parser.add_argument("-W", "--wait", action="store_true")
    parser.add_argument("script", nargs="?")
    return parser.parse_args(list(argv))
