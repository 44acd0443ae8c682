"""Pilot plumbing shared by the console tests: a seeded app, its terminal size, condition waits."""
from __future__ import annotations

import asyncio

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


async def until(pilot, cond, timeout: float = 20.0, what: str = "condition") -> None:
    """Wait for a condition, letting the app process messages between checks (no fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
