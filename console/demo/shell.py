"""Real work on a simulated node: commands and shells run as local processes in the node's dir.

Each process starts a new session (so the node can kill its whole group) and carries
ROOST_DEMO_TAG in its environment (so a power-off also finds what was detached with nohup/setsid).
A plain OS shutdown command is never run: os_power_action names it so the node simulates it.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import shlex
import struct
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import asyncssh

PIPE = asyncio.subprocess.PIPE


class Jobs(Protocol):
    jobs: int


class Workplace(Protocol):
    """What running work needs of a node (console.demo.node.DemoNode)."""
    dir: Path
    procs: set[asyncio.subprocess.Process]

    @property
    def sim(self) -> Jobs: ...

    def env(self) -> dict[str, str]: ...


async def run_command(node: Workplace, process: asyncssh.SSHServerProcess, command: str) -> int:
    """Run command through /bin/sh with the channel as its stdio; returns the exit status."""
    proc = await asyncio.create_subprocess_shell(
        command, stdin=PIPE, stdout=PIPE, stderr=PIPE, cwd=node.dir, env=node.env(),
        start_new_session=True)
    return await _supervise(node, process, proc)


async def run_shell(node: Workplace, process: asyncssh.SSHServerProcess) -> int:
    """An interactive login: the user's shell, on a pty when the client asked for one."""
    sh = os.environ.get("SHELL") or "/bin/sh"
    if not process.get_terminal_type():
        proc = await asyncio.create_subprocess_exec(
            sh, stdin=PIPE, stdout=PIPE, stderr=PIPE, cwd=node.dir, env=node.env(),
            start_new_session=True)
        return await _supervise(node, process, proc)
    return await _pty_shell(node, process, sh)


async def _supervise(node: Workplace, process: asyncssh.SSHServerProcess,
                     proc: asyncio.subprocess.Process) -> int:
    node.procs.add(proc)
    node.sim.jobs = len(node.procs)
    try:
        await process.redirect(stdin=proc.stdin)
        assert proc.stdout is not None and proc.stderr is not None   # made with PIPE
        await asyncio.gather(_pump(proc.stdout, process.stdout),
                             _pump(proc.stderr, process.stderr))
        return _status(await proc.wait())
    except asyncio.CancelledError:
        _hangup(proc)
        raise
    finally:
        node.procs.discard(proc)
        node.sim.jobs = len(node.procs)


async def _pump(reader: asyncio.StreamReader, writer: asyncssh.SSHWriter) -> None:
    # Forward everything before the exit status goes out, so no trailing output is lost.
    while data := await reader.read(65536):
        try:
            writer.write(data)
            await writer.drain()
        except (OSError, asyncssh.Error):
            return


def _status(code: int) -> int:
    # A signal death maps to 128+N as a shell reports it.
    return 128 - code if code < 0 else code


def _hangup(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, 1)
    except (ProcessLookupError, PermissionError):
        pass


async def _pty_shell(node: Workplace, process: asyncssh.SSHServerProcess, sh: str) -> int:
    master, slave = pty.openpty()
    cols, rows, *_ = process.get_terminal_size()
    if cols and rows:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**node.env(), "TERM": process.get_terminal_type() or "xterm"}
    proc = await asyncio.create_subprocess_exec(
        sh, "-i", stdin=slave, stdout=slave, stderr=slave, cwd=node.dir, env=env,
        start_new_session=True, preexec_fn=_take_tty)
    os.close(slave)
    node.procs.add(proc)
    try:
        reader = open(master, "rb", buffering=0)  # noqa: SIM115 - the channel closes them
        writer = open(os.dup(master), "wb", buffering=0)  # noqa: SIM115
        await process.redirect(stdin=writer, stdout=reader)
        return _status(await proc.wait())
    finally:
        node.procs.discard(proc)


def _take_tty() -> None:
    # In the child, after setsid: make the pty on fd 0 the controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _our_processes() -> Iterator[tuple[int, bytes]]:
    """(pid, environ) of this user's processes other than this one."""
    me, mine = os.getuid(), os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == mine:
            continue
        try:
            if entry.stat().st_uid == me:
                yield int(entry.name), (entry / "environ").read_bytes()
        except OSError:
            continue


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def job_counts(fleet_tag: str) -> dict[str, int]:
    """Jobs running per node: processes carrying this fleet's tag whose parent does not
    (a job's shell and its children count once; a detached job counts once too)."""
    marker = f"ROOST_DEMO_TAG={fleet_tag}:".encode()
    tagged: dict[int, str] = {}
    for pid, environ in _our_processes():
        at = environ.find(marker)
        if at >= 0:
            end = environ.find(b"\0", at)
            tagged[pid] = environ[at + len(marker):end if end >= 0 else None].decode()
    counts: dict[str, int] = {}
    for pid, node in tagged.items():
        if _ppid(pid) not in tagged:
            counts[node] = counts.get(node, 0) + 1
    return counts


def tagged_pids(tag: str) -> Iterator[int]:
    """Our processes whose ROOST_DEMO_TAG value starts with tag ("fleet:node\\0" for one
    node, "fleet:" for the whole fleet)."""
    needle = f"ROOST_DEMO_TAG={tag}".encode()
    for pid, environ in _our_processes():
        if needle in environ:
            yield pid


def os_power_action(command: str) -> str | None:
    """"halt" or "reboot" when command is a plain OS shutdown (sudo poweroff, shutdown -r now,
    systemctl reboot ...): a demo node must simulate it, never run it on this host."""
    if any(c in command for c in ";|&<>`$()\n"):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    while words and (os.path.basename(words[0]) == "sudo" or words[0].startswith("-")):
        words = words[1:]
    if not words:
        return None
    prog, rest = os.path.basename(words[0]), words[1:]
    if prog == "systemctl":
        prog, rest = (rest[0], rest[1:]) if rest else ("", [])
    if prog in ("poweroff", "halt"):
        return "halt"
    if prog == "reboot":
        return "reboot"
    if prog == "shutdown":
        return "reboot" if any(w in ("-r", "--reboot") for w in rest) else "halt"
    return None
