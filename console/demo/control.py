"""The demo fleet's power channels, reachable from other processes over a Unix socket.

`roost demo --write-inventory` gives every node a `command` power table whose on/off/status/
cycle lines run `python -m console.demo.control SOCKET ACTION NODE`, so `roost power ...` in
another terminal switches the running demo's simulated pins exactly as the in-process driver
does. Protocol: one line "ACTION NODE\n" in, one line out: "on", "off", "ok" or "error: why".
"""
from __future__ import annotations

import asyncio
import shlex
import socket
import sys
from pathlib import Path
from typing import Protocol

from console.demo.power import DemoPowerChannel

ACTIONS = ("on", "off", "status", "cycle", "soft")


class Channels(Protocol):
    """What the socket switches: console.demo.fleet.DemoFleet."""
    def power(self, name: str) -> DemoPowerChannel: ...


async def serve(fleet: Channels, path: Path) -> asyncio.AbstractServer:
    path.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(lambda r, w: _client(fleet, r, w), path=str(path))
    path.chmod(0o600)  # only this user may switch the demo's power
    return server


async def _client(fleet: Channels, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    try:
        line = (await reader.readline()).decode(errors="replace")
        writer.write((await answer(fleet, line) + "\n").encode())
        await writer.drain()
    finally:
        writer.close()


async def answer(fleet: Channels, line: str) -> str:
    words = line.split()
    if len(words) != 2 or words[0] not in ACTIONS:
        return f"error: expected '<{'|'.join(ACTIONS)}> NODE', got {line.strip()[:60]!r}"
    action, node = words
    try:
        power = fleet.power(node)
    except KeyError:
        return f"error: the demo fleet has no node {node!r}"
    if action == "status":
        return await power.status()
    await {"on": power.on, "off": power.off, "soft": power.off, "cycle": power.cycle}[action]()
    return "ok"


def in_use(path: Path) -> bool:
    """A live demo already answers on this socket."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def command_line(path: Path, action: str, node: str) -> str:
    """The shell line a `command` power table runs for action on node."""
    return " ".join(shlex.quote(w) for w in
                    (sys.executable, "-m", "console.demo.control", str(path), action, node))


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ACTIONS:
        print(f"usage: python -m console.demo.control SOCKET {{{','.join(ACTIONS)}}} NODE",
              file=sys.stderr)
        return 2
    path, action, node = argv
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(path)
            s.sendall(f"{action} {node}\n".encode())
            reply = s.makefile().readline().strip()
    except OSError as e:
        print(f"demo power: cannot reach the demo fleet at {path}: {e.strerror or e}",
              file=sys.stderr)
        return 1
    if reply.startswith("error:") or not reply:
        print(f"demo power: {reply[7:] or 'no answer'}", file=sys.stderr)
        return 1
    print(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
