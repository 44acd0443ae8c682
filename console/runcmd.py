"""`roost run NODESET -- CMD`: one command on many nodes, identical outputs grouped (clush -b).

UI-free: the console's run screen groups with the same console.state.group_outputs.
"""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from dataclasses import replace
from typing import TextIO

from collectors.model import NodeTarget
from console.state import OutputGroup, fold, group_outputs

# Everything but newline and tab: a node's output must not drive the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")
Result = tuple[int | None, str, str]


async def run_everywhere(targets: list[NodeTarget], command: str, timeout: float,
                         parallel: int = 64) -> dict[str, Result]:
    """{node: (exit status or None, stdout+stderr, one-line error)} for every target."""
    gate = asyncio.Semaphore(parallel)

    async def one(target: NodeTarget) -> Result:
        async with gate:
            return await _run_one(target, command, timeout)
    results = await asyncio.gather(*(one(t) for t in targets))
    return {t.name: r for t, r in zip(targets, results)}


async def _run_one(target: NodeTarget, command: str, timeout: float) -> Result:
    try:
        return await _run_remote_or_here(target, command, timeout)
    except Exception as exc:  # noqa: BLE001 - one node's failure is its own group, never the run's
        return None, "", _one_line(f"{type(exc).__name__}: {exc}")


async def _run_remote_or_here(target: NodeTarget, command: str, timeout: float) -> Result:
    if target.local:
        return await asyncio.to_thread(_run_here, command, timeout)
    from collectors import transport
    target = replace(target, connect_timeout=min(target.connect_timeout, timeout))
    try:
        conn = await transport.connect(target)
    except transport.TransportError as exc:
        return None, "", _one_line(exc)
    try:
        result = await transport.run(conn, command, timeout, node=target.name)
    except transport.TransportError as exc:
        return None, "", _one_line(exc)
    finally:
        conn.close()
    return result.exit_status, result.stdout + result.stderr, ""


def _run_here(command: str, timeout: float) -> Result:
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True,
                              timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        return None, "", f"command timed out after {timeout:g} s"
    return done.returncode, done.stdout + done.stderr, ""


def _one_line(exc: Exception | str) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split())


def print_groups(groups: list[OutputGroup], out: TextIO = sys.stdout) -> None:
    """dshbak -c layout: a ruled header naming the folded node set, then the shared output."""
    for g in groups:
        status = f"exit {g.exit_status}" if g.exit_status is not None else f"failed: {g.error}"
        header = f"{fold(g.nodes)} ({status})"
        rule = "-" * min(max(len(header), 15), 78)
        text = g.output if g.output.endswith("\n") or not g.output else g.output + "\n"
        out.write(f"{rule}\n{header}\n{rule}\n{clean(text, out)}")


def print_lines(results: dict[str, Result], out: TextIO = sys.stdout) -> None:
    """clush without -b: every line prefixed by its node."""
    for node, (status, text, error) in results.items():
        if error:
            out.write(f"{node}: roost: {error}\n")
        for line in clean(text, out).splitlines():
            out.write(f"{node}: {line}\n")


def clean(text: str, out: TextIO) -> str:
    return _CONTROL.sub("\ufffd", text) if out.isatty() else text


def exit_status(results: dict[str, Result]) -> int:
    """Like clush: the highest exit status; 255 when a node could not run the command."""
    statuses = [255 if s is None else (s if s >= 0 else 128 - s) for s, _, _ in results.values()]
    return max(statuses, default=0)


def run(targets: list[NodeTarget], command: str, timeout: float, grouped: bool = True) -> int:
    results = asyncio.run(run_everywhere(targets, command, timeout))
    if grouped:
        print_groups(group_outputs(results))
    else:
        print_lines(results)
    return exit_status(results)
