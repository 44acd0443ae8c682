"""The demo fleet's simulated power channels (console.demo) behind the driver interface, so
`roost demo` exercises the same sequences as real hardware: off really stops the node's sshd.

Demo nodes run their commands on this very host, so an OS shutdown command must never be sent
to them: their PowerNode has shutdown=None and the safe off uses soft(), the simulated board
halting by itself (switch off, sshd gone), as an ACPI soft-off would.
"""
from __future__ import annotations

from console.power.base import Driver, PowerState
from console.power.spec import Spec

VIA = False   # reached from the console's host, never through a controller

FIELDS: dict = {}


class DemoDriver(Driver):
    kind = "demo"
    has_soft = True

    def __init__(self, node: str, channel):
        super().__init__(node)
        self.channel_obj = channel

    @property
    def channel(self) -> tuple:
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


def build(node: str, spec: Spec, ctx) -> DemoDriver:
    if ctx.demo is None:
        raise spec.fail("driver", "demo power needs the demo fleet (roost demo)")
    try:
        channel = ctx.demo.power(node)
    except Exception as e:  # DemoFleet names the unknown node
        raise spec.fail("driver", f"the demo fleet has no node {node} ({e})") from None
    return DemoDriver(node, channel)
