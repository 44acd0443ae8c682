"""The fleet's one timer: sessions fire on their interval, late slots catch up, a broken
session is dropped without stopping the others."""
from __future__ import annotations

import asyncio

import pytest

from console.demo.ticker import Ticker


class Item:
    def __init__(self, interval: float, boom: bool = False):
        self.interval, self.alive, self.boom, self.times = interval, True, boom, []

    def fire(self, now: float) -> None:
        if self.boom:
            raise RuntimeError("broken board")
        self.times.append(now)


@pytest.mark.timeout(10)
async def test_items_fire_on_their_interval_and_a_broken_one_is_dropped():
    ticker = Ticker(slot=0.01)
    fast, slow, bad = Item(0.02), Item(0.05), Item(0.02, boom=True)
    ticker.start()
    for item in (fast, slow, bad):
        ticker.add(item, item.interval)
    try:
        while len(slow.times) < 4:
            await asyncio.sleep(0.01)
    finally:
        ticker.stop()
    assert len(fast.times) >= 2 * len(slow.times) - 2
    assert not bad.alive and ticker.errors == ["RuntimeError: broken board"]
    gaps = [b - a for a, b in zip(slow.times, slow.times[1:])]
    assert all(0.03 < g < 0.2 for g in gaps)


@pytest.mark.timeout(10)
async def test_dead_items_leave_the_wheel():
    ticker = Ticker(slot=0.01)
    item = Item(0.01)
    ticker.start()
    ticker.add(item, 0.01)
    while not item.times:
        await asyncio.sleep(0.01)
    item.alive = False
    count = len(item.times)
    while any(item in bucket for bucket in ticker._wheel.values()):
        await asyncio.sleep(0.01)                 # until its next due slot has passed
    ticker.stop()
    assert len(item.times) == count
