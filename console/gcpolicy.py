"""Garbage-collector pacing for long-running roost processes (the console and headless collect).

Samples, history deques, connections and widgets are long-lived; left to the default policy every
full collection walks all of them: 200-500 ms pauses with 200 nodes in the console, and about 7%
of a core at 1,000 nodes headless (bench/bench_demo.py). Once a tick we collect the young
generations and freeze what survived; frozen objects are still freed by reference counting, and
cycles among them wait for a full pass every THAW_EVERY ticks. UI-free.
"""
from __future__ import annotations

import gc

THAW_EVERY = 900   # ticks between full collections (one longer pause every 15 minutes at 1 Hz)


def settle_gc(full: bool = False) -> None:
    """Collect the young generations (or everything), then freeze what survived."""
    if full:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()


class GcPacer:
    """Call tick() about once a second."""

    def __init__(self, thaw_every: int = THAW_EVERY) -> None:
        self.ticks, self.thaw_every = 0, thaw_every

    def tick(self) -> None:
        self.ticks += 1
        settle_gc(full=self.ticks % self.thaw_every == 0)
