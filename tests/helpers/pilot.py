"""Pilot plumbing shared by the console tests: a seeded app, its terminal size, condition waits."""
from __future__ import annotations

import asyncio

from collectors.model import NodeEvent
from console.app import RoostApp
from console.state import FleetState
from tests.helpers.samples import T0, steady_fleet, steady_samples

SIZE = (160, 40)


def make_app(n: int = 12, seed: int = 7, **kw) -> RoostApp:
    params = steady_fleet(n, seed)
    groups = {name: (f"rack{1 + i % 2}",) for i, name in enumerate(params)}
    state = FleetState(list(params), groups=groups)
    for s in steady_samples(params, range(3)):
        state.apply(s)
    return RoostApp(state, clock=lambda: T0 + 2, **kw)


def seeded_app(n: int = 24, seed: int = 11, racks: int = 3, **kw) -> RoostApp:
    """n7 went down at T0+25; n9's samples stopped at T0+20 (stale); the rest are steady."""
    params = steady_fleet(n, seed)
    groups = {name: (f"rack{1 + i % racks}",) for i, name in enumerate(params)}
    state = FleetState(list(params), groups=groups)
    for s in steady_samples(params, range(30)):
        if not (s.node == "n9" and s.seq > 20):
            state.apply(s)
    state.apply(NodeEvent("n7", T0 + 25, "down", "keepalive timeout"))
    state.tick(T0 + 29)
    return RoostApp(state, clock=lambda: T0 + 29, refresh=3600, **kw)


def rack_app(n: int, rack: int = 100, seed: int = 5, **kw) -> RoostApp:
    """n steady nodes in racks of `rack` (n1..n100 in rack1 ...), two samples each: rates known."""
    params = steady_fleet(n, seed)
    state = FleetState(list(params), groups={name: (f"rack{1 + i // rack}",)
                                             for i, name in enumerate(params)})
    for s in steady_samples(params, range(2)):
        state.apply(s)
    return RoostApp(state, clock=lambda: T0 + 1, refresh=3600, **kw)


async def until(pilot, cond, timeout: float = 30.0, what: str = "condition") -> None:
    """Wait for a condition, letting the app process messages between checks (no fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
