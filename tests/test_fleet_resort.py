"""Pilot tests of re-sorting and refreshing the fleet table at 10,000 rows (issue 13).

A re-sort re-selects the kept rows (console.state.FleetView) without rebuilding them; a refresh
with every node changed runs in slices, and a key pressed meanwhile is handled before it ends.
"""
from __future__ import annotations

from console.screens import fleet_rows
from tests.helpers.pilot import rack_app, until
from tests.helpers.samples import T0, steady_fleet, steady_samples

N = 10_000
COLUMN = {"cpu": ("CPU", lambda r: r.cpu), "load": ("Load", lambda r: r.load1),
          "mem": ("Mem", lambda r: r.mem_pct), "temp": ("Temp", lambda r: r.temp)}


def header(table) -> str:
    return "".join(s.text for s in table.header_strip())


async def test_resorting_10000_rows_keeps_cursor_and_marks_on_their_nodes_busiest_first():
    app = rack_app(N)
    async with app.run_test(size=(200, 50)) as pilot:
        screen, table = app.screen, app.screen.table
        await until(pilot, lambda: len(table._order) == N)
        await pilot.press("end", "pageup", "up", "up")      # somewhere in the middle
        await pilot.press("space", "space")                  # mark two nodes, cursor moves on
        marked = set(app.state.marked)
        assert len(marked) == 2
        here = table.current_node
        for key, (label, value) in COLUMN.items():
            screen.set_sort(key, False)
            await pilot.pause()
            assert table.current_node == here, key           # the cursor stays on its node
            assert app.state.marked == marked and all(table.cell(n, "mark").plain == "✓"
                                                      for n in marked)
            rows = [table._rows[n] for n in table._order]
            values = [value(r) for r in rows if value(r) is not None]
            assert values == sorted(values, reverse=True), key   # busiest first
            assert f"{label} ▼" in header(table)
            row = table._order.index(here)                   # the cursor's row is on screen
            top = table.scroll_offset.y
            assert top <= row < top + table.size.height - 1
        await pilot.press("r")
        assert "Temp ▲" in header(table) and table.current_node == here
        temps = [table._rows[n].temp for n in table._order]
        assert temps == sorted(temps)


async def test_a_key_during_a_10000_node_refresh_is_handled_before_the_refresh_ends(monkeypatch):
    app = rack_app(N)
    params = steady_fleet(N, 5)
    async with app.run_test(size=(200, 50)) as pilot:
        screen, table = app.screen, app.screen.table
        await until(pilot, lambda: len(table._order) == N)
        screen.set_sort("cpu", False)
        await pilot.press("down", "down")
        here = table.current_node
        for s in steady_samples(params, range(2, 3)):   # every node changes
            app.state.apply(s)
        sort_seen_refreshing = []
        set_sort = screen.set_sort
        monkeypatch.setattr(screen, "set_sort", lambda *a: (
            sort_seen_refreshing.append(screen.refreshing), set_sort(*a)))
        screen.refresh_view(T0 + 2)
        assert screen.refreshing                           # too big to do at once
        await pilot.press("greater_than_sign")             # a re-sort meanwhile
        assert screen.sort == "load" and table.current_node == here
        await until(pilot, lambda: not screen.refreshing, what="refresh to end")
        assert sort_seen_refreshing == [True]              # handled before the refresh ended
        assert table.current_node == here
        fresh = {r.name: r for r in app.state.rows(T0 + 2)}
        assert all(table._rows[n].load1 == fresh[n].load1 for n in table._order[:100])
        loads = [table._rows[n].load1 for n in table._order]
        assert loads == sorted(loads, reverse=True)


async def test_refreshes_asked_for_during_a_sliced_refresh_are_coalesced(monkeypatch):
    app = rack_app(N)
    params = steady_fleet(N, 5)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.screen
        await until(pilot, lambda: len(screen.table._order) == N)
        calls = []
        show = screen.rows.show
        monkeypatch.setattr(screen.rows, "show", lambda now, fresh: (calls.append(now),
                                                                     show(now, fresh)))
        for s in steady_samples(params, range(2, 3)):
            app.state.apply(s)
        for k in range(5):                                  # five ticks while it runs
            screen.refresh_view(T0 + 2 + k)
        await until(pilot, lambda: not screen.refreshing and bool(calls), what="refresh")
        await until(pilot, lambda: screen.rows.again is None and not screen.refreshing)
        assert calls[0] == T0 + 2 and calls[-1] == T0 + 6 and len(calls) == 2
        assert fleet_rows.SYNC_ROWS < N
