"""One command on many nodes: `roost run NODESET -- CMD`, the console's `x` screen, and the
one "log in, run one command, log out" helper (run_once) that power's OS shutdown uses too.

Results group like clush -b / dshbak -c: nodes with identical output share one block. UI-free.
"""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import TextIO, TypeVar

from collectors import transport
from collectors.model import NodeTarget
from console.hostlist import fold, natural_key
from console.text import error_line

# Everything but newline and tab: a node's output must not drive the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")
Result = tuple[int | None, str, str]
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Reply:
    """What one run_once gave: the command's status and output, or why it did not run."""
    exit_status: int | None     # None: no status (it did not run, or the node reported none)
    stdout: str = ""
    stderr: str = ""
    error: str = ""             # one line, empty when the command ran
    connected: bool = True      # False: the login itself failed (nothing ran)


async def run_once(target: NodeTarget, command: str, timeout: float) -> Reply:
    """A fresh SSH login to target (host key verified), one command, log out. Never raises for
    a node's failure: the Reply says what went wrong, in one line."""
    target = replace(target, connect_timeout=min(target.connect_timeout, timeout))
    try:
        conn = await transport.connect(target)
    except transport.TransportError as exc:
        return Reply(None, error=error_line(exc), connected=False)
    try:
        result = await transport.run(conn, command, timeout, node=target.name)
    except transport.TransportError as exc:
        return Reply(None, error=error_line(exc))
    finally:
        conn.close()
    return Reply(result.exit_status, result.stdout, result.stderr)


@dataclass(frozen=True, slots=True)
class OutputGroup:
    nodes: tuple[str, ...]
    exit_status: int | None     # None: the command could not run (error says why)
    output: str
    error: str = ""


def group_outputs(results: dict[str, Result]) -> list[OutputGroup]:
    """Nodes with identical (exit status, stdout+stderr, error) share one group; biggest first."""
    groups: dict[Result, list[str]] = {}
    for node, (status, out, err) in results.items():
        groups.setdefault((status, out, err), []).append(node)
    made = [OutputGroup(tuple(sorted(ns, key=natural_key)), st, out, err)
            for (st, out, err), ns in groups.items()]
    return sorted(made, key=lambda g: (-len(g.nodes), natural_key(g.nodes[0])))


async def run_over(source: object, node: str, command: str, timeout: float) -> Reply:
    """One command over a running fleet's open connection (Fleet.run_command, as the console's
    `x` uses); a node that fails gives its Reply, never an exception."""
    run_command = getattr(source, "run_command", None)
    if run_command is None:
        return Reply(None, error="no fleet connection")
    try:
        r = await run_command(node, command, timeout)
    except Exception as exc:  # a node that fails must not stop the others
        return Reply(None, error=f"{type(exc).__name__}: {exc}")
    return Reply(r.exit_status, r.stdout or "", r.stderr or "")


async def bounded(items: Iterable[T], work: Callable[[T], Awaitable[R]], parallel: int) -> list[R]:
    """work(item) for every item, at most `parallel` at a time; results in the items' order."""
    gate = asyncio.Semaphore(parallel)

    async def one(item: T) -> R:
        async with gate:
            return await work(item)
    return list(await asyncio.gather(*(one(i) for i in items)))


async def run_everywhere(targets: list[NodeTarget], command: str, timeout: float,
                         parallel: int = 64) -> dict[str, Result]:
    """{node: (exit status or None, stdout+stderr, one-line error)} for every target."""
    results = await bounded(targets, lambda t: _run_one(t, command, timeout), parallel)
    return {t.name: r for t, r in zip(targets, results)}


async def _run_one(target: NodeTarget, command: str, timeout: float) -> Result:
    try:
        return await _run_remote_or_here(target, command, timeout)
    except Exception as exc:  # noqa: BLE001 - one node's failure is its own group, never the run's
        return None, "", error_line(f"{type(exc).__name__}: {exc}")


async def _run_remote_or_here(target: NodeTarget, command: str, timeout: float) -> Result:
    if target.local:
        return await asyncio.to_thread(_run_here, command, timeout)
    reply = await run_once(target, command, timeout)
    if reply.error:
        return None, "", reply.error
    return reply.exit_status, reply.stdout + reply.stderr, ""


def _run_here(command: str, timeout: float) -> Result:
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True,
                              timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        return None, "", f"command timed out after {timeout:g} s"
    return done.returncode, done.stdout + done.stderr, ""


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
    for node, (_status, text, error) in results.items():
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
