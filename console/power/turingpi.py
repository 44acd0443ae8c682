"""Turing Pi 2 BMC (firmware 2.x) over its HTTP API.

    POST /api/bmc/authenticate {"username","password"} -> token (X-Auth-Token header, body "id")
    GET  /api/bmc?opt=get&type=power                   -> {"response":[{"result":[{"node1":"1",...}]}]}
    GET  /api/bmc?opt=set&type=power&node2=1           -> {"response":[{"result":"ok"}]}
    GET  /api/bmc?opt=set&type=reset&node=1            -> reset line of node 2 (0-based here!)
Errors come back with a 4xx/5xx status and the message in the same result field. Nodes are
numbered 1-4 in the config, as on the board's silkscreen. The BMC ships a self-signed
certificate: it is accepted only with verify_tls = false (or its CA in ca_file).

With use = "tpi" the vendor's `tpi` CLI does the talking instead (`tpi --json power get`,
`tpi power on --node 2`): on this host with the password passed in TPI_PASSWORD (its
environment, never argv), or with via = the BMC itself, where bmcd needs no login on loopback.
"""
from __future__ import annotations

import asyncio
import json
import os
import shlex
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from console.power import credentials, http
from console.power.base import Channel, CommandResult, Driver, PowerState
from console.power.credentials import Secret
from console.power.http import Json
from console.power.spec import Field, Spec

if TYPE_CHECKING:
    import httpx

    from console.power.registry import Context

FIELDS = {
    "url": Field(str, default="https://turingpi.local", doc="BMC base URL"),
    "node": Field(int, required=True, lo=1, hi=4, doc="slot 1-4 as printed on the board"),
    "use": Field(str, default="http", choices=("http", "tpi"), doc="the HTTP API or the tpi CLI"),
    "tpi": Field(str, default="tpi", doc="path of the tpi CLI"),
    **credentials.FIELDS,
    **http.FIELDS,
}


ArgvRunner = Callable[[list[str], float], Awaitable[CommandResult]]   # tpi's argv, timeout


class TuringPiDriver(Driver):
    kind = "turingpi"

    def __init__(self, node: str, spec: Spec, client: httpx.AsyncClient, url: str, user: str,
                 password: Secret):
        super().__init__(node)
        self.spec, self.client, self.url = spec, client, url.rstrip("/")
        self.slot, self.user, self._password = spec["node"], user, password
        self._token: str | None = None

    @property
    def channel(self) -> Channel:
        return ("turingpi", self.url, self.slot)

    def describe(self) -> str:
        return f"turingpi {self.url} node {self.slot}"

    async def _login(self) -> str:
        body = {"username": self.user, "password": self._password.reveal()}
        async with http.http_errors(self.error, f"BMC {self.url}", self.spec["timeout"]):
            r = await self.client.post("/api/bmc/authenticate", json=body)
        if r.status_code != 200:
            why = "wrong user or password" if r.status_code in (401, 403) else r.text.strip()[:120]
            raise self.error(f"BMC {self.url}: login failed: HTTP {r.status_code} ({why})")
        token = r.headers.get("X-Auth-Token") or _json(r).get("id")
        if not token:
            raise self.error(f"BMC {self.url}: login answered without a token")
        return str(token)

    async def _api(self, **query: str) -> object:
        """One /api/bmc call; logs in first and once more when the token has expired."""
        r = await self._get(query)
        if r.status_code == 401:
            self._token = None
            r = await self._get(query)
        return self._result(r, query)

    async def _get(self, query: dict[str, str]) -> httpx.Response:
        if self._token is None:
            self._token = await self._login()
        async with http.http_errors(self.error, f"BMC {self.url}", self.spec["timeout"]):
            return await self.client.get("/api/bmc", params=query,
                                         headers={"Authorization": f"Bearer {self._token}"})

    def _result(self, r: httpx.Response, query: dict[str, str]) -> object:
        try:
            result = r.json()["response"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise self.error(f"BMC {self.url}: unexpected answer to {query['type']}: HTTP "
                             f"{r.status_code} {r.text.strip()[:80]!r}") from None
        value = result.get("result", result)
        if r.status_code >= 400:
            raise self.error(f"BMC {self.url}: {query['opt']} {query['type']}: HTTP {r.status_code}: {value}")
        return value

    async def status(self) -> PowerState:
        value = await self._api(opt="get", type="power")
        states = value[0] if isinstance(value, list) and value else value
        raw = states.get(f"node{self.slot}") if isinstance(states, dict) else None
        return {"1": PowerState.ON, "0": PowerState.OFF}.get(str(raw), PowerState.UNKNOWN)

    async def _set(self, on: bool) -> None:
        value = await self._api(opt="set", type="power", **{f"node{self.slot}": "1" if on else "0"})
        if value != "ok":
            raise self.error(f"BMC {self.url}: set power answered {value!r}, expected 'ok'")

    async def on(self) -> None:
        await self._set(True)

    async def off(self) -> None:
        await self._set(False)

    async def reset(self) -> None:
        """Pulse the node's reset line (the API counts nodes from 0 here)."""
        value = await self._api(opt="set", type="reset", node=str(self.slot - 1))
        if value != "ok":
            raise self.error(f"BMC {self.url}: reset answered {value!r}, expected 'ok'")

    async def close(self) -> None:
        await self.client.aclose()


class TpiDriver(TuringPiDriver):
    """The same API through `tpi --json`, which prints the BMC's body as it came."""

    def __init__(self, node: str, spec: Spec, runner: ArgvRunner, host: str, user: str,
                 password: Secret | None):
        Driver.__init__(self, node, spec.get("via"))
        self.spec, self.url, self.slot = spec, host, spec["node"]
        self.runner, self.user, self._secret = runner, user, password

    def describe(self) -> str:
        return f"turingpi node {self.slot} via tpi" + (f" on {self.via}" if self.via else "")

    async def _api(self, **query: str) -> object:
        argv = [self.spec["tpi"], "--json"]
        if self.url:
            argv += ["--host", self.url]
        argv += ["power", "get"] if query["type"] == "power" and query["opt"] == "get" else self._args(query)
        r = await self.runner(argv, self.spec["timeout"])
        try:
            body = json.loads(r.stdout.strip().splitlines()[-1])
            result = body["response"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            why = (r.stderr or r.stdout).strip().splitlines() or [f"exit {r.exit_status}"]
            raise self.error(f"tpi {' '.join(argv[2:])}: {why[-1][:160]}") from None
        return result.get("result", result)

    def _args(self, query: dict[str, str]) -> list[str]:
        if query["type"] == "reset":   # tpi takes the API's own 0-based number here
            return ["power", "reset", "--node", query["node"]]
        on = any(v == "1" for k, v in query.items() if k.startswith("node"))
        return ["power", "on" if on else "off", "--node", str(self.slot)]

    async def close(self) -> None:
        pass


def _tpi_runner(spec: Spec, ctx: Context, user: str, password: Secret | None) -> ArgvRunner:
    """Run tpi locally with the secret in its environment, or as a command on via."""
    if spec.get("via"):
        remote = ctx.runner_for(spec["via"])

        def on_via(argv: list[str], timeout: float) -> Awaitable[CommandResult]:
            return remote(shlex.join(argv), timeout)
        return on_via

    async def run(argv: list[str], timeout: float) -> CommandResult:
        env = {**os.environ, "TPI_USERNAME": user}
        if password is not None:
            env["TPI_PASSWORD"] = password.reveal()
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return CommandResult(-1, "", f"timed out after {timeout:g}s")
        code = proc.returncode if proc.returncode is not None else -1   # set once communicate() ends
        return CommandResult(code, out.decode(errors="replace"), err.decode(errors="replace"))
    return run


def _json(r: httpx.Response) -> Json:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def build(node: str, spec: Spec, ctx: Context) -> TuringPiDriver:
    url = spec["url"]
    if spec["use"] == "tpi":
        password = credentials.password(spec, ctx.env, required=not spec.get("via"))
        user = spec.get("user", "root")
        host = "" if spec.get("via") else url.split("://", 1)[-1].rstrip("/")
        return TpiDriver(node, spec, _tpi_runner(spec, ctx, user, password), host, user, password)
    if not url.startswith(("https://", "http://")):
        raise spec.fail("url", f"expected an http:// or https:// URL, got {url!r}")
    password = credentials.password(spec, ctx.env)
    return TuringPiDriver(node, spec, http.client(spec, url), url, spec.get("user", "root"), password)
