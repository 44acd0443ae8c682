"""The remote sampler: the command string roost sends to a node, and the parser for its header.

The command is a tiny POSIX-sh preamble carrying two scripts (probe.sh for bash, probe_posix.sh
for plain sh) and their arguments, every one shlex.quote'd. The node runs the bash flavour when
bash exists (fork-free loop) and the sh flavour otherwise; both write collectors.frame frames.
The file globs come from collectors.fileset as arguments, so the scripts hold no file list.

Its first line is always ``# roost-sampler 1 interval=<float> procfs=<path> sysfs=<path>``: the
demo fleet's SSH servers recognise the sampler by it (parse_header) and answer with frames.
"""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from collectors.fileset import COMMANDS, LINKS, dynamic_patterns, slow_patterns, slow_ticks, static_patterns
from collectors.model import NodeTarget

VERSION = 1
SHELLS = ("auto", "bash", "sh")
HEADER = re.compile(r"# roost-sampler (\d+) interval=(\S+) procfs=(.*) sysfs=(.*)")


@dataclass(frozen=True, slots=True)
class SamplerHeader:
    version: int
    interval: float
    procfs: str
    sysfs: str


@cache
def script(name: str) -> str:
    """probe.sh or probe_posix.sh, as shipped in the package."""
    return files("collectors").joinpath(name).read_text()


def _check_root(node: str, what: str, path: str) -> str:
    # the header is a shell comment line: a newline in a path would end it and run the rest
    if not path.startswith("/") or any(c in path for c in "\n\r\0"):
        raise ValueError(f"{node}: {what} must be an absolute path on one line, got {path!r}")
    return path


def _interval_us(target: NodeTarget) -> int:
    if not (math.isfinite(target.interval) and 0.01 <= target.interval <= 86400):
        raise ValueError(f"{target.name}: interval must be 0.01..86400 s, got {target.interval!r}")
    return round(target.interval * 1_000_000)


def sampler_args(target: NodeTarget) -> list[str]:
    """INTERVAL_US PROCFS SYSFS STATIC DYNAMIC LINKS SLOW SLOW_TICKS COMMAND..., the scripts'
    positional arguments (a COMMAND is "KEY WHEN", a newline, then its sh script)."""
    procfs = _check_root(target.name, "procfs", target.procfs)
    sysfs = _check_root(target.name, "sysfs", target.sysfs)
    return [str(_interval_us(target)), procfs, sysfs, "\n".join(static_patterns()),
            "\n".join(dynamic_patterns()), "\n".join(LINKS), "\n".join(slow_patterns()),
            str(slow_ticks(target.interval)),
            *(f"{c.key} {c.when}\n{c.script}" for c in COMMANDS)]


def _launch(shell: str) -> str:
    # $B/$P hold the scripts; "$@" the arguments. exec replaces the login shell: one process.
    bash = 'exec bash -c "$B" roost-sampler "$@"'
    posix = 'exec sh -c "$P" roost-sampler "$@"'
    if shell == "bash":
        return bash
    if shell == "sh":
        return posix
    # the bash flavour needs bash >= 4.2 ({fd} redirections, printf %(...)T); older bash gets sh
    new_enough = "bash -c '((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 402))' 2>/dev/null"
    return f"if command -v bash >/dev/null 2>&1 && {new_enough}; then {bash}; fi; {posix}"


def sampler_command(target: NodeTarget, *, shell: str = "auto") -> str:
    """The exec string for target's sampler channel. shell: "auto" (bash if present), "bash", "sh"."""
    if shell not in SHELLS:
        raise ValueError(f"{target.name}: sampler shell must be one of {SHELLS}, got {shell!r}")
    args = sampler_args(target)
    header = (f"# roost-sampler {VERSION} interval={float(target.interval)!r} "
              f"procfs={args[1]} sysfs={args[2]}")
    quoted = " ".join(shlex.quote(a) for a in args)
    return "\n".join([
        header,
        f"B={shlex.quote(script('probe.sh'))}",
        f"P={shlex.quote(script('probe_posix.sh'))}",
        f"set -- {quoted}",
        "LC_ALL=C; export LC_ALL",   # lengths in bytes, whatever the login locale
        _launch(shell),
        "",
    ])


def parse_header(command: str) -> SamplerHeader | None:
    """The sampler header of an exec string, or None when the command is not a roost sampler."""
    first = command.split("\n", 1)[0]
    m = HEADER.fullmatch(first)
    if m is None:
        return None
    try:
        interval = float(m[2])
    except ValueError:
        return None
    return SamplerHeader(int(m[1]), interval, m[3], m[4])
