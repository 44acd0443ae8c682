"""A GPIO line of the console's own host through libgpiod v2 (`gpiod` on PyPI), or with via, a
line of a controller node driven over SSH with libgpiod's gpioset/gpioget/gpioinfo (v1 or v2).

Locally, on/off request the line as an output with the wanted value (the kernel sets value and
direction together, so no glitch) and keep holding it while this driver lives (`roost serve`,
the console): the character device only guarantees a level while a request is open. A one-shot
`roost power` releases it at exit, like gpioset; SoC controllers such as the Raspberry Pi's keep
the level, others may not. status reads an AS_IS request (never turns an output into an input).
active_low follows the wiring. A line on a controller node (via) is console.power.gpio_remote:
read its docstring for what each libgpiod tool version does and how roost reads back safely.
"""
from __future__ import annotations

import asyncio
import errno
from typing import TYPE_CHECKING

from console.power.base import Channel, Driver, PowerState
from console.power.spec import Field, Spec

if TYPE_CHECKING:
    from gpiod import LineSettings
    from gpiod.line import Direction, Value

    from console.power.registry import Context, Gpiod, Lines

FIELDS = {
    "chip": Field(str, default="gpiochip0", doc="gpiochipN or /dev/gpiochipN"),
    "line": Field(int, required=True, lo=0, hi=1023, doc="line offset on that chip"),
    "active_low": Field(bool, default=False, doc="the node is on when the line is low"),
    "gpioset": Field(str, default="gpioset", doc="gpioset path on the controller (with via)"),
    "gpioget": Field(str, default="gpioget", doc="gpioget path on the controller (with via)"),
    "gpioinfo": Field(str, default="gpioinfo", doc="gpioinfo path on the controller (with via)"),
}

CONSUMER = "roost-power"
_locks: dict[tuple[int, str], asyncio.Lock] = {}


class GpioDriver(Driver):
    kind = "gpio"

    def __init__(self, node: str, gpiod: Gpiod, chip: str, line: int, active_low: bool):
        super().__init__(node)
        self.gpiod, self.chip, self.line, self.active_low = gpiod, chip, line, active_low
        self._held: Lines | None = None   # the open output request while we drive the line

    @property
    def channel(self) -> Channel:
        return ("gpio", self.chip, self.line)

    def describe(self) -> str:
        return f"gpio {self.chip} line {self.line}" + (" active-low" if self.active_low else "")

    def _settings(self, direction: Direction, value: Value | None = None) -> LineSettings:
        from gpiod import LineSettings
        from gpiod.line import Value
        return LineSettings(direction=direction, active_low=self.active_low,
                            output_value=value if value is not None else Value.INACTIVE)

    def _request(self, settings: LineSettings) -> Lines:
        try:
            return self.gpiod.request_lines(self.chip, config={self.line: settings}, consumer=CONSUMER)
        except OSError as e:
            raise self.error(_why(e, self.chip, self.line)) from None

    async def status(self) -> PowerState:
        from gpiod.line import Direction, Value
        async with _lock(self.chip):
            if self._held is not None:
                value = self._held.get_value(self.line)
            else:
                with self._request(self._settings(Direction.AS_IS)) as req:
                    value = req.get_value(self.line)
        return PowerState.ON if value == Value.ACTIVE else PowerState.OFF

    async def _set(self, on: bool) -> None:
        from gpiod.line import Direction, Value
        want = Value.ACTIVE if on else Value.INACTIVE
        async with _lock(self.chip):
            held = self._held
            if held is None:
                held = self._held = self._request(self._settings(Direction.OUTPUT, want))
            else:
                held.set_value(self.line, want)
            got = held.get_value(self.line)
        if got != want:
            raise self.error(f"set {self.chip} line {self.line} to {want.name.lower()} but it reads "
                             f"{got.name.lower()}")

    async def on(self) -> None:
        await self._set(True)

    async def off(self) -> None:
        await self._set(False)

    async def close(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None


def _lock(chip: str) -> asyncio.Lock:
    key = (id(asyncio.get_running_loop()), chip)
    return _locks.setdefault(key, asyncio.Lock())


def _why(e: OSError, chip: str, line: int) -> str:
    if e.errno == errno.EBUSY:
        return f"{chip} line {line} is in use by another program (gpioinfo {chip} shows who)"
    if e.errno == errno.ENOENT:
        return f"no GPIO chip {chip} on this host"
    if e.errno == errno.EINVAL:
        return f"{chip} has no line {line}"
    if e.errno == errno.EACCES:
        return f"no permission to use {chip} (join the gpio group)"
    return f"{chip} line {line}: {e.strerror or e}"


def build(node: str, spec: Spec, ctx: Context) -> Driver:
    chip = spec["chip"] if spec["chip"].startswith("/") else f"/dev/{spec['chip']}"
    if spec.get("via"):
        from console.power import gpio_remote as remote
        via = spec["via"]
        runner = ctx.runner_for(via)
        ctl = remote.controller(ctx, via, runner, spec["gpioset"], spec["timeout"])
        tools = remote.Tools(spec["gpioset"], spec["gpioget"], spec["gpioinfo"])
        return remote.RemoteGpioDriver(node, via, ctl, chip, spec["line"], spec["active_low"], tools)
    lines = ctx.gpio
    if lines is None:
        import gpiod  # late: only hosts with GPIO power need libgpiod
        lines = gpiod
    return GpioDriver(node, lines, chip, spec["line"], spec["active_low"])
