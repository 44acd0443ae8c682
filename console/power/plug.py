"""Smart plugs over their local HTTP APIs: Tasmota, Shelly Gen1, Shelly Gen2+ (RPC).

    tasmota      GET /cm?cmnd=Power1%20On          -> {"POWER1":"ON"}   (single relay: "POWER")
                 with a web password: &user=..&password=.. (Tasmota's own scheme; 401 otherwise)
    shelly1      GET /relay/0?turn=on              -> {"ison":true,...}  HTTP basic auth
    shelly2      GET /rpc/Switch.Set?id=0&on=true  -> {"was_on":false}   HTTP digest auth (SHA-256)
                 GET /rpc/Switch.GetStatus?id=0    -> {"id":0,"output":true,...}
A plug cuts a whole power supply: mark nodes sharing one plug with shared = true.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.power import credentials, http
from console.power.base import Channel, Driver, PowerState
from console.power.credentials import Secret
from console.power.http import Json
from console.power.spec import Field, Spec

if TYPE_CHECKING:
    import httpx

    from console.power.registry import Context

VIA = False   # reached from the console's host, never through a controller

FIELDS = {
    "url": Field(str, required=True, doc="plug base URL, e.g. http://10.0.0.30"),
    "model": Field(str, required=True, choices=("tasmota", "shelly1", "shelly2")),
    "relay": Field(int, default=None, lo=0, hi=31,
                   doc="relay/switch: Tasmota counts from 1, Shelly from 0 (default: the first)"),
    **credentials.FIELDS,
    **http.FIELDS,
}


Params = dict[str, str | int]    # an HTTP query


class PlugDriver(Driver):
    kind = "plug"

    def __init__(self, node: str, spec: Spec, client: httpx.AsyncClient,
                 password: Secret | None):
        super().__init__(node)
        self.spec, self.client, self.url = spec, client, spec["url"].rstrip("/")
        self.model, self._password = spec["model"], password
        first = 1 if self.model == "tasmota" else 0
        self.relay = first if spec.get("relay") is None else spec["relay"]
        if self.model == "tasmota" and self.relay == 0:
            raise spec.fail("relay", "Tasmota relays count from 1")

    @property
    def channel(self) -> Channel:
        return ("plug", self.url, self.relay)

    def describe(self) -> str:
        return f"{self.model} plug {self.url} relay {self.relay}"

    async def _get(self, path: str, params: Params) -> Json:
        async with http.http_errors(self.error, f"plug {self.url}", self.spec["timeout"]):
            r = await self.client.get(path, params=params)
        if r.status_code in (401, 403):
            raise self.error(f"plug {self.url}: HTTP {r.status_code}: wrong user or password")
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400 or not isinstance(body, dict):
            detail = body.get("message") if isinstance(body, dict) else r.text.strip()[:100]
            raise self.error(f"plug {self.url}: {path}: HTTP {r.status_code}: {detail}")
        return body

    # ---- Tasmota
    def _tasmota_params(self, command: str) -> Params:
        params: Params = {"cmnd": command}
        if self._password is not None:
            params.update(user=self.spec.get("user", "admin"), password=self._password.reveal())
        return params

    async def _tasmota(self, arg: str = "") -> PowerState:
        body = await self._get("/cm", self._tasmota_params(f"Power{self.relay} {arg}".strip()))
        if body.get("Command") == "Unknown":
            raise self.error(f"plug {self.url}: Tasmota does not know Power{self.relay} (no such relay?)")
        value = body.get(f"POWER{self.relay}", body.get("POWER") if self.relay == 1 else None)
        return {"ON": PowerState.ON, "OFF": PowerState.OFF}.get(str(value), PowerState.UNKNOWN)

    # ---- Shelly
    async def _shelly1(self, turn: str | None = None) -> PowerState:
        body = await self._get(f"/relay/{self.relay}", {"turn": turn} if turn else {})
        return PowerState.ON if body.get("ison") else PowerState.OFF

    async def _shelly2(self, on: bool | None = None) -> PowerState:
        if on is not None:
            await self._get("/rpc/Switch.Set", {"id": self.relay, "on": "true" if on else "false"})
        body = await self._get("/rpc/Switch.GetStatus", {"id": self.relay})
        return PowerState.ON if body.get("output") else PowerState.OFF

    async def _switch(self, on: bool | None) -> PowerState:
        if self.model == "tasmota":
            return await self._tasmota("" if on is None else ("On" if on else "Off"))
        if self.model == "shelly1":
            return await self._shelly1(None if on is None else ("on" if on else "off"))
        return await self._shelly2(on)

    async def status(self) -> PowerState:
        return await self._switch(None)

    async def on(self) -> None:
        if await self._switch(True) is not PowerState.ON:
            raise self.error(f"plug {self.url}: switched on but reports off")

    async def off(self) -> None:
        if await self._switch(False) is not PowerState.OFF:
            raise self.error(f"plug {self.url}: switched off but reports on")

    async def close(self) -> None:
        await self.client.aclose()


def _auth(model: str, user: str | None, password: Secret | None) -> httpx.Auth | None:
    import httpx
    if password is None or model == "tasmota":
        return None
    if model == "shelly1":
        return httpx.BasicAuth(user or "admin", password.reveal())
    return httpx.DigestAuth(user or "admin", password.reveal())


def build(node: str, spec: Spec, ctx: Context) -> PlugDriver:
    if not spec["url"].startswith(("http://", "https://")):
        raise spec.fail("url", f"expected an http:// or https:// URL, got {spec['url']!r}")
    password = credentials.password(spec, ctx.env, required=False)
    client = http.client(spec, spec["url"], _auth(spec["model"], spec.get("user"), password))
    return PlugDriver(node, spec, client, password)
