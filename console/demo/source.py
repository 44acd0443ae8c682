"""The demo fleet and roost's Fleet in one event loop, for the console and headless collection.

DemoSource is what the console's Source protocol asks for (start/stream/stop/run_command), and
everything else (connection, up, targets) is the wrapped collectors.fleet.Fleet's. The demo must
be prepare()d first so its targets exist before any loop runs.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from console.demo.fleet import DemoFleet


class DemoSource:
    def __init__(self, demo: DemoFleet, fleet: Any):
        self.demo, self.fleet = demo, fleet

    async def start(self) -> None:
        await self.demo.start()      # serve first: roost's connects then find the nodes up
        await self.fleet.start()

    def stream(self) -> AsyncIterator[Any]:
        return self.fleet.stream()

    async def stop(self) -> None:
        await self.fleet.stop()      # roost first, so it never reports the demo going away
        await self.demo.stop()

    async def run_command(self, node: str, command: str, timeout: float) -> Any:
        return await self.fleet.run_command(node, command, timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fleet, name)


def companion(demo: DemoFleet):
    """A run_collect companion: serve the demo in collection's loop until it stops.

    Collection stops its Fleet after the companion returns, so the demo only goes quiet here
    (no frames, port closed); the loop-free clean-up follows once run_collect has returned."""
    async def beside(_fleet: Any, stop: asyncio.Event) -> None:
        await demo.start()
        await stop.wait()
        await demo.quiesce()
    return beside
