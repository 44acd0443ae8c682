"""The demo fleet's simulated power channels behind the driver interface, so `roost demo`
exercises the same sequences as real hardware: off really stops the node's sshd.

This module holds both halves: a simulated node's power channel and the `demo` driver on it.

DemoPowerChannel is the simulated hardware (an expander pin or a BMC); it really stops and
starts sshd. off() cuts power at once: the port closes, live connections drop, the node's
commands die. on() switches power back and returns; the node "boots" for boot_delay seconds (a
fresh kernel: uptime and counters restart) and then its SSH port opens again, as a real
board's would.

DemoDriver puts a channel behind console.power's driver interface (console.power.registry maps
driver = "demo" here), so `roost demo` exercises the same sequences as real hardware. Demo nodes
run their commands on this very host, so an OS shutdown command must never be sent to them: their
PowerNode has shutdown=None and the safe off uses soft(), the board halting by itself (switch
off, sshd gone), as an ACPI soft-off would.
"""
from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any, Protocol

from console.power.base import Driver, PowerState
from console.power.spec import Spec

if TYPE_CHECKING:
    from console.demo.node import DemoNode
    from console.power.registry import Context

VIA = False   # reached from the console's host, never through a controller

FIELDS: dict[str, Any] = {}


class DemoPowerChannel:
    def __init__(self, node: DemoNode, boot_delay: float):
        self.node, self.boot_delay = node, boot_delay
        self._pending: asyncio.Task | None = None
        self._settled = asyncio.Event()
        self._settled.set()

    async def status(self) -> str:
        """"on" or "off": the state of the power switch (booting and halted boards are on)."""
        return "off" if self.node.state == "off" else "on"

    @property
    def reachable(self) -> bool:
        return self.node.state == "on"

    async def halt(self, reboot: bool) -> None:
        """The OS shut itself down (poweroff/reboot run on the node): sshd goes away, the
        switch stays on. A halted board needs its power cut and restored; a reboot comes back."""
        if self.node.state != "on":
            return
        self.cancel()
        self.node.state = "booting" if reboot else "halted"
        await self.node.unlisten(kill=True)
        if reboot:
            self._later(self.boot_delay, reboot=True)

    async def off(self) -> None:
        self.cancel()
        self.node.state = "off"
        await self.node.unlisten(kill=True)

    async def on(self) -> None:
        if self.node.state in ("on", "booting", "halted"):
            return  # a halted board's switch is already on: nothing happens, as on hardware
        self.cancel()
        self.node.state = "booting"
        self._later(self.boot_delay, reboot=True)

    async def cycle(self) -> None:
        await self.off()
        await self.on()

    async def drop(self, duration: float, hang: bool = False) -> None:
        """Off the network for duration; work keeps running. A reset drop cuts connections at
        once (the peer sees them close); a hang leaves them open but silent (no frames, no new
        channels), so only the client's staleness check can notice. New connects are refused."""
        if self.node.state != "on":
            return
        self.cancel()
        self.node.state = "dropped"
        if hang:
            self.node.hang()
        await self.node.unlisten(kill=False, keep_conns=hang)
        self._later(duration, reboot=False)

    async def wait_settled(self) -> None:
        """Until a pending boot or return from a drop-off has happened."""
        await self._settled.wait()

    def cancel(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        self._pending = None
        self._settled.set()

    def _later(self, delay: float, reboot: bool) -> None:
        self._settled.clear()
        self._pending = asyncio.get_running_loop().create_task(self._come_back(delay, reboot))

    async def _come_back(self, delay: float, reboot: bool) -> None:
        await asyncio.sleep(delay)  # the simulated boot (or outage) takes real time
        if reboot:
            now = time.time()
            self.node.sim.boot(now - delay, now)   # the kernel started when power came back
        self.node.resume()
        try:
            await self.node.listen()
        except OSError as e:  # someone else took the port while the node was away
            self.node.state = "off"
            print(f"roost: demo: {self.node.name} cannot reopen port {self.node.port}: "
                  f"{e.strerror or e}", file=sys.stderr)
        self._settled.set()


class Switch(Protocol):
    """A channel as the driver sees it: DemoPowerChannel, or demo.runner's cross-loop proxy."""
    async def status(self) -> str: ...
    async def on(self) -> None: ...
    async def off(self) -> None: ...
    async def cycle(self) -> None: ...


class DemoDriver(Driver):
    kind = "demo"
    has_soft = True

    def __init__(self, node: str, channel: Switch):
        super().__init__(node)
        self.channel_obj = channel

    @property
    def channel(self) -> tuple[str, str]:
        return ("demo", self.node)

    async def status(self) -> PowerState:
        return PowerState(await self.channel_obj.status())

    async def on(self) -> None:
        await self.channel_obj.on()

    async def off(self) -> None:
        await self.channel_obj.off()

    async def soft(self) -> None:
        await self.channel_obj.off()

    async def cycle(self) -> None:
        await self.channel_obj.cycle()


def build(node: str, spec: Spec, ctx: Context) -> DemoDriver:
    if ctx.demo is None:
        raise spec.fail("driver", "demo power needs the demo fleet (roost demo)")
    try:
        channel = ctx.demo.power(node)
    except Exception as e:  # DemoFleet names the unknown node
        raise spec.fail("driver", f"the demo fleet has no node {node} ({e})") from None
    return DemoDriver(node, channel)
