"""One timer for the whole fleet: a timing wheel of sampler sessions.

A thousand sessions at 1 Hz must not mean a thousand timers. Sessions sit in slots of `slot`
seconds; each slot fires only the sessions due in it, so work spreads over the interval instead of
bursting once a second.
"""
from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Tickable(Protocol):
    interval: float
    alive: bool

    def fire(self, now: float) -> None: ...


class Ticker:
    def __init__(self, slot: float = 0.05):
        self.slot = slot
        self._wheel: dict[int, list[Tickable]] = {}
        self._index = 0
        self._handle: asyncio.TimerHandle | None = None
        self._t0 = 0.0
        self.fired = 0
        self.errors: list[str] = []   # why sessions were dropped (kept for tests and debugging)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._handle = loop.call_at(self._t0 + self.slot, self._tick)

    def stop(self) -> None:
        if self._handle:
            self._handle.cancel()
        self._handle = None
        self._wheel.clear()

    def add(self, item: Tickable, delay: float) -> None:
        """Fire item about `delay` seconds from now (at least one slot), then every interval."""
        at = self._index + max(1, round(delay / self.slot))
        self._wheel.setdefault(at, []).append(item)

    def _tick(self) -> None:
        self._index += 1
        loop = asyncio.get_running_loop()
        due = self._wheel.pop(self._index, ())
        now = time.time()
        for item in due:
            if item.alive:
                self._fire(item, now)
        # Chain on the ideal schedule so slots do not drift; skip slots if the loop fell behind.
        nxt = self._t0 + (self._index + 1) * self.slot
        if nxt < loop.time():
            lag = int((loop.time() - nxt) / self.slot) + 1
            self._catch_up(lag)
            nxt += lag * self.slot
        self._handle = loop.call_at(nxt, self._tick)

    def _fire(self, item: Tickable, now: float) -> None:
        self.fired += 1
        try:
            item.fire(now)
        except Exception as exc:  # one broken session must not stop every other node's clock
            item.alive = False
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        if item.alive:
            self.add(item, item.interval)

    def _catch_up(self, slots: int) -> None:
        # Move late sessions to the next slot rather than firing each twice.
        late: list[Tickable] = []
        for _ in range(slots):
            self._index += 1
            late += self._wheel.pop(self._index, ())
        self._wheel.setdefault(self._index + 1, []).extend(late)
