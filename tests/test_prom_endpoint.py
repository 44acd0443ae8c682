"""The Prometheus endpoint's HTTP/1.1 on an event loop (sinks.http11 under prom_http.start and
serve): the request
parser against any request and any split of its bytes, and the connection's habits with real
clients (http.client, curl, raw sockets): keep-alive, pipelining, HEAD, Connection: close,
HTTP/1.0, bad and oversized requests, a failing render, and a slow fleet page that must not hold
a node's scrape."""
from __future__ import annotations

import asyncio
import http.client
import re
import shutil
import socket
import subprocess
import threading
import time
from types import MappingProxyType

import pytest
from hypothesis import given, settings, strategies as st

from collectors.model import CpuTimes, LoadAvg, Memory, Sample
from collectors.sinks.http11 import MAX_HEAD, BadRequest, parse_request
from collectors.sinks.prom_http import Exposition, TargetInfo, serve, start
from tests.conftest import need


def sample(node: str) -> Sample:
    return Sample(node, time.time(), node_clock=time.time(), load=LoadAvg(0.5, 0.25, 0.125),
                  cpus=(CpuTimes("0", 1.0, 0, 2, 30),),
                  memory=Memory(MappingProxyType({"MemTotal": 4096.0})))


# ---------------------------------------------------------------- the parser

token = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-0123456789"), min_size=1, max_size=12)
value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), max_size=20)
path = st.lists(token, max_size=4).map(lambda parts: "/" + "/".join(parts))


@st.composite
def requests(draw) -> tuple[bytes, str, str, dict[str, str], bool]:
    method = draw(st.sampled_from(["GET", "HEAD", "POST", "DELETE"]))
    target = draw(path)
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    headers = draw(st.dictionaries(token.filter(lambda t: t not in (
        "content-length", "transfer-encoding", "connection")), value, max_size=5))
    connection = draw(st.sampled_from([None, "close", "keep-alive", "Keep-Alive, Upgrade"]))
    body = draw(st.binary(max_size=40))
    lines = [f"{method} {target} {version}"] + [f"{k}: {v}" for k, v in headers.items()]
    if connection:
        lines.append(f"Connection: {connection}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    keep = ("keep-alive" in (connection or "").lower()) if version == "HTTP/1.0" \
        else connection != "close"
    return raw, method, target, headers, keep


@settings(max_examples=300, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=4), st.data())
def test_pipelined_requests_parse_whole_and_in_order_at_any_split(reqs, data):
    stream = b"".join(r[0] for r in reqs)
    cut = data.draw(st.integers(0, len(stream)))
    buffer = bytearray(stream[:cut])
    got = []
    for chunk in (stream[cut:], b""):
        buffer += chunk
        while (parsed := parse_request(buffer)) is not None:
            request, size = parsed
            got.append(request)
            del buffer[:size]
    assert not buffer
    for (_, method, target, headers, keep), request in zip(reqs, got, strict=True):
        assert (request.method, request.target, request.keep_alive) == (method, target, keep)
        assert all(request.headers[k.lower()] == v.strip(" \t") for k, v in headers.items())


@settings(max_examples=300, deadline=None)
@given(requests())
def test_a_request_is_incomplete_until_its_last_byte(req):
    raw = req[0]
    for end in range(len(raw)):
        assert parse_request(raw[:end]) is None
    assert parse_request(raw) is not None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_is_incomplete_or_a_bad_request_never_an_error(junk):
    try:
        parse_request(junk + b"\r\n\r\n")
    except BadRequest as exc:
        assert exc.status in (400, 411, 413, 505)


@pytest.mark.parametrize(("raw", "status"), [
    (b"GET /\r\n\r\n", 400),                                   # HTTP/0.9
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\n no-name\r\n\r\n", 400),               # obsolete line folding
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
])
def test_bad_requests_say_why(raw, status):
    with pytest.raises(BadRequest) as caught:
        parse_request(raw)
    assert caught.value.status == status


def test_an_endless_head_is_refused_once_it_passes_the_limit():
    assert parse_request(b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD - 30)) is None
    with pytest.raises(BadRequest) as caught:
        parse_request(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD)
    assert caught.value.status == 431


# ---------------------------------------------------------------- over real sockets

class Fleet:
    def __init__(self) -> None:
        self.samples = {"n1": sample("n1"), "n2": sample("n2")}
        self.up = {"n1": True, "n2": True}

    def view(self):
        return dict(self.samples), dict(self.up)


@pytest.fixture
def endpoint():
    fleet = Fleet()
    exposition = Exposition(fleet.view, lambda: [TargetInfo("n1"), TargetInfo("n2")])
    server, _ = serve(exposition, "127.0.0.1", 0)
    yield server.server_port, fleet, exposition
    server.shutdown()


def raw_exchange(port: int, payload: bytes) -> bytes:
    """Send payload, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    return b"".join(chunks)


def test_keep_alive_serves_many_requests_on_one_connection(endpoint):
    port, _, _ = endpoint
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(3):
        for node in ("n1", "n2"):
            conn.request("GET", f"/nodes/{node}/metrics")
            reply = conn.getresponse()
            assert reply.status == 200 and b"node_load1 0.5" in reply.read()
    sock = conn.sock
    conn.request("HEAD", "/nodes/n1/metrics")
    reply = conn.getresponse()
    assert reply.status == 200 and int(reply.headers["Content-Length"]) > 100
    assert reply.read() == b"" and conn.sock is sock      # still the first connection
    assert reply.headers["Date"].endswith("GMT")


def test_pipelined_requests_are_answered_in_order_then_close_honoured(endpoint):
    port, _, _ = endpoint
    payload = (b"GET /nodes/n2/metrics HTTP/1.1\r\nHost: a\r\n\r\n"
               b"GET /nodes/nope/metrics HTTP/1.1\r\nHost: a\r\n\r\n"
               b"GET /sd HTTP/1.1\r\nHost: where.example:1\r\n\r\n"
               b"GET /nodes/n1/metrics HTTP/1.1\r\nConnection: close\r\n\r\n"
               b"GET /nodes/n1/metrics HTTP/1.1\r\n\r\n")           # after close: never answered
    replies = raw_exchange(port, payload)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) [A-Za-z ]+\r\nServer: roost\r\n", replies)
    assert statuses == [b"200", b"404", b"200", b"200"]
    assert replies.index(b"no such node") < replies.index(b"where.example:1")
    assert b"Connection: close" in replies


def test_http_1_0_and_bare_line_feeds_close_after_their_reply(endpoint):
    """raw_exchange reads until the server closes: a kept connection would time out."""
    port, _, _ = endpoint
    reply = raw_exchange(port, b"GET /nodes/n1/metrics HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and b"\nnode_load1 0.5\n" in reply
    reply = raw_exchange(port, b"GET /nodes/n1/metrics HTTP/1.0\nHost: x\n\n")   # printf | nc
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and b"\nnode_load1 0.5\n" in reply


def test_a_bad_request_gets_one_line_and_the_connection_closes(endpoint):
    port, _, _ = endpoint
    reply = raw_exchange(port, b"GARBAGE\r\n\r\nGET /nodes/n1/metrics HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n") and reply.endswith(b"bad request line\n")
    reply = raw_exchange(port, b"DELETE /nodes/n1/metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 405 ")


def test_a_failing_render_is_a_500_and_the_endpoint_serves_on(endpoint, caplog):
    port, fleet, _ = endpoint
    fleet.samples["n2"] = "not a sample"          # type: ignore[assignment]  # a render bug
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/nodes/n2/metrics")
    reply = conn.getresponse()
    assert reply.status == 500 and b"internal error" in reply.read()
    conn.request("GET", "/nodes/n1/metrics")
    assert conn.getresponse().status == 200
    assert "/nodes/n2/metrics failed" in caplog.text


def test_curl_gets_gzip_when_it_asks(endpoint):
    need(shutil.which("curl") is not None, "curl is not installed")
    port, _, _ = endpoint
    out = subprocess.run(["curl", "-sS", "--compressed", "-D", "-",
                          f"http://127.0.0.1:{port}/nodes/n1/metrics"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert "Content-Encoding: gzip" in out and "node_load1 0.5" in out


async def test_a_slow_fleet_page_does_not_hold_a_nodes_scrape():
    """The fleet page runs in a thread: while it is stuck (its extra waits until a node's scrape
    was answered), node scrapes on the loop are served; then the fleet page completes."""
    fleet, fleet_started, node_served = Fleet(), threading.Event(), threading.Event()

    def slow_extra(families) -> None:
        fleet_started.set()
        assert node_served.wait(20), "the node scrape was held behind the fleet page"
        families.add("", "roost_test_extra", "", {}, 1)

    endpoint = await start(Exposition(fleet.view, extra=(slow_extra,)), "127.0.0.1", 0)
    try:
        fleet_page = asyncio.create_task(_get(endpoint.server_port, "/metrics"))
        assert await asyncio.to_thread(fleet_started.wait, 20)
        status, body = await _get(endpoint.server_port, "/nodes/n1/metrics")
        assert status == 200 and b"node_load1 0.5" in body
        node_served.set()
        status, body = await asyncio.wait_for(fleet_page, 20)
        assert status == 200 and b"roost_test_extra 1" in body
    finally:
        endpoint.close()


async def _get(port: int, target: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_a_client_that_stops_reading_pauses_its_connection_not_the_endpoint():
    """A client pipelining scrapes without reading them: the endpoint stops reading from it once
    its replies back up, and other clients are served meanwhile."""
    endpoint = await start(Exposition(Fleet().view), "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.server_port)
        writer.write(b"GET /nodes/n1/metrics HTTP/1.1\r\n\r\n" * 20000)
        conn = next(iter(endpoint.connections))
        for _ in range(200):
            if conn.blocked:
                break
            await asyncio.sleep(0.01)
        assert conn.blocked and len(conn.buffer) > 0       # requests wait, unparsed
        status, _ = await _get(endpoint.server_port, "/nodes/n1/metrics")
        assert status == 200
        writer.close()
    finally:
        endpoint.close()


def test_a_taken_port_is_an_oserror_from_serve():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            serve(Exposition(Fleet().view), "127.0.0.1", taken.getsockname()[1])
