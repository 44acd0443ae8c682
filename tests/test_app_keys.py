"""Pilot tests: `:` commands, palette, help, themes, keymap remapping, heatmap and node screens."""
from __future__ import annotations

import pytest

import themes
from console.app import RoostApp
from console.keymap import BINDING_IDS, KeymapError, validate
from console.screens.help import HelpScreen, binding_rows
from console.screens.node import NodeScreen
from console.widgets.graph import Graph
from tests.helpers.pilot import SIZE, make_app, until
from tests.helpers.samples import T0


async def command(pilot, text: str) -> None:
    await pilot.press("colon")
    await until(pilot, lambda: type(pilot.app.focused).__name__ == "Input"
                and type(pilot.app.screen).__name__ == "CommandLine")
    await pilot.press(*text, "enter")
    await until(pilot, lambda: type(pilot.app.screen).__name__ != "CommandLine")
    await pilot.pause()


async def test_command_line_navigates_and_sets_theme_and_sort():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await command(pilot, "heatmap temp")
        await until(pilot, lambda: app.screen.name == "heatmap"
                    and app.screen.heatmap_widget.metric == "temp")
        await command(pilot, "node n3")
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        assert isinstance(app.screen, NodeScreen) and app.screen.node == "n3"
        await command(pilot, "theme light")
        assert app.theme == "roost-light"
        await command(pilot, "theme nord")          # Textual's own themes work too
        assert app.theme == "nord"
        await command(pilot, "fleet")
        await until(pilot, lambda: app.screen.name == "fleet")
        await command(pilot, "sort temp rev")
        assert (app.screen.sort, app.screen.reverse) == ("temp", True)
        await command(pilot, "filter rack1")
        assert app.screen.query_text == "rack1" and len(app.screen.table._order) == 6
        await command(pilot, "bogus")
        assert any("unknown command" in n.message for n in app._notifications)


def test_every_binding_has_an_id_in_the_catalogue():
    from console.screens import command_line, events, fleet, heatmap, help, node, run
    from console.widgets import heatmap as heat_widget, node_table
    classes = (RoostApp, fleet.FleetScreen, heatmap.HeatmapScreen, node.NodeScreen,
               events.EventsScreen, run.RunScreen, help.HelpScreen, command_line.CommandLine,
               node_table.NodeTable, heat_widget.Heatmap)
    from console.screens import confirm, power
    classes += (power.PowerScreen, confirm.ConfirmScreen)
    from console.screens import job_detail, jobs, submit
    from console.widgets import job_table
    classes += (jobs.JobsScreen, submit.SubmitScreen, job_detail.JobDetailScreen,
                job_table.JobTable)
    ids = [b.id for cls in classes for b in cls.__dict__.get("BINDINGS", [])]
    assert None not in ids
    assert set(ids) == set(BINDING_IDS)     # catalogue and declarations agree both ways


async def test_keymap_from_config_remaps_by_id():
    app = make_app(keymap={"heatmap": "H", "mark": "m"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        assert app.screen.name == "fleet"
        await pilot.press("m")
        assert app.state.marked == {"n1"}
        await pilot.press("H")
        await until(pilot, lambda: app.screen.name == "heatmap")


def test_keymap_validation_names_the_bad_id():
    with pytest.raises(KeymapError, match="nosuch"):
        validate({"nosuch": "z"})
    with pytest.raises(KeymapError, match="keymap].fleet"):
        validate({"fleet": ""})


async def test_help_lists_current_screen_bindings_with_remapped_keys():
    app = make_app(keymap={"mark": "m"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = {bid: key for key, _d, bid in app.screen.rows}
        assert rows["mark"] == "m" and rows["filter"] == "/" and "quit" in rows
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.name == "fleet")


async def test_palette_offers_every_view_and_theme():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for want in ("Show heatmap", "Show events", "Heatmap by net", "Sort fleet by temp",
                     "Run command", "Jobs", "Power", "Help", *(f"Theme {n}" for n in themes.names())):
            assert want in titles
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")


async def test_themes_are_data_and_restyle_widgets():
    assert len(themes.names()) >= 4
    app = make_app(theme="roost-contrast")
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "roost-contrast"
        before = app.screen.table.cell("n1", "state").style
        app.theme = "roost-light"
        await pilot.pause()
        after = app.screen.table.cell("n1", "state").style
        assert before != after and str(after) == app.theme_variables["roost-up"]


def test_layout_uses_theme_variables_only():
    import re
    css = themes.LAYOUT.read_text()
    assert not re.search(r"#[0-9a-fA-F]{3,8}\b|\brgb\(", css)


async def test_heatmap_cursor_metric_and_enter():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await until(pilot, lambda: app.screen.name == "heatmap")
        hm = app.screen.heatmap_widget
        assert hm.current_node == "n1"
        await pilot.press("right", "right")
        assert hm.current_node == "n5"          # grouped by rack: rack1 holds n1 n3 n5 ...
        await pilot.press("m")
        assert hm.metric == "temp"
        await pilot.press("space")
        assert "n5" in app.state.marked
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        assert app.screen.node == "n5"


async def test_node_screen_graphs_have_big_and_little_series():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await command(pilot, "node n1")                       # 8 cores, RK1-like
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        cpu = app.screen.query_one("#g-cpu", Graph)
        labels = [ln.label for ln in cpu.lines]
        assert labels[:4] == ["big 4", "big 5", "big 6", "big 7"]
        assert labels[4:] == ["LITTLE 0", "LITTLE 1", "LITTLE 2", "LITTLE 3"]
        assert {ln.marker for ln in cpu.lines[:4]} != {ln.marker for ln in cpu.lines[4:]}
        temps = [ln.label for ln in app.screen.query_one("#g-temp", Graph).lines]
        assert temps == ["soc-thermal", "gpu-thermal"]
        facts = str(app.screen.query_one("#facts").render())
        assert "Turing Machines RK1" in facts and "6.1.0-rk1" in facts
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.name == "fleet")


async def test_events_screen_lists_alerts():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await until(pilot, lambda: app.screen.name == "events")
        table = app.screen.query_one("#events")
        assert table.row_count == len(app.state.events) > 0
        assert "active alerts" in str(app.screen.query_one("#alerts").render())
        table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, NodeScreen), what="node from event")
        assert app.screen.node == app.state.events[-1].node


async def test_shell_argv_from_target():
    from collectors.model import NodeTarget
    t = NodeTarget("n1", "10.0.0.5", port=2222, user="pi", identity_files=("/k",),
                   known_hosts=("/kh",), proxy_jump="ctl")
    app = RoostApp(make_app().state, targets=[t], clock=lambda: T0)
    assert app.ssh_argv("n1") == ["ssh", "-p", "2222", "-i", "/k", "-o", "UserKnownHostsFile=/kh",
                                  "-J", "ctl", "pi@10.0.0.5"]


async def test_unknown_theme_falls_back_with_a_notice():
    app = make_app(theme="no-such-theme")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == themes.DEFAULT
        assert any("no-such-theme" in n.message for n in app._notifications)


def test_run_console_refuses_a_bad_keymap(capsys, tmp_path):
    from console.app import run_console
    from console.config import Config
    cfg = Config(keymap={"nosuch": "z"}, state_dir=tmp_path)
    assert run_console(cfg, None) == 2
    assert "nosuch" in capsys.readouterr().err


# ---- issue 11: help lists every key and the `:` commands; the node screen at 80x24 ------------
def test_every_colon_command_has_a_handler_and_a_help_line():
    from console.screens.command_line import COMMAND_HELP, COMMANDS, Commands
    handlers = {name[4:] for name in dir(Commands) if name.startswith("cmd_")}
    assert set(COMMANDS) == handlers
    assert all(what for _verb, _args, what in COMMAND_HELP)


async def test_help_lists_every_key_of_a_multi_key_binding_and_the_commands():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await command(pilot, "node n1")
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = {bid: key for key, _d, bid in app.screen.rows}
        assert rows["graph_next"] == "], →" and rows["graph_prev"] == "[, ←"
        text = app.screen.text().plain
        assert ":power [status | on|off|cycle [NODESET] [--force] [--hard]]" in text
        assert ":heatmap [cpu|temp|fan|net]" in text and ":node NAME" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        app.push_screen(HelpScreen("x", [], ()))
        await pilot.pause()
        rows = {bid: key for key, _d, bid in binding_rows(app, app.screen)}
        assert rows["help_close"] == "esc, ?, q"


async def test_node_screen_at_80x24_pages_readable_graphs():
    from console.screens.node import GRAPH_MIN, GRAPHS
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await command(pilot, "node n1")
        await until(pilot, lambda: isinstance(app.screen, NodeScreen))
        screen = app.screen
        await until(pilot, lambda: screen.arrangement.short, what="compact layout")
        shown = [g for g in screen.query(Graph) if g.display]
        assert [g.id for g in shown] == ["g-cpu"]
        assert shown[0].size.height >= GRAPH_MIN and shown[0].lines
        assert "page 1/5" in str(screen.query_one("#graph-tabs").render())
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: [g.id for g in screen.query(Graph) if g.display] == ["g-temp"])
        assert screen.query_one("#g-temp", Graph).lines        # drawn when its page showed
        await pilot.press("left_square_bracket", "left_square_bracket")
        await until(pilot, lambda: [g.id for g in screen.query(Graph) if g.display] == ["g-net"])
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await command(pilot, "node n1")
        await until(pilot, lambda: isinstance(pilot.app.screen, NodeScreen))
        screen = pilot.app.screen
        await until(pilot, lambda: not screen.arrangement.short, what="full layout")
        graphs = list(screen.query(Graph))
        assert all(g.display and g.size.height >= GRAPH_MIN for g in graphs)
        assert len(graphs) == len(GRAPHS) and not screen.query_one("#graph-tabs").display
        assert not screen.check_action("graph_page", (1,))     # no paging keys in the footer


async def test_shell_where_the_terminal_cannot_be_handed_over_says_so():
    from console.screens.shell import ShellEnded, notice
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")             # headless: Textual cannot suspend; the loop goes on
        await until(pilot, lambda: any("cannot open a shell on n1" in n.message
                                       for n in app._notifications), what="shell notice")
        assert app.screen.name == "fleet" and not app._batch_count    # repaints not held
    failed = ShellEnded("n\x1b[2J1", ["ssh", "-p", "22", "pi@n1"], 255, 3.2)
    text, severity = notice(failed, 7)
    assert severity == "warning" and "\x1b" not in text
    assert "ended (exit 255) after 3 s; 7 samples arrived meanwhile · ssh -p 22 pi@n1" in text


async def test_node_screen_leaves_out_graphs_the_node_has_no_data_for():
    from console.state import FleetState
    from tests.helpers.samples import make_sample
    state = FleetState(["fanless"])
    for seq in range(3):
        state.apply(make_sample("fanless", seq, busy=[30, 60], rpm=None, pwm=None))
    app = RoostApp(state, clock=lambda: T0 + 2)
    async with app.run_test(size=(200, 50)) as pilot:
        app.open_node("fanless")
        await until(pilot, lambda: isinstance(app.screen, NodeScreen)
                    and app.screen.graphs != ())
        screen = app.screen
        await until(pilot, lambda: [g.gid for g in screen.graphs] == [
            "g-cpu", "g-temp", "g-freq", "g-net"], what="no Fan graph")
        assert not screen.query_one("#g-fan", Graph).display
        assert all(screen.query_one(f"#{g.gid}", Graph).display for g in screen.graphs)
