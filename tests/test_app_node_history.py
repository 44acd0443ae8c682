"""The node screen's `g`: its graphs switch from live to the last hour and day read from the
history database the real SQLite sink wrote, and back (Pilot, waiting on conditions)."""
from __future__ import annotations

from collectors.sinks.sqlite import SqliteSink
from console.app import RoostApp
from console.config import Config
from console.screens.node import NodeScreen
from console.state import FleetState
from console.widgets.graph import Graph
from tests.helpers.pilot import until
from tests.helpers.samples import T0, make_sample

SIZE = (160, 50)
CORES = [25.0, 25.0, 25.0, 25.0]


def app_with_history(tmp_path, stored: bool = True) -> RoostApp:
    state = FleetState(["n1"])
    for seq in range(3):           # live: every core 50% busy
        state.apply(make_sample("n1", seq, busy=[50.0] * 4, big_little=False, ts0=T0))
    if stored:                      # the database: two hours before, every core 25% busy
        sink = SqliteSink(tmp_path / "roost.db")
        for k in range(0, 7200, 10):
            sink.write([make_sample("n1", k, busy=CORES, big_little=False, ts0=T0 - 7200)])
        sink.close()
    return RoostApp(state, clock=lambda: T0 + 2, config=Config(state_dir=tmp_path))


def values(graph: Graph) -> set[float]:
    return {round(y, 1) for ln in graph.lines for y in ln.ys}


async def test_g_cycles_live_1h_24h_from_the_database(tmp_path):
    app = app_with_history(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")                    # the fleet cursor starts on n1
        await until(pilot, lambda: isinstance(app.screen, NodeScreen), what="node screen")
        screen = app.screen
        cpu = screen.query_one("#g-cpu", Graph)
        await until(pilot, lambda: values(cpu) == {50.0}, what="live graphs")
        assert cpu.xlabel == "seconds"
        await pilot.press("g")
        await until(pilot, lambda: cpu.xlabel == "minutes (last 1h)", what="the 1h graphs")
        assert {ln.label for ln in cpu.lines} == {"cpu 0", "cpu 1", "cpu 2", "cpu 3"}
        assert values(cpu) == {25.0}
        assert min(min(ln.xs) for ln in cpu.lines) < -55              # an hour back, in minutes
        net = screen.query_one("#g-net", Graph)
        assert {ln.label for ln in net.lines} == {"rx", "tx"}
        await pilot.press("g")
        await until(pilot, lambda: cpu.xlabel == "hours (last 24h)", what="the 24h graphs")
        assert -2.1 < min(min(ln.xs) for ln in cpu.lines) < -1.8     # the two stored hours
        await pilot.press("g")
        await until(pilot, lambda: cpu.xlabel == "seconds" and values(cpu) == {50.0}, what="live")
        assert screen.span == "live"


async def test_without_a_database_g_says_where_it_looked_and_stays_live(tmp_path):
    app = app_with_history(tmp_path, stored=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")                    # the fleet cursor starts on n1
        await until(pilot, lambda: isinstance(app.screen, NodeScreen), what="node screen")
        await pilot.press("g")
        await until(pilot, lambda: any("no history database at" in n.message
                                       for n in app._notifications), what="the notice")
        assert app.screen.span == "live"
        assert str(tmp_path / "roost.db") in next(n.message for n in app._notifications)


async def test_the_key_is_a_binding_with_an_id(tmp_path):
    ids = {b.id for b in NodeScreen.BINDINGS}
    assert "history_span" in ids
