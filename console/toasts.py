"""Which alert events become toasts: new critical ones, a few per tick, the rest counted into one
summary (a rack overheating must not bury the screen in toasts). UI-free."""
from __future__ import annotations

from collections.abc import Iterable

from console.state import CRIT, Event


class ToastGate:
    def __init__(self, per_tick: int = 3) -> None:
        self.per_tick = per_tick
        self._left, self.held = per_tick, 0

    def admit(self, events: Iterable[Event]) -> list[Event]:
        """The events to toast now; further critical ones are counted in `held`."""
        shown = []
        for e in events:
            if e.severity != CRIT or e.cleared:
                continue
            if self._left <= 0:
                self.held += 1
                continue
            self._left -= 1
            shown.append(e)
        return shown

    def flush(self) -> int:
        """A new tick: how many were held back since the last one (then start afresh)."""
        held, self._left, self.held = self.held, self.per_tick, 0
        return held
