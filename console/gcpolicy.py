"""Garbage-collector pacing for long-running roost processes (the console and headless collect).

Samples, history deques, connections and widgets are long-lived; left to the default policy every
full collection walks all of them: 200-500 ms pauses with 200 nodes in the console, and about 7%
of a core at 1,000 nodes headless (bench/bench_demo.py). So, on a tick, we collect the young
generations and freeze what survived; frozen objects are still freed by reference counting, and
cycles among them wait for a full pass every THAW_EVERY ticks. One GcPacer serves both: headless
collection settles every tick, the console every 30th (its ticks also redraw).

A frozen object that later joins a garbage cycle (a connection that failed, its task and its
exception's traceback) stays until the next full pass, so churn (nodes that keep failing to
connect under load) would pile up for 15 minutes: the full pass also comes early once the
frozen set has grown by GROWTH since the last one, but never sooner than MIN_GAP ticks after it:
a full pass at a million objects holds the loop for most of a second, and back to back while
1,000 connections start they would time out the very handshakes that make the growth.

In the console a full pass is what a key would wait for longest (~110 ms of CPU at 3,000 nodes,
more than twice that at equal priority with the shards and Prometheus on the same box): start()
makes the first one before the fleet arrives, and a later one that falls due waits for a quiet
tick (no key for a few seconds: tick(quiet=...)).

While a pacer runs (start() .. stop()) it is the only one to make full passes. CPython starts one
itself when the objects promoted to its oldest generation since its last full pass exceed a
quarter of those that survived it; frozen objects are not counted there, so once the fleet is
frozen that quarter is tiny and a full pass came every few young passes, walking everything
built since the last freeze: 0.1-2.4 s each at 10,000 nodes (bench/bench_rows.py), landing on
whatever key press or refresh allocated at that moment. And a batch that replaces as many objects
as it makes (a new sample for each node's old one) keeps the young generation's count, which
deallocations lower, from ever reaching its threshold: the young list grew to a whole fleet's
samples and one young pass walked them all. built() counts such work and settles (collects the
young generations, freezes the survivors) every SETTLE_ITEMS items, so each young pass is short.
UI-free.
"""
from __future__ import annotations

import gc

THAW_EVERY = 900   # ticks between full collections (one longer pause every 15 minutes at 1 Hz)
GROWTH = 1.5       # frozen objects since the last full pass, as a multiple, that bring it early
GROWTH_FLOOR = 100_000   # ... and never for fewer new objects than this (start-up, small fleets)
MIN_GAP = 120      # ticks from one full pass to an early one (2 minutes at 1 Hz)
SETTLE_ITEMS = 250   # samples (or rows) built between two settles: a few ms of young objects
NEVER = 1 << 30      # CPython's full-pass threshold while a pacer owns full passes
MAX_OWED = 60      # ticks a due full pass waits for a quiet one before it runs anyway
GROWTH_CHECK = 10  # ticks between looks at the frozen set's size: counting it walks every frozen
                   # object (~70 ms at 1,000 nodes, 7% of a core if done on every tick)


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
    makes that settle a full pass once thaw_every ticks passed since the last one (start()
    makes one at once), or when the frozen set grew by GROWTH; a full pass waits for a quiet
    tick (see tick())."""

    def __init__(self, every: int = 1, thaw_every: int = THAW_EVERY, phase: int = 0) -> None:
        self.ticks, self.every, self.thaw_every, self.phase = 0, every, thaw_every, phase
        self.baseline = 0     # frozen objects right after the last full pass
        self.last_full = 0    # the tick of the last full pass
        self.early = 0        # full passes the growth rule brought forward
        self.unsettled = 0    # items built since the last settle
        self.owed = 0         # ticks a due full pass has waited for a quiet one (0: none due)
        self._saved: tuple[int, ...] | None = None   # CPython's thresholds before start()

    def start(self) -> None:
        """Full passes from now on only when this pacer makes them (see the module doc); the
        first one now, at start-up, before the fleet arrives (made on the first tick instead, it
        walked a whole fleet: 3,000 nodes from Prometheus landed before a 5 s console's first
        tick, and the pass held the loop for 140 ms of CPU, 270 ms at equal priority)."""
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], NEVER)
            self._full()

    def stop(self) -> None:
        """CPython's own thresholds back."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def built(self, items: int) -> None:
        """items long-lived things (samples applied, rows rebuilt) were just made: settle once
        SETTLE_ITEMS have piled up since the last settle."""
        self.unsettled += items
        if self.unsettled >= SETTLE_ITEMS:
            self.unsettled = 0
            settle_gc()

    def tick(self, quiet: bool = True) -> None:
        """quiet: nothing is waiting on the loop (the console: no key for QUIET_S seconds). A
        full pass that falls due waits for a quiet tick, at most MAX_OWED ticks: at 3,000 nodes
        it holds the loop for ~110 ms of CPU, which a key pressed meanwhile would wait for."""
        self.ticks += 1
        settles = self.ticks % self.every == self.phase % self.every
        if self.owed:
            self.owed += 1
        elif settles and self._full_due():
            self.owed = 1
        if self.owed and (quiet or self.owed > MAX_OWED):
            self._full()
        elif settles:
            settle_gc()
            if not self.baseline:
                self.baseline = gc.get_freeze_count()

    def _full(self) -> None:
        settle_gc(full=True)
        self.baseline, self.last_full, self.owed = gc.get_freeze_count(), self.ticks, 0

    def _full_due(self) -> bool:
        if self.ticks - self.last_full >= self.thaw_every:
            return True
        if self._may_grow() and self._grown():
            self.early += 1
            return True
        return False

    def _may_grow(self) -> bool:
        since = self.ticks - self.last_full
        return since >= MIN_GAP and since % GROWTH_CHECK == 0

    def _grown(self) -> bool:
        frozen = gc.get_freeze_count()
        return frozen > max(self.baseline * GROWTH, self.baseline + GROWTH_FLOOR)
