"""Redfish BMCs: ComputerSystem.Reset with a ResetType the BMC says it allows.

The system is found under /redfish/v1/Systems (by Id or Name when the BMC has several). Allowed
reset types come from ResetType@Redfish.AllowableValues or the action's @Redfish.ActionInfo.
on()/off() return once the BMC reports the new PowerState (some apply changes seconds later).
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from console.power import credentials, http
from console.power.base import Channel, Driver, PowerState
from console.power.http import Json
from console.power.spec import Field, Spec

if TYPE_CHECKING:
    import httpx

    from console.power.registry import Context

VIA = False   # reached from the console's host, never through a controller

FIELDS = {
    "url": Field(str, required=True, doc="BMC base URL, e.g. https://10.0.0.5"),
    "system": Field(str, doc="ComputerSystem Id or Name when the BMC has several"),
    "settle": Field(float, default=60.0, lo=0, hi=900, doc="seconds to wait for the new PowerState"),
    **credentials.FIELDS,
    **http.FIELDS,
}

WANT = {  # our action -> ResetTypes that do it, best first
    "on": ("On", "ForceOn", "PushPowerButton"),
    "off": ("ForceOff", "PushPowerButton"),
    "soft": ("GracefulShutdown",),
    "cycle": ("PowerCycle", "ForceRestart"),
}


class RedfishDriver(Driver):
    kind = "redfish"
    has_soft = True

    def __init__(self, node: str, spec: Spec, client: httpx.AsyncClient, url: str):
        super().__init__(node)
        self.spec, self.client, self.url = spec, client, url.rstrip("/")
        self.system_path: str | None = None
        self.timeout, self.settle = spec["timeout"], spec["settle"]

    @property
    def channel(self) -> Channel:
        return ("redfish", self.url, self.spec.get("system"))

    def describe(self) -> str:
        return f"redfish {self.url}" + (f" system {self.spec.get('system')}" if self.spec.get("system") else "")

    async def _json(self, method: str, path: str, body: Json | None = None) -> Json:
        async with http.http_errors(self.error, f"BMC {self.url}", self.timeout):
            r = await self.client.request(method, path, json=body)
        if r.status_code >= 400:
            raise self.error(f"BMC {self.url}: {method} {path}: HTTP {r.status_code}{_message(r)}")
        answer = r.json() if r.content else {}
        if not isinstance(answer, dict):
            raise self.error(f"BMC {self.url}: {method} {path}: expected a JSON object, got "
                             f"{type(answer).__name__}")
        return answer

    async def _system(self) -> Json:
        if self.system_path is None:
            self.system_path = await self._find_system()
        return await self._json("GET", self.system_path)

    async def _find_system(self) -> str:
        members: list[str] = [str(m["@odata.id"]) for m in
                              (await self._json("GET", "/redfish/v1/Systems")).get("Members", [])]
        wanted = self.spec.get("system")
        if wanted is None:
            if len(members) != 1:
                raise self.error(f"BMC {self.url} has {len(members)} systems; set system = one of "
                                 f"{', '.join(m.rstrip('/').rsplit('/', 1)[-1] for m in members)}")
            return members[0]
        for path in members:
            if path.rstrip("/").rsplit("/", 1)[-1] == wanted:
                return path
        for path in members:
            if (await self._json("GET", path)).get("Name") == wanted:
                return path
        raise self.error(f"BMC {self.url} has no system with Id or Name {wanted!r}")

    async def status(self) -> PowerState:
        state = (await self._system()).get("PowerState")
        return {"On": PowerState.ON, "Off": PowerState.OFF}.get(str(state), PowerState.UNKNOWN)

    async def _allowed(self, system: Json) -> tuple[str, list[str]]:
        action = system.get("Actions", {}).get("#ComputerSystem.Reset")
        if not action:
            raise self.error(f"BMC {self.url}: the system offers no ComputerSystem.Reset action")
        allowed = action.get("ResetType@Redfish.AllowableValues")
        if allowed is None and action.get("@Redfish.ActionInfo"):
            info = await self._json("GET", action["@Redfish.ActionInfo"])
            allowed = next((p.get("AllowableValues") for p in info.get("Parameters", [])
                            if p.get("Name") == "ResetType"), None)
        return action["target"], list(allowed or [])

    async def _reset(self, what: str) -> None:
        target, allowed = await self._allowed(await self._system())
        choice = next((t for t in WANT[what] if t in allowed), None) if allowed else WANT[what][0]
        if choice is None:
            raise self.error(f"BMC {self.url} allows ResetType {', '.join(allowed)}; none of them is "
                             f"{what} ({' or '.join(WANT[what])})")
        await self._json("POST", target, {"ResetType": choice})

    async def _wait(self, want: PowerState) -> None:
        deadline = asyncio.get_running_loop().time() + self.settle
        while (state := await self.status()) is not want:
            if asyncio.get_running_loop().time() > deadline:
                raise self.error(f"BMC {self.url} still reports {state} {self.settle:g}s after power {want}")
            await asyncio.sleep(0.2)

    async def on(self) -> None:
        if await self.status() is not PowerState.ON:
            await self._reset("on")
            await self._wait(PowerState.ON)

    async def off(self) -> None:
        if await self.status() is not PowerState.OFF:
            await self._reset("off")
            await self._wait(PowerState.OFF)

    async def soft(self) -> None:
        await self._reset("soft")

    async def cycle(self) -> None:
        if await self.status() is PowerState.OFF:
            return await self.on()
        await self._reset("cycle")

    async def close(self) -> None:
        await self.client.aclose()


def _message(r: httpx.Response) -> str:
    """The Redfish error message from an error body, if there is one."""
    try:
        err = r.json().get("error", {})
    except ValueError:
        return ""
    info = err.get("@Message.ExtendedInfo") or [{}]
    text = info[0].get("Message") or err.get("message") or ""
    return f": {text.strip().splitlines()[0][:200]}" if text.strip() else ""


def build(node: str, spec: Spec, ctx: Context) -> RedfishDriver:
    url = spec["url"]
    if not url.startswith(("https://", "http://")):
        raise spec.fail("url", f"expected an http:// or https:// URL, got {url!r}")
    user = spec.get("user")
    password = credentials.password(spec, ctx.env, required=bool(user))
    auth = (user, password.reveal()) if user and password is not None else None
    return RedfishDriver(node, spec, http.client(spec, url, auth), url)
