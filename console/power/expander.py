"""Power through one pin of an I2C GPIO expander (Cluster HAT's XRA1200, PCA9555/PCA9535/TCA9555,
MCP23017 in BANK=0, PCF8574/PCF8574A), on the console's own bus or on a controller over SSH.

Every change is a read-modify-write of the output latch under one lock per expander (an asyncio
lock in the process, a file lock or flock(1) on the controller across processes), so other
pins (other nodes, LEDs, a USB hub enable) are never disturbed; the pin is made an output only
after its latch holds the wanted level (no glitch), and the level is read back afterwards.
PCF857x have no readable latch: their RMW starts from the pin levels, so a pin held low from
outside while its latch is high becomes a driven low (its level does not change).
"""
from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING

from console.power.base import Channel, Driver, PowerState
from console.power.bus import LocalBus, RemoteBus
from console.power.chips import CHIPS, ChipSpec, chip
from console.power.spec import Field, Spec

if TYPE_CHECKING:
    from console.power.registry import Context

FIELDS = {
    "chip": Field(str, required=True, doc=f"one of {', '.join(CHIPS)}"),
    "bus": Field(int, default=1, lo=0, hi=255, doc="I2C bus number (/dev/i2c-N)"),
    "address": Field(int, lo=0x03, hi=0x77, doc="7-bit I2C address"),
    "pin": Field(int, required=True, lo=0, hi=63, doc="expander pin, 0-based"),
    "active_low": Field(bool, default=False, doc="the node is on when the pin is low"),
    "configure": Field(bool, default=True, doc="make the pin an output when needed"),
    "i2cget": Field(str, default="i2cget", doc="i2cget path on the controller"),
    "i2cset": Field(str, default="i2cset", doc="i2cset path on the controller"),
}

DEFAULT_ADDRESS = {"xra1200": 0x20}   # Cluster HAT v2/v3

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Channel, asyncio.Lock]] = \
    weakref.WeakKeyDictionary()


def expander_lock(key: Channel) -> asyncio.Lock:
    """One lock per physical expander (host, bus, address), shared by every node on it
    (per event loop: an asyncio.Lock belongs to one loop)."""
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(key, asyncio.Lock())


def check(spec: Spec) -> tuple[ChipSpec, int]:
    """The chip spec and address, after checking the pin and address fit that chip."""
    name = spec["chip"].lower()
    if name not in CHIPS:
        raise spec.fail("chip", f"unknown chip {spec['chip']!r} (known: {', '.join(CHIPS)})")
    c = chip(name)
    address = spec.get("address", DEFAULT_ADDRESS.get(name))
    if address is None:
        raise spec.fail("address", f"required for {name} (one of {_hex_range(c)})")
    if not c.addresses[0] <= address <= c.addresses[1]:
        raise spec.fail("address", f"{address:#04x} is not an address a {name} can have ({_hex_range(c)})")
    if spec["pin"] >= c.pins:
        raise spec.fail("pin", f"expected 0-{c.pins - 1} for {name}, got {spec['pin']}")
    return c, address


def _hex_range(c: ChipSpec) -> str:
    return f"{c.addresses[0]:#04x}-{c.addresses[1]:#04x}"


class ExpanderDriver(Driver):
    kind = "expander"

    def __init__(self, node: str, c: ChipSpec, address: int, pin: int, bus: LocalBus | RemoteBus, *,
                 via: str | None = None, active_low: bool = False, configure: bool = True):
        super().__init__(node, via)
        self.chip, self.address, self.pin, self.bus = c, address, pin, bus
        self.active_low, self.configure = active_low, configure
        self.port, self.mask = divmod(pin, 8)[0], 1 << (pin % 8)

    @property
    def channel(self) -> Channel:
        return ("expander", self.via or "local", self.bus.bus, self.address, self.pin)

    def describe(self) -> str:
        return (f"{self.chip.name} {self.bus.where()} address {self.address:#04x} pin {self.pin}"
                + (" active-low" if self.active_low else ""))

    def _lock(self) -> asyncio.Lock:
        return expander_lock(self.channel[:4])

    async def status(self) -> PowerState:
        try:
            async with self._lock():
                level = await self._level()
        except Exception as e:
            raise self._wrap(e) from None
        return PowerState.ON if level != self.active_low else PowerState.OFF

    async def on(self) -> None:
        await self._set(True)

    async def off(self) -> None:
        await self._set(False)

    async def _set(self, on: bool) -> None:
        level = on != self.active_low
        try:
            async with self._lock():
                if self.chip.quasi:
                    await self._set_quasi(level)
                else:
                    await self._set_registered(level)
                got = await self._level()
        except Exception as e:
            raise self._wrap(e) from None
        if got != level:
            raise self.error(f"wrote pin {self.pin} {'high' if level else 'low'} but it reads "
                             f"{'high' if got else 'low'}: something else drives it, or it is tri-stated")

    def _wrap(self, e: Exception) -> Exception:
        return self.error(str(e)) if not str(e).startswith("node ") else e

    async def _set_registered(self, level: bool) -> None:
        bits = self.mask if level else 0
        await self.bus.rmw(self.address, self.chip.output[self.port], self.mask, bits)  # latch first
        config = await self.bus.read(self.address, self.chip.config[self.port])
        if config & self.mask:                                                        # then direction
            if not self.configure:
                raise self.error(f"pin {self.pin} is an input and configure = false")
            await self.bus.rmw(self.address, self.chip.config[self.port], self.mask, 0)

    async def _set_quasi(self, level: bool) -> None:
        await self.bus.rmw(self.address, None, self.mask, self.mask if level else 0)

    async def _level(self) -> bool:
        """The pin's electrical level: input register with any polarity inversion undone."""
        if self.chip.quasi:
            return bool(await self.bus.read(self.address, None) & self.mask)
        value = await self.bus.read(self.address, self.chip.input[self.port])
        config = await self.bus.read(self.address, self.chip.config[self.port])
        if config & self.mask:   # inversion applies to input pins only
            value ^= await self.bus.read(self.address, self.chip.polarity[self.port])
        return bool(value & self.mask)

    async def close(self) -> None:
        self.bus.close()


def build(node: str, spec: Spec, ctx: Context) -> ExpanderDriver:
    c, address = check(spec)
    via = spec.get("via")
    bus: LocalBus | RemoteBus
    if via:
        bus = RemoteBus(spec["bus"], ctx.runner_for(via), via, spec["i2cget"], spec["i2cset"],
                        spec["timeout"])
    else:
        bus = LocalBus(spec["bus"], ctx.i2c_opener)
    return ExpanderDriver(node, c, address, spec["pin"], bus, via=via,
                          active_low=spec["active_low"], configure=spec["configure"])
