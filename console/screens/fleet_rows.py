"""Keeping a fleet view's rows up to date without holding the event loop (fleet and heatmap).

Rows come from the fleet's console.state.FleetView, kept between refreshes: a refresh rebuilds the rows of
nodes that changed; a re-sort, a filter or a mark only re-selects the kept rows. A refresh with
more than SYNC_ROWS rows to rebuild (thousands of nodes, every one changed) runs in slices of
about SLICE_S seconds with the event loop let in between, so a key press waits for one slice,
not the whole refresh (about 20 us a row: 200 ms at 10,000); a refresh asked for while one
runs is done once it ends (coalesced), never piled up. The rows rebuilt are told to the app's
GC pacer (console.gcpolicy), which freezes them every few hundred, so no collector pass walks
a whole refresh's rows at once.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.css.query import NoMatches
from textual.screen import Screen

from console.state import FleetView, NodeData

SYNC_ROWS = 500     # rows a refresh rebuilds at once; past this it goes in slices
KEY_ROWS = 100      # rows a key press rebuilds before its redraw; more wait for the tick
SLICE_ROWS = 100    # rows rebuilt between two looks at the clock
SLICE_S = 0.008     # seconds of rebuilding before the event loop is let in
BREATH_S = 0.002    # ... and how long it is let in (a key's messages take a few loop turns)


class RowRefresher:
    """A screen's FleetView, refreshed at once or in slices; show(now, fresh) draws it."""

    def __init__(self, screen: Screen, view: FleetView,
                 show: Callable[[float, bool], None]) -> None:
        self.screen, self.show, self.view = screen, show, view
        self.running = False               # a sliced refresh is under way
        self.again: float | None = None    # a refresh asked for meanwhile, at this time

    def refresh(self, now: float) -> None:
        """Bring the rows up to date with state, then show them."""
        if self.running:
            self.again = now
            return
        todo = self.view.pending()
        if len(todo) <= SYNC_ROWS or not self.view.rows:   # the first fill: nothing to show
            self._take(todo, now)                           # or act on before it, so at once
            self.show(now, True)
        else:
            self.running = True
            self.screen.run_worker(self._in_slices(todo, now), group="rows-refresh")

    def catch_up(self, now: float) -> bool:
        """Rebuild the rows that changed if they are few (before a key's redraw); True when
        any was rebuilt. More is left to refresh(): a key never waits for a refresh."""
        if self.running or self.view.changed > KEY_ROWS:   # a tick's worth: left to refresh()
            return False
        todo = self.view.pending()
        if not todo or len(todo) > KEY_ROWS:
            return False
        self._take(todo, now)
        return True

    def _take(self, nodes: list[NodeData], now: float) -> None:
        self.view.take(nodes, now)
        pacer = getattr(self.screen.app, "gc_pacer", None)
        if pacer is not None:
            pacer.built(len(nodes))

    async def _in_slices(self, todo: list[NodeData], now: float) -> None:
        try:
            start = time.perf_counter()
            for i in range(0, len(todo), SLICE_ROWS):
                self._take(todo[i:i + SLICE_ROWS], now)
                if time.perf_counter() - start > SLICE_S:
                    await asyncio.sleep(BREATH_S)
                    start = time.perf_counter()
            try:
                self.show(now, True)
            except NoMatches:   # the app is taking the screen down: its widgets went first
                return
        finally:
            self.running = False
        if self.again is not None:
            again, self.again = self.again, None
            self.refresh(again)
