"""Garbage-collector pacing for long-running roost processes (the console and headless collect).

Samples, history deques, connections and widgets are long-lived; left to the default policy every
full collection walks all of them: 200-500 ms pauses with 200 nodes in the console, and about 7%
of a core at 1,000 nodes headless (bench/bench_demo.py). So, on a tick, we collect the young
generations and freeze what survived; frozen objects are still freed by reference counting, and
cycles among them wait for a full pass every THAW_EVERY ticks. One GcPacer serves both: headless
collection settles every tick, the console every 30th (its ticks also redraw). UI-free.
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
    """Call tick() about once a second. It settles on ticks `phase`, `phase + every`, ... and
    makes that settle a full pass on ticks `phase + k * thaw_every` (phase 1: from the first
    tick, which freezes what start-up built at once)."""

    def __init__(self, every: int = 1, thaw_every: int = THAW_EVERY, phase: int = 0) -> None:
        self.ticks, self.every, self.thaw_every, self.phase = 0, every, thaw_every, phase

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % self.every == self.phase % self.every:
            settle_gc(full=self.ticks % self.thaw_every == self.phase % self.thaw_every)
