"""A simulated node's power channel (an expander pin or a BMC): it really stops and starts sshd.

off() cuts power at once: the port closes, live connections drop, the node's commands die.
on() switches power back and returns; the node "boots" for boot_delay seconds (a fresh kernel:
uptime and counters restart) and then its SSH port opens again, as a real board's would.
"""
from __future__ import annotations

import asyncio
import os
import shlex
import sys
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
            self._later(self.fleet.boot_delay, reboot=True)

    async def off(self) -> None:
        self.cancel()
        self.node.state = "off"
        await self.node.unlisten(kill=True)

    async def on(self) -> None:
        if self.node.state in ("on", "booting", "halted"):
            return  # a halted board's switch is already on: nothing happens, as on hardware
        self.cancel()
        self.node.state = "booting"
        self._later(self.fleet.boot_delay, reboot=True)

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


def os_power_action(command: str) -> str | None:
    """"halt" or "reboot" when command is a plain OS shutdown (sudo poweroff, shutdown -r now,
    systemctl reboot ...): a demo node must simulate it, never run it on this host."""
    if any(c in command for c in ";|&<>`$()\n"):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    while words and (os.path.basename(words[0]) == "sudo" or words[0].startswith("-")):
        words = words[1:]
    if not words:
        return None
    prog, rest = os.path.basename(words[0]), words[1:]
    if prog == "systemctl":
        prog, rest = (rest[0], rest[1:]) if rest else ("", [])
    if prog in ("poweroff", "halt"):
        return "halt"
    if prog == "reboot":
        return "reboot"
    if prog == "shutdown":
        return "reboot" if any(w in ("-r", "--reboot") for w in rest) else "halt"
    return None
