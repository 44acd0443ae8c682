"""The console against a real fleet: the demo's SSH servers, collectors.fleet.Fleet, real runs.

Waits are on conditions (state reached), polled with short Pilot pauses, never fixed sleeps.
"""
from __future__ import annotations

import contextlib

from collectors.fleet import Fleet
from console.app import RoostApp
from console.demo.fleet import DemoFleet
from console.screens.run import RunScreen
from console.state import UP, FleetState
from tests.helpers.pilot import until


@contextlib.asynccontextmanager
async def live_app(tmp_path):
    demo = DemoFleet(nodes=6, seed=4, steady=True, state_dir=tmp_path / "demo", boot_delay=0.0)
    await demo.start()
    targets = demo.targets()
    fleet = Fleet(targets)
    state = FleetState([t.name for t in targets], groups={t.name: t.groups for t in targets})
    app = RoostApp(state, fleet, targets=targets)
    try:
        yield app
    finally:
        await fleet.stop()
        await demo.stop()


def all_up_with_rates(app) -> bool:
    rows = app.state.rows()
    return all(r.state == UP and r.cpu is not None for r in rows)


async def test_live_fleet_fills_table_and_runs_grouped(tmp_path):
    async with live_app(tmp_path) as app, app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: all_up_with_rates(app), what="all nodes up with cpu %")
        await pilot.pause()
        app.refresh_screen()
        names = sorted(app.state.nodes)
        assert sorted(app.screen.table._order) == names
        assert app.items_seen >= 2 * len(names)
        # mark three nodes, run a command whose output differs on one of them
        await pilot.press("space", "space", "space")
        assert len(app.state.marked) == 3
        await pilot.press("x")
        assert isinstance(app.screen, RunScreen)
        marked = sorted(app.state.marked)
        odd = marked[0]
        await pilot.press(*f'test "$(basename "$PWD")" = {odd} && echo odd && exit 3; echo same')
        await pilot.press("enter")
        scr = app.screen
        await until(pilot, lambda: len(scr.results) == 3, what="three results")
        assert scr.results[odd][0] == 3 and scr.results[odd][1] == "odd\n"
        others = [n for n in marked if n != odd]
        assert all(scr.results[n] == (0, "same\n", "") for n in others)
        lines = [str(line.text) for line in scr.query_one("#run-output").lines]
        text = "\n".join(lines)
        assert "grouped" in text and "exit 3" in text and "(2) exit 0" in text


async def test_live_run_on_unknown_hostlist_is_refused(tmp_path):
    async with live_app(tmp_path) as app, app.run_test(size=(160, 40)) as pilot:
        await pilot.press("x")
        scr = app.screen
        scr.query_one("#run-nodes").value = "nosuch[1-2]"
        await pilot.press(*"true", "enter")
        assert "unknown nodes" in str(scr.query_one("#run-status").render())


async def test_live_run_output_is_escaped_and_truncated(tmp_path):
    async with live_app(tmp_path) as app, app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: all(r.state == UP for r in app.state.rows()), what="nodes up")
        await pilot.press("space")
        node = sorted(app.state.marked)[0]
        await pilot.press("x")
        scr = app.screen
        await until(pilot, lambda: type(app.focused).__name__ == "Input", what="command box")
        cmd = r"printf '\033[2J\033]0;pwned\007[red]boom[/red]\n'; seq 1 5000"
        scr.query_one("#run-command").value = cmd
        await pilot.press("enter")
        await until(pilot, lambda: node in scr.results, what="result")
        lines = [line.text for line in scr.query_one("#run-output").lines]
        text = "\n".join(lines)
        assert "\x1b" not in text and "\x07" not in text
        assert "[red]boom[/red]" in text          # shown literally, not as markup
        assert "truncated" in text and "5000" not in text.split("grouped")[0]
