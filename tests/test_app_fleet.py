"""Pilot tests of the fleet screen: rows, filter, sort, mark, escaping, navigation."""
from __future__ import annotations

from console.app import RoostApp
from console.messages import FleetDrain
from console.screens.fleet import FleetScreen
from console.state import FleetState
from tests.helpers.pilot import SIZE, make_app, until
from tests.helpers.samples import T0, make_sample


async def open_filter(pilot) -> None:
    await pilot.press("slash")
    await until(pilot, lambda: type(pilot.app.focused).__name__ == "Input")


def shown(app) -> list[str]:
    return list(app.screen.table._order)


async def test_fleet_rows_summary_and_cells():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        assert shown(app) == [f"n{i}" for i in range(1, 13)]
        summary = str(app.screen.query_one("#summary").render())
        assert "12/12 up" in summary and "alerts" in summary
        cell = app.screen.table.cell("n2", "flags")
        assert "UV" in cell.plain


async def test_filter_by_name_group_and_state():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_filter(pilot)
        await pilot.press("n", "1")
        assert shown(app) == ["n1", "n10", "n11", "n12"]
        await pilot.press("enter")
        assert app.screen.table.has_focus
        await open_filter(pilot)
        await pilot.press("backspace", "backspace", *"group:rack2")
        assert shown(app) == ["n2", "n4", "n6", "n8", "n10", "n12"]
        await pilot.press("escape", "escape")
        assert len(shown(app)) == 12


async def test_sort_keys_and_header_click():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("greater_than_sign", "greater_than_sign")
        assert app.screen.sort == "load"
        await pilot.press("less_than_sign")
        assert app.screen.sort == "cpu"
        order = shown(app)
        vals = [r.cpu for r in sorted(app.state.rows(T0 + 2), key=lambda r: order.index(r.name))]
        assert vals == sorted(vals, reverse=True)       # busiest first, as top does
        await pilot.press("r")
        vals = [r.cpu for r in sorted(app.state.rows(T0 + 2), key=lambda r: shown(app).index(r.name))]
        assert vals == sorted(vals)
        await pilot.click("NodeTable", offset=(60, 0))   # the Temp header
        await pilot.pause()
        assert app.screen.sort in ("temp", "mem", "fan")


async def test_mark_with_space_and_summary():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space", "space", "down", "space")
        assert app.state.marked == {"n1", "n2", "n4"}
        assert app.screen.table.cell("n1", "mark").plain == "✓"
        assert "3 marked" in str(app.screen.query_one("#summary").render())
        await pilot.press("u")
        assert app.state.marked == set()


async def test_node_names_and_values_cannot_inject_markup_or_escapes():
    state = FleetState()
    evil = "[red]x[/red]\x1b[2J\x07"
    for i in range(2):
        state.apply(make_sample(evil, i, busy=[10]))
    app = RoostApp(state, clock=lambda: T0 + 1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        cell = app.screen.table.cell(evil, "name")
        assert cell.plain == "[red]x[/red]"
        assert not cell.spans


async def test_drain_applies_batched_items_and_toasts_critical():
    app = make_app(n=3)
    async with app.run_test(size=SIZE) as pilot:
        for item in [make_sample("n1", 5, busy=[1], temp=95.0)]:
            if app.inbox.put(item):
                app.post_message(FleetDrain())
        await pilot.pause()
        assert ("n1", "temp") in app.state.alerts
        assert any("n1" in n.message for n in app._notifications)


async def test_views_switch_and_node_opens_with_enter():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "NodeScreen")
        assert app.screen.node == "n2"
        for key, name in (("h", "heatmap"), ("e", "events"), ("f", "fleet")):
            await pilot.press(key)
            await until(pilot, lambda name=name: app.screen.name == name, what=name)
        await pilot.press("j")
        await until(pilot, lambda: app.screen.name == "jobs", what="jobs")


async def test_jobs_column_counts_running_tasks_from_the_queue(tmp_path):
    from console.jobs.model import JobSpec
    from console.jobs.store import Store
    db = tmp_path / "jobs.db"
    store = Store(db)
    job = store.submit(JobSpec(script="#!/bin/sh\nsleep 1\n", array=(0, 1, 2)))
    tasks = store.tasks(job)
    store.start(tasks[0], "n1", T0)
    store.start(tasks[1], "n1", T0)
    store.start(tasks[2], "n3", T0)
    store.close()
    app = make_app(jobs_db=str(db))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state.node("n1").jobs == 2, what="job counts")
        assert app.state.node("n3").jobs == 1 and app.state.node("n2").jobs == 0
        app.refresh_screen()
        assert app.screen.table.cell("n1", "jobs").plain == "2"


async def test_node_down_shows_symbol_age_and_critical_toast():
    from collectors.model import NodeEvent
    app = make_app(n=3)
    async with app.run_test(size=SIZE) as pilot:
        if app.inbox.put(NodeEvent("n2", T0 - 40, "down", "keepalive timeout")):
            app.post_message(FleetDrain())
        await until(pilot, lambda: app.state.node("n2").state == "down", what="down")
        app.refresh_screen()
        assert app.screen.table.cell("n2", "state").plain.split() == ["✖", "down", "42s"]
        assert app.screen.table.cell("n2", "cpu").plain.strip().startswith("–")
        assert any("keepalive timeout" in n.message and n.severity == "error"
                   for n in app._notifications)
        assert "1 down" in str(app.screen.query_one("#summary").render())


async def test_critical_toasts_are_rate_limited_and_summarised():
    app = make_app(n=12)
    async with app.run_test(size=SIZE) as pilot:
        for i in range(1, 13):
            if app.inbox.put(make_sample(f"n{i}", 9, busy=[1], temp=99.0)):
                app.post_message(FleetDrain())
        await until(pilot, lambda: app.inbox.pending is False and app.state.node("n12").last.seq == 9)
        toasts = [n.message for n in app._notifications]
        assert len([t for t in toasts if "99.0" in t]) == app.TOASTS_PER_TICK
        app.flush_toasts()
        await pilot.pause()
        held = [n.message for n in app._notifications if "more critical alerts" in n.message]
        assert held and held[-1].startswith("and ")


# ---- issue 11: 80x24, sorting, marks, keys that must not act from the wrong screen -----------
def footer_keys(app) -> list[str]:
    from console.widgets.key_footer import KeyFooter
    footer = app.screen.query_one(KeyFooter)
    return [f"{k.key_display} {k.description}".strip() for k in footer.children]


async def test_80x24_fleet_fits_and_the_footer_keeps_help_and_the_screens_keys():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: footer_keys(app), what="footer")
        table = app.screen.table
        assert table.virtual_size.width <= table.scrollable_content_region.width   # no sideways
        assert {"state", "name", "cpu", "load", "mem", "temp"} <= set(table.columns)
        keys = footer_keys(app)
        assert {"/ Filter", "space Mark", "t Shell", "? Help", "⏎ Node"} <= set(keys)
        assert "f Fleet" not in keys                  # the view on screen is not repeated
        from console.widgets.key_footer import KeyFooter
        for key in app.screen.query_one(KeyFooter).children:
            assert key.region.right <= 80, key        # every key shown is whole
    async with make_app().run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: footer_keys(pilot.app), what="footer")
        keys = footer_keys(pilot.app)
        assert {"j Jobs", "p Power", "x Run", "^q Quit", "? Help"} <= set(keys)


async def test_sorted_header_keeps_its_arrow_and_busiest_first():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("greater_than_sign", "greater_than_sign")
        assert app.screen.sort == "load"
        header = "".join(s.text for s in app.screen.table.header_strip())
        assert "Load ▼" in header                     # was cut to "Load…"
        loads = [app.state.node(n).last.load.load1 for n in shown(app)]
        assert loads == sorted(loads, reverse=True)
        await pilot.press("r")
        assert "Load ▲" in "".join(s.text for s in app.screen.table.header_strip())
        assert "sort: load ▲" in str(app.screen.query_one("#summary").render())


async def test_resorting_keeps_cursor_and_marks_on_the_node_not_the_row():
    app = make_app(n=5)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.set_sort("temp")                  # hottest first
        await pilot.press("home")
        table = app.screen.table
        first, second = shown(app)[:2]
        # between two redraws the hottest node cools down: the next redraw sorts it last
        app.state.apply(make_sample(first, 3, busy=[5, 5, 5, 5], temp=10.0))
        await pilot.press("space")                   # marks `first`, moves to what was below it
        assert shown(app)[-1] == first and table.current_node == second
        await pilot.press("space")                   # marks `second`; `first` stays marked
        assert app.state.marked == {first, second}
        here = table.current_node
        await pilot.press("greater_than_sign")       # a new sort order: same node under cursor
        assert table.current_node == here and shown(app).index(here) != -1


async def test_power_keys_act_on_fleet_and_power_screens_only():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await until(pilot, lambda: app.screen.name == "jobs", what="jobs")
        for key in ("C", "O", "o"):
            await pilot.press(key)
        await pilot.pause()
        assert app.screen.name == "jobs"
        assert not any("power" in n.message for n in app._notifications)
        await pilot.press("f")
        await until(pilot, lambda: app.screen.name == "fleet", what="fleet")
        await pilot.press("C")                       # here it means power cycle (none set up)
        await until(pilot, lambda: any("no power configured" in n.message
                                       for n in app._notifications), what="power notice")


async def test_10000_rows_navigate_and_sort_with_the_cursor_on_its_node_and_only_visible_rows_drawn():
    from tests.helpers.pilot import rack_app
    app = rack_app(10_000)
    async with app.run_test(size=(200, 50)) as pilot:
        table = app.screen.table
        await until(pilot, lambda: len(table._order) == 10_000)
        assert app.screen.rows_shown == 10_000
        await pilot.press("end")
        assert table.current_node == "n10000"
        await pilot.press("pageup", "up")
        node = table.current_node
        assert node == table._order[10_000 - 1 - (table.size.height - 2) - 1]
        await pilot.press("greater_than_sign")                 # sort by the next column
        await until(pilot, lambda: app.screen.sort != "name")
        assert table.current_node == node                       # the cursor stays on its node
        assert table._order != sorted(table._order) and len(table._order) == 10_000
        await pilot.pause()
        # virtualised: only rows that were on screen were ever rendered
        assert 0 < len(table._strips) <= 5 * table.size.height
        await pilot.press("home")
        assert table.current_node == table._order[0] and table.scroll_offset.y == 0
