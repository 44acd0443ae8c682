"""What the fleet table paints: a line is rendered again when what it shows changed, never
otherwise, and a cursor move repaints the two lines it touched (console.widgets.node_table).

The table keeps each painted line's strip; it is reused when the line's Row is the one last
painted, or a new Row that shows the same (an up node's age is not shown). A stale cell there
would show an old value for as long as the node keeps its place on screen.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace

from hypothesis import given, settings, strategies as st

from console.state import DOWN, UP, Row
from console.widgets.node_table import NodeTable
from tests.helpers.pilot import SIZE, make_app, until
from tests.helpers.samples import T0, make_sample


def painted(table: NodeTable, node: str) -> str:
    """The text of node's line as the table paints it now."""
    y = table._order.index(node) - table.scroll_offset.y + 1
    return table.render_line(y).text.rstrip()


def fresh(table: NodeTable, node: str) -> str:
    """The text a line rendered from nothing kept would show."""
    row = table._rows[node]
    return table._render_row(table._make_cells(row, node in table._marked)).text.rstrip()


async def test_a_line_is_painted_again_when_its_shown_values_change():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.table
        before = painted(table, "n1")
        assert "%" in before
        for seq in (3, 4):      # busy 97% over the last second (rates come from counters)
            app.state.apply(make_sample("n1", seq, busy=[97.0] * 8, temp=81.5))
        app.screen.refresh_view(T0 + 4)
        await until(pilot, lambda: table._rows["n1"].cpu is not None
                    and table._rows["n1"].cpu > 90, what="n1's new row shown")
        after = painted(table, "n1")
        assert after != before and " 97% " in after and "81.5°" in after
        assert after == fresh(table, "n1")
        app.state.toggle_mark("n1")
        app.screen.redraw()
        assert painted(table, "n1").startswith("✓")


async def test_a_new_row_that_shows_the_same_keeps_its_painted_line():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.table
        painted(table, "n3")
        strip = table._strips["n3"][3]
        row = table._rows["n3"]
        assert row.state == UP
        table._rows["n3"] = replace(row, age=(row.age or 0) + 7.0)   # an up node's age: hidden
        painted(table, "n3")
        assert table._strips["n3"][3] is strip
        table._rows["n3"] = replace(row, load1=(row.load1 or 0) + 1.0)
        assert painted(table, "n3") == fresh(table, "n3") != strip.text


async def test_a_cursor_move_repaints_the_line_it_left_and_the_line_it_reached():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.table
        asked: list[int] = []
        inner = table.render_line
        table.render_line = lambda y: (asked.append(y), inner(y))[1]    # type: ignore[method-assign]
        await pilot.press("down")
        await until(pilot, lambda: len(asked) >= 2, what="a repaint")
        await pilot.pause()
        assert sorted(set(asked)) == [1, 2]           # the first two rows; the header stays
        cursor = table.get_component_rich_style("node-table--cursor")
        assert cursor.reverse
        assert not any(s.style and s.style.reverse for s in inner(1))
        assert all(s.style and s.style.reverse for s in inner(2) if s.text.strip())


# ---- property: a kept line always paints as a fresh render of its current row would --------
change = st.one_of(
    st.tuples(st.just("cpu"), st.floats(0, 100)),
    st.tuples(st.just("temp"), st.one_of(st.none(), st.floats(20, 95))),
    st.tuples(st.just("load1"), st.floats(0, 9)),
    st.tuples(st.just("age"), st.floats(0, 5000)),
    st.tuples(st.just("state"), st.sampled_from([UP, DOWN])),
    st.tuples(st.just("mark"), st.booleans()),
    st.tuples(st.just("same"), st.none()),     # the same Row again
)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["n1", "n2", "n3"]), change), min_size=1, max_size=12))
def test_kept_lines_paint_as_fresh_renders_after_any_changes(changes):
    asyncio.run(_paint_changes(changes))


async def _paint_changes(changes: list[tuple[str, tuple]]) -> None:
    app = make_app(n=3)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.table
        rows = {r.name: r for r in table._rows_list}
        marked: set[str] = set()
        for node, (what, value) in changes:
            if what == "mark":
                marked = marked | {node} if value else marked - {node}
            elif what != "same":
                rows[node] = _changed(rows[node], what, value)
            table.show([rows[n] for n in ("n1", "n2", "n3")], marked, data=object())
            for n in ("n1", "n2", "n3"):
                assert painted(table, n) == fresh(table, n), (node, what, value)


def _changed(row: Row, what: str, value: object) -> Row:
    return replace(row, **{what: value})
