"""Snapshots of fleet, node, heatmap, jobs and power at 80x24, 120x40 and 200x50 (issue 11).

Same seeded fleet and frozen clock as tests/test_snapshots.py; the job queue is a real Store
with finished, mixed, running and limit-held jobs; power comes from fixed drivers with a long
step in progress. What they pin down: at 80x24 every screen fits (columns chosen by priority,
`?` and the screen's keys in the footer, one readable graph a page), and at 200 nothing is cut
(the power Progress column, the sorted header's arrow).
"""
from __future__ import annotations

import pytest

from console.app import RoostApp
from console.jobs.model import JobSpec, State
from console.jobs.spec import parse_array
from console.jobs.store import Store
from console.power.base import PowerState
from console.power.sequence import PowerNode, Sequencer
from console.power.service import PowerService
from console.screens.jobs import JobsScreen
from console.screens.node import NodeScreen
from console.screens.power import PowerScreen
from console.widgets.graph import Graph
from console.widgets.job_table import JobTable
from tests.helpers.pilot import seeded_app, until
from tests.helpers.power import FAST, FixedDriver, FixedReach
from tests.helpers.samples import T0

SIZES = {"80x24": (80, 24), "120x40": (120, 40), "200x50": (200, 50)}
NOW = T0 + 29


def queue(db) -> None:
    """Four jobs: an array that ended 5 completed / 3 cancelled, a running job, an array held
    by its task limit, and a failed job."""
    store = Store(db)
    sweep = store.submit(JobSpec(script="#!/bin/sh\ntrue\n", name="sweep",
                                 array=tuple(range(1, 9))), now=T0)
    tasks = store.tasks(sweep)
    for i, t in enumerate(tasks[:5]):
        store.start(t, f"n{1 + i % 3}", T0 + i)
        store.finish(t, State.COMPLETED, 0, T0 + 10 + i)
    store.cancel_pending(sweep, "cancel", T0 + 16)
    train = store.submit(JobSpec(script="#!/bin/sh\nsleep 600\n", name="train"), now=T0)
    store.start(store.tasks(train)[0], "n4", T0 + 2)
    limited = parse_array("1-6%2")
    held = store.submit(JobSpec(script="#!/bin/sh\nsleep 5\n", name="limited",
                                array=limited.indices, array_limit=limited.limit), now=T0)
    for t in store.tasks(held)[:2]:
        store.start(t, "n5", T0 + 3)
    store.set_job_reason(held, "JobArrayTaskLimit")
    broken = store.submit(JobSpec(script="#!/bin/sh\nexit 3\n", name="broken"), now=T0)
    store.start(store.tasks(broken)[0], "n6", T0 + 1)
    store.finish(store.tasks(broken)[0], State.FAILED, 3, T0 + 4)
    store.close()


def power_app() -> RoostApp:
    cases = {"n1": PowerState.ON, "n2": PowerState.ON, "n3": PowerState.OFF,
             "n4": PowerState.OFF, "n5": PowerState.UNKNOWN}
    drivers = {n: FixedDriver(n, s) for n, s in cases.items()}
    reach = FixedReach({"n1", "n4", "n5"})
    service = PowerService(Sequencer({n: PowerNode(n, d) for n, d in drivers.items()}, reach,
                                     FAST), reach, drivers)
    app = seeded_app(power=service)
    app.power.steps["n2"] = "on: powered on, waiting for SSH to answer (12 s)"
    return app


async def show_jobs(pilot) -> None:
    await pilot.press("j")
    await until(pilot, lambda: isinstance(pilot.app.screen, JobsScreen)
                and len(pilot.app.screen.query_one(JobTable).lines) == 4, what="four jobs")


async def show_power(pilot) -> None:
    app = pilot.app
    await pilot.press("p")
    await until(pilot, lambda: isinstance(app.screen, PowerScreen) and len(app.power.shown) == 5,
                what="power read back")
    app.screen.refresh_view()
    await pilot.pause()


async def show_node(pilot) -> None:
    await pilot.press("down", "enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, NodeScreen)
                and any(g.lines for g in pilot.app.screen.query(Graph) if g.display),
                what="node graphs")


async def show_heatmap(pilot) -> None:
    await pilot.press("h")
    await until(pilot, lambda: pilot.app.screen.name == "heatmap", what="heatmap")


async def show_fleet(pilot) -> None:
    await pilot.press("greater_than_sign", "greater_than_sign")   # sorted by load, busiest first
    await until(pilot, lambda: pilot.app.screen.sort == "load", what="sorted")


@pytest.mark.parametrize("size", SIZES)
def test_fleet(snap_compare, size):
    assert snap_compare(seeded_app(), terminal_size=SIZES[size], run_before=show_fleet)


@pytest.mark.parametrize("size", SIZES)
def test_node(snap_compare, size):
    assert snap_compare(seeded_app(), terminal_size=SIZES[size], run_before=show_node)


@pytest.mark.parametrize("size", SIZES)
def test_heatmap(snap_compare, size):
    assert snap_compare(seeded_app(), terminal_size=SIZES[size], run_before=show_heatmap)


@pytest.mark.parametrize("size", SIZES)
def test_jobs(snap_compare, size, tmp_path):
    db = tmp_path / "jobs.db"
    queue(db)
    assert snap_compare(seeded_app(jobs_db=str(db)), terminal_size=SIZES[size],
                        run_before=show_jobs)


@pytest.mark.parametrize("size", SIZES)
def test_power(snap_compare, size):
    assert snap_compare(power_app(), terminal_size=SIZES[size], run_before=show_power)
