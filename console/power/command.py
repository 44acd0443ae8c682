"""User commands for on/off/status (a relay script, a PDU's CLI, `tpi` ...), run on the
console's host or, with via, on a controller over SSH. The commands are the user's own shell
lines from their config, run as written; {name} and {index} were filled in by the config.

status prints on/off (also 1/0, true/false, up/down) or, with status_exit = true, exits 0 for
on and 1 for off.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.power.base import Channel, CommandResult, Driver, PowerState, Runner
from console.power.spec import Field, Spec

if TYPE_CHECKING:
    from console.power.registry import Context

FIELDS = {
    "on": Field(str, required=True, doc="shell command that powers the node on"),
    "off": Field(str, required=True, doc="shell command that cuts power"),
    "status": Field(str, required=True, doc="shell command that prints on or off"),
    "cycle": Field(str, doc="shell command for a power cycle (default: off, then on)"),
    "soft": Field(str, doc="shell command for an orderly shutdown through the hardware"),
    "status_exit": Field(bool, default=False, doc="status by exit code: 0 on, 1 off"),
}

WORDS = {**dict.fromkeys(("on", "1", "true", "yes", "up", "power:1"), PowerState.ON),
         **dict.fromkeys(("off", "0", "false", "no", "down", "power:0"), PowerState.OFF)}


class CommandDriver(Driver):
    kind = "command"

    def __init__(self, node: str, spec: Spec, runner: Runner, via: str | None):
        super().__init__(node, via)
        self.spec, self.runner = spec, runner
        self.has_soft = bool(spec.get("soft"))

    @property
    def channel(self) -> Channel:
        return ("command", self.via or "local", self.spec["on"], self.spec["off"])

    def describe(self) -> str:
        return "command" + (f" on {self.via}" if self.via else "")

    async def _run(self, key: str) -> CommandResult:
        result = await self.runner(self.spec[key], self.spec["timeout"])
        return result

    async def _must(self, key: str) -> None:
        r = await self._run(key)
        if r.exit_status != 0:
            raise self.error(f"{key} command exited {r.exit_status}: {_last(r.stderr or r.stdout)}")

    async def status(self) -> PowerState:
        r = await self._run("status")
        if self.spec["status_exit"]:
            if r.exit_status in (0, 1):
                return PowerState.ON if r.exit_status == 0 else PowerState.OFF
            raise self.error(f"status command exited {r.exit_status} (expected 0 = on, 1 = off): "
                             f"{_last(r.stderr or r.stdout)}")
        if r.exit_status != 0:
            raise self.error(f"status command exited {r.exit_status}: {_last(r.stderr or r.stdout)}")
        word = r.stdout.strip().split()[0].lower() if r.stdout.strip() else ""
        if word not in WORDS:
            raise self.error(f"status command printed {r.stdout.strip()[:60]!r}; expected on or off")
        return WORDS[word]

    async def on(self) -> None:
        await self._must("on")

    async def off(self) -> None:
        await self._must("off")

    async def soft(self) -> None:
        if not self.has_soft:
            return await super().soft()
        await self._must("soft")

    async def cycle(self) -> None:
        if self.spec.get("cycle"):
            return await self._must("cycle")
        await super().cycle()


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"


def build(node: str, spec: Spec, ctx: Context) -> CommandDriver:
    via = spec.get("via")
    runner = ctx.runner_for(via) if via else ctx.local_runner
    return CommandDriver(node, spec, runner, via)
