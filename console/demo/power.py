"""A simulated node's power channel (an expander pin or a BMC): it really stops and starts sshd.

off() cuts power at once: the port closes, live connections drop, the node's commands die.
on() switches power back and returns; the node "boots" for boot_delay seconds (a fresh kernel:
uptime and counters restart) and then its SSH port opens again, as a real board's would.
"""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.demo.fleet import DemoFleet
    from console.demo.node import DemoNode


class DemoPowerChannel:
    def __init__(self, node: "DemoNode", fleet: "DemoFleet"):
        self.node, self.fleet = node, fleet
        self._pending: asyncio.Task | None = None
        self._settled = asyncio.Event()
        self._settled.set()

    async def status(self) -> str:
        """"on" or "off": the state of the power switch (a booting node is on)."""
        return "off" if self.node.state == "off" else "on"

    @property
    def reachable(self) -> bool:
        return self.node.state == "on"

    async def off(self) -> None:
        self.cancel()
        self.node.state = "off"
        await self.node.unlisten(kill=True)

    async def on(self) -> None:
        if self.node.state in ("on", "booting"):
            return
        self.cancel()
        self.node.state = "booting"
        self._later(self.fleet.boot_delay, reboot=True)

    async def cycle(self) -> None:
        await self.off()
        await self.on()

    async def drop(self, duration: float) -> None:
        """Network loss: connections cut and the port refused for duration; work keeps running."""
        if self.node.state != "on":
            return
        self.cancel()
        self.node.state = "dropped"
        await self.node.unlisten(kill=False)
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
            self.node.sim.boot(now, now)
        await self.node.listen()
        self._settled.set()
