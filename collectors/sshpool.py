"""SSH opened on demand: a pool of connections with a cap and an idle timeout.

When the fleet is read from Prometheus, nothing holds a connection to every node: `run`, the
scheduler's chosen nodes and other one-off work ask the pool, which connects (host keys
verified as collectors.transport does), lends the connection, and closes it after `idle`
seconds without use. At most `cap` connections are open: a new one first closes the least
recently used idle one, and waits (up to the caller's timeout) while all are busy. Two callers
wanting the same node share one handshake. A dead connection is replaced on the next use.

    pool = SshPool(target_of, cap=32, idle=60)
    result = await pool.run("n7", "uptime", timeout=10)
    async with pool.lease("n7") as conn: ...
    await pool.close()
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import asyncssh

from collectors import transport
from collectors.model import NodeTarget
from collectors.transport import CommandResult, TransportError


@dataclass(slots=True)
class _Entry:
    conn: asyncssh.SSHClientConnection | None = None
    opening: asyncio.Future[None] | None = None
    users: int = 0
    used: float = field(default_factory=time.monotonic)


class SshPool:
    def __init__(self, target_of: Callable[[str], NodeTarget | None], *, cap: int = 32,
                 idle: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.target_of, self.cap, self.idle, self.clock = target_of, cap, idle, clock
        self._entries: dict[str, _Entry] = {}
        self._room = asyncio.Condition()
        self._reaper: asyncio.Task[None] | None = None
        self.opened = 0          # connections made so far (how on-demand it really was)

    # ---- public --------------------------------------------------------------------------
    def held(self) -> list[str]:
        """Nodes with an open connection now."""
        return [n for n, e in self._entries.items() if e.conn is not None]

    async def run(self, node: str, command: str, timeout: float) -> CommandResult:
        async with asyncio.timeout(timeout):
            async with self.lease(node) as conn:
                return await transport.run(conn, command, timeout, node=node)

    @contextlib.asynccontextmanager
    async def lease(self, node: str) -> AsyncIterator[asyncssh.SSHClientConnection]:
        """The node's connection, opened if need be; returned to the pool on exit."""
        entry = await self._acquire(node)
        assert entry.conn is not None      # _acquire returns an opened entry
        try:
            yield entry.conn
        finally:
            entry.users -= 1
            entry.used = self.clock()
            async with self._room:
                self._room.notify_all()

    async def connection(self, node: str) -> asyncssh.SSHClientConnection:
        """A connection for a long-lived user (the job scheduler's link): counted in the cap
        and held (never reaped as idle nor closed to make room) until the caller closes it;
        it then leaves the pool on the next use or reap."""
        entry = await self._acquire(node)
        assert entry.conn is not None      # _acquire returns an opened entry
        return entry.conn

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
            self._reaper = None
        for entry in self._entries.values():
            if entry.conn is not None:
                entry.conn.close()
        self._entries.clear()

    # ---- inside --------------------------------------------------------------------------
    async def _acquire(self, node: str) -> _Entry:
        self._start_reaper()
        while True:
            entry = self._entries.get(node)
            if entry is not None and entry.conn is not None and not entry.conn.is_closed():
                entry.users += 1
                return entry
            if entry is not None and entry.opening is not None:
                await asyncio.shield(entry.opening)   # someone else's handshake: share it
                continue
            if await self._reserve(node):
                return await self._open(node)

    async def _reserve(self, node: str) -> bool:
        """Make room under the cap and claim the node's handshake (False: another caller
        claimed it meanwhile; share theirs)."""
        async with self._room:
            while self._open_count(node) >= self.cap:
                victim = self._least_recent_idle(node)
                if victim is not None:
                    self._discard(victim)
                    break
                await self._room.wait()
            entry = self._entries.get(node)
            if entry is not None and (entry.opening is not None or
                                      (entry.conn is not None and not entry.conn.is_closed())):
                return False
            if entry is not None and entry.conn is not None:
                entry.conn.close()
            self._entries[node] = _Entry(opening=asyncio.get_running_loop().create_future())
            return True

    def _open_count(self, node: str) -> int:
        return sum(1 for n, e in self._entries.items() if n != node and
                   (e.opening or (e.conn is not None and not e.conn.is_closed())))

    def _least_recent_idle(self, node: str) -> str | None:
        idle = [(e.used, n) for n, e in self._entries.items()
                if n != node and e.opening is None and
                (e.users == 0 or (e.conn is not None and e.conn.is_closed()))]
        return min(idle)[1] if idle else None

    async def _open(self, node: str) -> _Entry:
        entry = self._entries[node]
        try:
            target = self.target_of(node)
            if target is None:
                raise TransportError(node, "no SSH settings for this node (not in roost.toml, "
                                           "inventory or ssh_config)")
            entry.conn = await transport.connect(target)
            self.opened += 1
        except BaseException:
            if self._entries.get(node) is entry:
                del self._entries[node]
            raise
        finally:
            if entry.opening is not None:
                entry.opening.set_result(None)
            entry.opening = None
            async with self._room:
                self._room.notify_all()
        entry.users += 1
        return entry

    def _discard(self, node: str) -> None:
        entry = self._entries.pop(node, None)
        if entry is not None and entry.conn is not None:
            entry.conn.close()

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap(), name="sshpool:reaper")

    async def _reap(self) -> None:
        """Close connections idle for `idle` seconds (and forget dead ones)."""
        while True:
            await asyncio.sleep(min(5.0, self.idle / 2))
            now = self.clock()
            for node, e in list(self._entries.items()):
                dead = e.conn is not None and e.conn.is_closed()
                if e.opening is None and (dead or (e.users == 0 and now - e.used >= self.idle)):
                    self._discard(node)
            async with self._room:
                self._room.notify_all()
