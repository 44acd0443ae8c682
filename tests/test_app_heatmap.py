"""Pilot tests of the heatmap's mouse handling and its behaviour at 750 nodes."""
from __future__ import annotations

from console.screens.node import NodeScreen
from tests.helpers.pilot import SIZE, make_app, until
from tests.helpers.samples import T0


async def test_click_selects_a_cell_and_double_click_opens_it():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await until(pilot, lambda: app.screen.name == "heatmap")
        hm = app.screen.heatmap_widget
        await pilot.click("Heatmap", offset=(1 + 2 * 2, 1))     # padding 1, third cell of rack1
        assert hm.current_node == "n5"
        assert "n5" in str(app.screen.query_one("#cursor-info").render())
        await pilot.double_click("Heatmap", offset=(1 + 2 * 1, 3))   # second cell of rack2
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        assert app.screen.node == "n4"


async def test_750_nodes_fit_and_the_cursor_walks_lines_into_the_next_rack():
    app = make_app(n=750)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("h")
        await until(pilot, lambda: app.screen.name == "heatmap")
        hm = app.screen.heatmap_widget
        assert len(hm._lines) <= hm.size.height          # every node visible without scrolling
        per_line = hm.per_line()
        await pilot.press("down")
        assert hm.cursor == per_line                     # same column, next line of rack1
        for _ in range(375 // per_line):
            await pilot.press("down")
        assert hm.rows[hm.cursor].groups == ("rack2",)


async def test_fleet_row_click_moves_cursor_and_double_click_opens():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("NodeTable", offset=(20, 3))        # header is line 0: third row
        assert app.screen.table.current_node == "n3"
        await pilot.double_click("NodeTable", offset=(20, 4))
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        assert app.screen.node == "n4"


async def test_10000_nodes_show_a_cell_per_rack_and_enter_opens_the_rack():
    from collectors.model import NodeEvent
    from console.state import DOWN
    from tests.helpers.pilot import rack_app
    app = rack_app(10_000)
    app.state.apply(NodeEvent("n150", T0 + 1, "down", "keepalive timeout"))
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("h")
        await until(pilot, lambda: app.screen.name == "heatmap")
        hm, info = app.screen.heatmap_widget, app.screen.query_one("#cursor-info")
        assert [r.name for r in hm.rows[:3]] == ["rack1", "rack2", "rack3"] and len(hm.rows) == 100
        assert hm.rows[1].state == DOWN and hm.rows[0].state != DOWN   # n150's rack shows it
        await pilot.press("right")
        assert "rack2  100 nodes (1 down)  worst n150 down" in str(info.render())
        await pilot.press("enter")
        await until(pilot, lambda: len(hm.rows) == 100 and hm.rows[0].name == "n101")
        assert hm.current_node == "n101" and "group rack2" in str(app.screen.query_one("#legend").render())
        await pilot.press("escape")
        await until(pilot, lambda: hm.rows[0].name == "rack1")
        assert hm.current_node == "rack2"
        await pilot.press("space")                        # marks every node of the rack
        assert {f"n{i}" for i in range(101, 201)} <= app.state.marked
        await pilot.press("enter", "right", "enter")      # into rack2, then its second node
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        assert app.screen.node == "n102"


async def test_below_the_threshold_every_node_keeps_its_cell_and_escape_does_nothing():
    app = make_app(n=750)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("h")
        await until(pilot, lambda: app.screen.name == "heatmap")
        hm = app.screen.heatmap_widget
        assert len(hm.rows) == 750 and not app.screen.members
        await pilot.press("escape")
        assert app.screen.name == "heatmap" and len(hm.rows) == 750
