"""A small async client for the Prometheus HTTP API: instant and range queries over httpx.

It speaks to Prometheus and to what serves the same API (Thanos Query, Mimir, VictoriaMetrics).
Queries go as POST forms (a long selector never meets a URL length limit). Auth is a bearer
token or basic auth handed in as values (read by the caller from an environment variable or a
0600 file; never logged, never in a message); TLS verifies against the system store, a CA
file, or (insecure) not at all. Every failure is a PromError whose text is one line without the
secret. A query over its timeout is cancelled, never left running beside the next one.
httpx is imported when a client is made: importing it pulls in rich (its CLI), and the data
plane stays free of UI libraries until something really speaks HTTP.
"""
from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from collectors.errors import RoostError

MAX_BODY = 64 * 1024 * 1024     # a reply this big is a selector gone wrong, not a fleet

# One thread for the CPU work a tick brings (decoding replies, assembling the fleet): each
# Python thread that computes takes turns with the event loop for the GIL, and three decodes at
# once (asyncio.to_thread's pool) doubled what a key waited meanwhile at 3,000 nodes (p50 23-33
# -> 53-63 ms, bench: one assembly thread against three). In turn, one after another.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prom-work")
_T = TypeVar("_T")


async def off_loop(fn: Callable[..., _T], *args: Any) -> _T:
    """fn(*args) in the one worker thread (a tick's decoding and assembly queue there)."""
    return await asyncio.get_running_loop().run_in_executor(_WORKER, fn, *args)


class PromError(RoostError):
    """A query that gave no usable answer; str() is one line."""


class PromTimeout(PromError):
    """No answer within the timeout: the server may be up but slow (or silent)."""


class PromRefused(PromError):
    """The API answered with an error (a bad query, a limit): the server is up."""


@dataclass(frozen=True, slots=True)
class Series:
    """One element of an instant vector."""
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class RangeSeries:
    """One element of a range query's matrix: (unix time, value) points, oldest first."""
    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


class Credentials:
    """A bearer token or basic auth, kept out of repr() and messages."""
    __slots__ = ("_token", "_basic")

    def __init__(self, token: str | None = None, basic: tuple[str, str] | None = None):
        self._token, self._basic = token, basic

    def apply(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self._token:
            kwargs.setdefault("headers", {})["Authorization"] = f"Bearer {self._token}"
        if self._basic:
            import httpx
            kwargs["auth"] = httpx.BasicAuth(*self._basic)
        return kwargs

    def __repr__(self) -> str:
        kind = "token" if self._token else "basic" if self._basic else "none"
        return f"Credentials({kind}, ***)"


class PromClient:
    """One keep-alive HTTP client for a Prometheus API at url (http(s)://host:port[/prefix])."""

    def __init__(self, url: str, *, credentials: Credentials | None = None,
                 verify: bool | str = True, transport: Any = None):
        import httpx
        self._errors = (httpx.TimeoutException, httpx.HTTPError)
        self.url = url.rstrip("/")
        options = (credentials or Credentials()).apply(
            {"base_url": self.url, "verify": verify, "timeout": 30.0, "follow_redirects": False,
             "limits": httpx.Limits(max_connections=16, max_keepalive_connections=16)})
        if transport is not None:
            options["transport"] = transport
        self._http = httpx.AsyncClient(**options)

    async def instant(self, expr: str, at: float | None = None, timeout: float = 10.0) -> list[Series]:
        form = {"query": expr, "timeout": f"{max(1, int(timeout * 1000))}ms"}
        if at is not None:
            form["time"] = f"{at:.3f}"
        reply = await self._send("/api/v1/query", form, timeout)
        # decoded in a thread: a fleet's reply is megabytes of JSON (the console stays responsive)
        return await off_loop(_vector, self.url, reply)

    async def range(self, expr: str, start: float, end: float, step: float,
                    timeout: float = 10.0) -> list[RangeSeries]:
        form = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                "step": f"{max(step, 0.001):.3f}", "timeout": f"{max(1, int(timeout * 1000))}ms"}
        data = await self._post("/api/v1/query_range", form, timeout)
        if data.get("resultType") != "matrix":
            raise PromError(f"expected a range matrix, got {data.get('resultType')!r}")
        return [RangeSeries(r["metric"], tuple((float(t), _float(v)) for t, v in r["values"]))
                for r in data["result"]]

    async def _post(self, path: str, form: dict[str, str], timeout: float) -> dict[str, Any]:
        return _data(self.url, await self._send(path, form, timeout))

    async def _send(self, path: str, form: dict[str, str], timeout: float) -> Any:
        try:
            return await self._http.post(path, data=form, timeout=timeout)
        except self._errors[0]:
            raise PromTimeout(f"{self.url}: no answer within {timeout:g} s") from None
        except self._errors[1] as exc:
            raise PromError(f"{self.url}: {_reason(exc)}") from None

    async def aclose(self) -> None:
        await self._http.aclose()


def _vector(url: str, reply: Any) -> list[Series]:
    data = _data(url, reply)
    if data.get("resultType") != "vector":
        raise PromError(f"expected an instant vector, got {data.get('resultType')!r}")
    return [Series(r["metric"], _float(r["value"][1])) for r in data["result"]]


def _data(url: str, reply: Any) -> dict[str, Any]:
    if len(reply.content) > MAX_BODY:
        raise PromError(f"{url}: reply of {len(reply.content):,} bytes (narrow the selector)")
    try:
        body: Any = json.loads(reply.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PromError(f"{url}: HTTP {reply.status_code}, not the Prometheus API "
                        f"({_snippet(reply.text)})")
    if body.get("status") != "success":
        kind = PromTimeout if body.get("errorType") == "timeout" else PromRefused
        raise kind(f"{url}: HTTP {reply.status_code}: {body.get('errorType', 'error')}: "
                        f"{_snippet(str(body.get('error', '')))}")
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        raise PromError(f"{url}: HTTP {reply.status_code}: no result in the reply")
    return data


def _float(text: str) -> float:
    """Prometheus writes values as strings, "NaN" and "+Inf" included."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _reason(exc: Exception) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or (str(cause) if cause else "") or type(exc).__name__
    return _snippet(text)


def _snippet(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    flat = "".join(c for c in flat if c.isprintable())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"
