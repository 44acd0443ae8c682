"""SSH as power control needs it: command runners on controllers, reachability, OS shutdown.

Built on collectors.transport (one connection per controller, reused); the OS shutdown is
console.runcmd.run_once, the one fresh-login-one-command helper. Reachability is a fresh login
each time: a connection opened before the node went down can outlive its sshd, so only a new
login tells whether the node answers now.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Protocol

import asyncssh

from collectors import transport
from collectors.model import NodeTarget
from console.power.base import CommandResult, PowerError, Runner
from console.runcmd import run_once

Connect = Callable[[NodeTarget], Awaitable[asyncssh.SSHClientConnection]]


class Run(Protocol):
    """collectors.transport.run's shape: one command on a connection."""

    def __call__(self, conn: asyncssh.SSHClientConnection, command: str, timeout: float, *,
                 node: str | None = None) -> Awaitable[transport.CommandResult]: ...


class SshAccess:
    def __init__(self, targets: Mapping[str, NodeTarget], connect: Connect = transport.connect,
                 run: Run = transport.run):
        self.targets = dict(targets)
        self._connect, self._run = connect, run
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def target(self, name: str) -> NodeTarget:
        if name not in self.targets:
            raise PowerError(f"node {name}: not in the config, so roost cannot reach it over SSH")
        return self.targets[name]

    async def _conn(self, name: str) -> asyncssh.SSHClientConnection:
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
        except (TimeoutError, transport.TransportError, OSError):
            return False
        conn.close()
        return True

    async def shutdown(self, name: str, command: str, timeout: float = 15.0) -> None:
        """Ask the node's OS to power itself down. A dropped connection is success (the node is
        going); a refusal (sudo wants a password, command missing) is a PowerError."""
        reply = await run_once(self.target(name), command, timeout)
        if not reply.connected:
            raise PowerError(f"{name}: {reply.error}; not reachable for a clean shutdown "
                             f"(use --hard to cut power)")
        if reply.error:
            if "timed out" in reply.error or "connection lost" in reply.error:
                return
            raise PowerError(f"{name}: {reply.error}")
        if (reply.exit_status or 0) > 0:   # negative: killed by a signal as the OS went down
            why = ((reply.stderr or reply.stdout).strip().splitlines()
                   or [f"exit {reply.exit_status}"])
            raise PowerError(f"node {name}: shutdown command failed: {why[-1]}")

    async def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
