"""The way to the head's Job API: an SSH forward over the head node's connection.

Ray's dashboard serves the Job API without authentication: whoever reaches it runs code on the
cluster. roost starts it on the head's loopback only (--dashboard-host=127.0.0.1) and reaches it
through asyncssh's forward from a UNIX socket in a private (0700) directory on this machine, so
no TCP port opens anywhere, not even on this host's loopback where other local users could
connect. httpx talks HTTP over that socket; each HTTP connection is one direct-tcpip channel.
"""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncssh

from collectors.transport import TransportError
from console.errors import RoostError

Connect = Callable[[], Awaitable[asyncssh.SSHClientConnection]]
TIMEOUT = 30.0                        # seconds per HTTP request (connect: 10)


class TunnelError(RoostError):
    """The head cannot be reached; one line."""


class RayTunnel:
    """Opened on first use; reopened after its SSH connection went away.

    connect: a zero-argument coroutine function giving the head's SSH connection.
    owned: close that connection with the tunnel (False for the console fleet's shared one).
    """

    def __init__(self, head: str, connect: Connect, port: int, *, owned: bool = True):
        self.head, self.port, self._connect, self._owned = head, port, connect, owned
        self._conn: asyncssh.SSHClientConnection | None = None
        self._listener: asyncssh.SSHListener | None = None
        self._dir: str | None = None
        self._http = None                     # httpx.AsyncClient (imported on first use)
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        return f"{self.head}:127.0.0.1:{self.port}"

    async def http(self):
        """The HTTP client through the forward (opening it, or reopening a dead one)."""
        async with self._lock:
            if self._http is not None and self._conn is not None and \
                    not self._conn.is_closed():
                return self._http
            await self._teardown()
            return await self._open()

    async def _open(self):
        import httpx  # lazily: httpx pulls rich in when it is installed (headless CLI)
        try:
            self._conn = await self._connect()
        except TransportError as exc:
            raise TunnelError(f"Ray head {exc}") from None
        self._dir = tempfile.mkdtemp(prefix="roost-ray-")      # mode 0700
        path = str(Path(self._dir) / "api")
        try:
            self._listener = await self._conn.forward_local_path_to_port(path, "127.0.0.1",
                                                                         self.port)
        except (asyncssh.Error, OSError) as exc:
            await self._teardown()
            raise TunnelError(f"Ray head {self.head}: cannot forward to its dashboard port "
                              f"{self.port}: {exc}") from None
        self._http = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=path),
                                       base_url="http://ray-head",
                                       timeout=httpx.Timeout(TIMEOUT, connect=10.0))
        return self._http

    async def reset(self) -> None:
        """Drop the forward (the next call reopens it), e.g. after the head went away."""
        async with self._lock:
            await self._teardown()

    async def _teardown(self) -> None:
        http, listener, conn, folder = self._http, self._listener, self._conn, self._dir
        self._http = self._listener = self._conn = self._dir = None
        if http is not None:
            await http.aclose()
        if listener is not None:
            listener.close()
        if conn is not None and self._owned:
            conn.close()
            try:
                await asyncio.wait_for(conn.wait_closed(), 5.0)
            except (TimeoutError, OSError, asyncssh.Error):
                pass
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    async def close(self) -> None:
        await self.reset()
