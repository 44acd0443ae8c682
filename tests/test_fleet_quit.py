"""Quitting while a large refresh runs in slices (console.screens.fleet_rows): the refresh ends
without drawing on a screen that is being taken down. Found at 3,000 nodes on the Prometheus
source, where every tick changes every row: the app prunes a screen's widgets before it cancels
the screen's workers, and a slice that woke in between drew on a screen without its summary bar
(the console's exit raised WorkerFailed: NoMatches 'SummaryBar')."""
from __future__ import annotations

import asyncio
import time
import types

import pytest

from console.screens import fleet_rows
from tests.helpers.pilot import rack_app, until
from tests.helpers.samples import T0, steady_fleet, steady_samples

N = 3_000


def wake_when_taken_down(screen) -> types.SimpleNamespace:
    """fleet_rows' asyncio, whose sleep between slices returns once the screen's widgets are
    gone: the slice after it runs while the app takes the screen down."""
    async def sleep(_seconds: float) -> None:
        deadline = time.monotonic() + 10
        while screen.children and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
    return types.SimpleNamespace(sleep=sleep)


@pytest.mark.parametrize("screen_name", ["fleet", "heatmap"])
async def test_quitting_during_a_sliced_refresh_is_a_clean_exit(screen_name, monkeypatch):
    app = rack_app(N)
    params = steady_fleet(N, 5)
    async with app.run_test(size=(120, 40)) as pilot:
        if screen_name != "fleet":
            await pilot.press("h")
        screen = app.screen
        await until(pilot, lambda: screen.rows.view.rows, what="first fill")
        for s in steady_samples(params, range(2, 3)):   # every node changes
            app.state.apply(s)
        monkeypatch.setattr(fleet_rows, "SLICE_S", 0.0)   # let the loop in after every slice
        monkeypatch.setattr(fleet_rows, "asyncio", wake_when_taken_down(screen))
        screen.refresh_view(T0 + 2)
        assert screen.rows.running                     # too big to do at once: in slices
    # leaving run_test takes the app down and re-raises a worker's failure
    assert not screen.rows.running
