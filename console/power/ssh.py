"""SSH as power control needs it: command runners on controllers, reachability, OS shutdown.

Built on collectors.transport (one connection per node, reused). Reachability is a fresh login
each time: a connection opened before the node went down can outlive its sshd, so only a new
login tells whether the node answers now.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Callable, Mapping

from collectors import transport
from collectors.model import NodeTarget
from console.power.base import CommandResult, PowerError, Runner


class SshAccess:
    def __init__(self, targets: Mapping[str, NodeTarget], connect: Callable = transport.connect,
                 run: Callable = transport.run):
        self.targets = dict(targets)
        self._connect, self._run = connect, run
        self._conns: dict[str, object] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def target(self, name: str) -> NodeTarget:
        if name not in self.targets:
            raise PowerError(f"node {name}: not in the config, so roost cannot reach it over SSH")
        return self.targets[name]

    async def _conn(self, name: str):
        async with self._locks.setdefault(name, asyncio.Lock()):
            conn = self._conns.get(name)
            if conn is None or conn.is_closed():
                conn = self._conns[name] = await self._connect(self.target(name))
            return conn

    def runner_for(self, name: str) -> Runner:
        """A Runner executing on node name; one reconnect when the connection has dropped."""
        async def runner(command: str, timeout: float) -> CommandResult:
            try:
                return await self._once(name, command, timeout)
            except transport.TransportError as e:
                if "connection lost" not in str(e):
                    raise PowerError(str(e)) from None
                self._conns.pop(name, None)
            try:
                return await self._once(name, command, timeout)
            except transport.TransportError as e:
                raise PowerError(str(e)) from None
        return runner

    async def _once(self, name: str, command: str, timeout: float) -> CommandResult:
        result = await self._run(await self._conn(name), command, timeout, node=name)
        return CommandResult(-1 if result.exit_status is None else result.exit_status,
                             result.stdout, result.stderr)

    async def reachable(self, name: str, timeout: float = 3.0) -> bool:
        """True when a new SSH login to the node succeeds within timeout (the console's own host
        answers by definition: this code is running on it)."""
        if self.target(name).local:
            return True
        target = replace(self.target(name), connect_timeout=timeout)
        try:
            conn = await asyncio.wait_for(self._connect(target), timeout + 1)
        except (transport.TransportError, asyncio.TimeoutError, OSError):
            return False
        conn.close()
        return True

    async def shutdown(self, name: str, command: str, timeout: float = 15.0) -> None:
        """Ask the node's OS to power itself down. A dropped connection is success (the node is
        going); a refusal (sudo wants a password, command missing) is a PowerError."""
        try:
            conn = await self._connect(self.target(name))
        except transport.TransportError as e:
            raise PowerError(f"{e}; not reachable for a clean shutdown (use --hard to cut power)") from None
        try:
            result = await self._run(conn, command, timeout, node=name)
        except transport.TransportError as e:
            if "timed out" in str(e) or "connection lost" in str(e):
                return
            raise PowerError(str(e)) from None
        finally:
            conn.close()
        if (result.exit_status or 0) > 0:   # negative: killed by a signal as the OS went down
            why = (result.stderr or result.stdout).strip().splitlines() or [f"exit {result.exit_status}"]
            raise PowerError(f"node {name}: shutdown command failed: {why[-1]}")

    async def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
