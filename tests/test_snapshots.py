"""Snapshot tests: fleet, heatmap (incl. 750 nodes at 200x50), node and help screens.

The fleet is seeded and steady, built from counter-accurate Samples, and the app's clock is
frozen, so ages, rates and timestamps are identical on every run.
"""
from __future__ import annotations

from tests.helpers.pilot import seeded_app

SIZE = (160, 40)


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
