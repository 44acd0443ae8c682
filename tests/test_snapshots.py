"""Snapshot tests: fleet, heatmap (incl. 750 nodes at 200x50), node and help screens.

The fleet is seeded and steady, built from counter-accurate Samples, and the app's clock is
frozen, so ages, rates and timestamps are identical on every run.
"""
from __future__ import annotations

from collectors.model import NodeEvent
from console.app import RoostApp
from console.state import FleetState
from tests.helpers.samples import T0, steady_fleet, steady_samples

SIZE = (160, 40)


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


def test_fleet_snapshot(snap_compare):
    assert snap_compare(seeded_app(), terminal_size=SIZE)


def test_fleet_sorted_filtered_marked_snapshot(snap_compare):
    assert snap_compare(seeded_app(), terminal_size=SIZE,
                        press=["space", "space", "colon", *"sort temp rev", "enter",
                               "slash", *"rack2", "enter"])


def test_heatmap_snapshot(snap_compare):
    assert snap_compare(seeded_app(), terminal_size=SIZE, press=["h", "m"])


def test_heatmap_750_nodes_snapshot(snap_compare):
    app = seeded_app(n=750, seed=5, racks=10)
    assert snap_compare(app, terminal_size=(200, 50), press=["h"])


def test_node_snapshot(snap_compare):
    assert snap_compare(seeded_app(), terminal_size=SIZE, press=["down", "enter"])


def test_help_snapshot(snap_compare):
    assert snap_compare(seeded_app(), terminal_size=SIZE, press=["question_mark"])
