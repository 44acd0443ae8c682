"""HTTP/1.1 on an asyncio event loop, for roost's own endpoints (the Prometheus targets).

Small on purpose: GET and HEAD, keep-alive, pipelining, Content-Length bodies read past, bare
LF line ends accepted (RFC 9112 lets a server take hand-typed requests). A request's reply is
made on the loop, or in a worker thread when the router says it is heavy; replies go out in
request order. A client that stops reading its replies has its connection paused, never the
endpoint. http.server costs a thread per connection and a handover of the interpreter lock per
request, about as much as rendering a node's target; this costs neither.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Protocol

from ..errors import RoostError

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024      # a request line and headers (Prometheus sends ~300 bytes)
MAX_BODY = 64 * 1024      # a GET has none; a body is read past, never kept
MAX_UNREAD = 1 << 20      # pipelined bytes buffered before reading pauses


class BadRequest(RoostError):
    """What makes bytes not an HTTP/1.x request: answered with status, then the connection closes."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]      # lower-case names; a repeated header's last value
    keep_alive: bool


def parse_request(buffer: bytes | bytearray) -> tuple[Request, int] | None:
    """The first request in buffer and how many bytes it took (head and any body), or None while
    it is incomplete. BadRequest when the bytes cannot be an HTTP/1.0 or 1.1 request."""
    end, blank = _head_end(buffer)
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise BadRequest(431, "request head too large")
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\n")
    method, target, version = _request_line(lines[0].removesuffix("\r"))
    headers = _headers([line.removesuffix("\r") for line in lines[1:]])
    size = end + blank + _body_length(headers)
    if len(buffer) < size:
        return None
    return Request(method, target, headers, _keep_alive(version, headers)), size


def _head_end(buffer: bytes | bytearray) -> tuple[int, int]:
    """Where the head's last line ends (before its line feed), and the bytes from there to the
    end of the empty line after it (lines end in CRLF, or a bare LF as RFC 9112 lets a server
    accept from hand-typed requests); (-1, 0) while there is no empty line."""
    crlf = buffer.find(b"\n\r\n", 0, MAX_HEAD + 3)
    lf = buffer.find(b"\n\n", 0, MAX_HEAD + 2)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, 2
    return (crlf, 3) if crlf >= 0 else (-1, 0)


def _request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise BadRequest(400, "bad request line")
    if parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(505, "HTTP/1.0 and HTTP/1.1 only")
    return parts[0], parts[1], parts[2]


def _headers(lines: list[str]) -> dict[str, str]:
    headers = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or name[0] in " \t":
            raise BadRequest(400, "bad header line")
        headers[name.lower()] = value.strip(" \t")
    return headers


def _body_length(headers: dict[str, str]) -> int:
    if "transfer-encoding" in headers:
        raise BadRequest(411, "a request body needs a Content-Length")
    length = headers.get("content-length", "0")
    if not length.isdigit() or not length.isascii():
        raise BadRequest(400, "bad Content-Length")
    if int(length) > MAX_BODY:
        raise BadRequest(413, "request body too large")
    return int(length)


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    return "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens


Reply = tuple[int, bytes, str, bool]    # (status, body, Content-Type, body is gzip)
TEXT = "text/plain; charset=utf-8"


class Router(Protocol):
    def heavy(self, request: Request) -> bool:
        """True when the reply is slow to make (walks a whole fleet, reads a database): it is
        then made in a worker thread, and the loop serves other connections meanwhile."""

    def reply(self, request: Request) -> Reply:
        """The reply to request; may raise (the client then gets a 500, the log the trace)."""


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            411: "Length Required", 413: "Content Too Large", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 503: "Service Unavailable",
            505: "HTTP Version Not Supported"}


def response_head(status: int, ctype: str, length: int, zipped: bool, close: bool) -> bytes:
    return "".join((
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\nServer: roost\r\n",
        f"Date: {_http_date()}\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n",
        "Content-Encoding: gzip\r\n" if zipped else "",
        "Connection: close\r\n" if close else "", "\r\n")).encode("latin-1")


_DATE: list[Any] = [0, ""]    # (second, its HTTP date): one formatting a second, not a request


def _http_date() -> str:
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = now, formatdate(now, usegmt=True)
    return str(_DATE[1])


class _Connection(asyncio.Protocol):
    """One client's keep-alive connection: requests answered in order, one at a time. Reading
    pauses while the client does not read its replies, or has pipelined MAX_UNREAD bytes."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint, self.router = endpoint, endpoint.router
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False        # a reply is being made in a thread
        self.blocked = False     # the client is not reading what it was sent

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.endpoint.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.endpoint.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._pump()

    def pause_writing(self) -> None:
        self.blocked = True

    def resume_writing(self) -> None:
        self.blocked = False
        self._pump()

    def _pump(self) -> None:
        while self.transport is not None and not self.busy and not self.blocked:
            try:
                got = parse_request(self.buffer)
            except BadRequest as exc:
                self._answer(None, (exc.status, f"{exc}\n".encode(), TEXT, False))
                return
            if got is None:
                self._flow()
                return
            request, size = got
            del self.buffer[:size]
            if self.router.heavy(request):
                self._in_thread(request)
            else:
                self._answer(request, self._reply(request))
        self._flow()

    def _flow(self) -> None:
        if self.transport is None:
            return
        if len(self.buffer) > MAX_UNREAD or self.busy or self.blocked:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _in_thread(self, request: Request) -> None:
        self.busy = True
        future = asyncio.get_running_loop().run_in_executor(None, self._reply, request)
        future.add_done_callback(lambda done: self._made(request, done.result()))

    def _made(self, request: Request, reply: Reply) -> None:
        self.busy = False
        self._answer(request, reply)
        self._pump()

    def _reply(self, request: Request) -> Reply:
        try:
            return self.router.reply(request)
        except Exception:   # a bug in a render: that request fails, the endpoint serves on
            log.exception("HTTP endpoint: %s failed", request.target[:200])
            return 500, b"internal error (see roost's log)\n", TEXT, False

    def _answer(self, request: Request | None, reply: Reply) -> None:
        if self.transport is None:
            return
        status, body, ctype, zipped = reply
        close = request is None or not request.keep_alive
        head = response_head(status, ctype, len(body), zipped, close)
        self.transport.write(head if request is not None and request.method == "HEAD" else head + body)
        if close:
            self.transport.close()
            self.transport = None


class Endpoint:
    """A router served on an event loop; close() stops listening and ends its connections."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.connections: set[_Connection] = set()
        self.server: asyncio.AbstractServer | None = None
        self.server_port = 0

    async def listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Connection(self), host, port,
                                               reuse_address=True)
        self.server_port = self.server.sockets[0].getsockname()[1]
        self.address = f"[{host}]:{self.server_port}" if ":" in host else f"{host}:{self.server_port}"

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()


async def start(router: Router, host: str, port: int) -> Endpoint:
    """Serve router on the running event loop. OSError when the address is taken."""
    endpoint = Endpoint(router)
    await endpoint.listen(host, port)
    return endpoint


class ThreadedEndpoint:
    """An endpoint on an event loop of its own in a daemon thread, for callers without a loop."""

    def __init__(self, router: Router, host: str, port: int, name: str = "roost-http") -> None:
        self.loop = asyncio.new_event_loop()
        self.ready: Future[Endpoint] = Future()
        self.thread = threading.Thread(target=self._run, args=(router, host, port), name=name,
                                       daemon=True)
        self.thread.start()
        self.endpoint = self.ready.result()     # the OSError of a taken port, raised here
        self.server_port = self.endpoint.server_port

    def _run(self, router: Router, host: str, port: int) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.ready.set_result(self.loop.run_until_complete(start(router, host, port)))
        except BaseException as exc:   # noqa: BLE001 - handed to the caller's thread
            self.ready.set_exception(exc)
            self.loop.close()
            return
        self.loop.run_forever()
        self.endpoint.close()
        self.loop.run_until_complete(asyncio.sleep(0))   # let the transports close
        self.loop.close()

    def shutdown(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    server_close = shutdown     # http.server's spelling, for callers of either


