"""Power from the console: the demo fleet's power channels end to end through `O`/`o`/`C`, the
power screen's read-back + reachability, refusals, confirmation and escaping of hostile strings.

Waits are on conditions (state reached), polled with short Pilot pauses, never fixed sleeps.
"""
from __future__ import annotations

import contextlib

from collectors.fleet import Fleet
from console.app import RoostApp
from console.demo.fleet import DemoFleet
from console.power.base import Driver, PowerError, PowerState
from console.power.registry import Context, build_driver
from console.power.sequence import PowerNode, Sequencer
from console.power.service import PowerService
from console.power.ssh import SshAccess
from console.screens.confirm import ConfirmScreen
from console.screens.power import PowerScreen
from console.state import DOWN, UP, FleetState
from console.widgets.power_table import PowerTable
from tests.helpers.pilot import until
from tests.helpers.power import FAST, FixedDriver, FixedReach, NoReach

SIZE = (170, 40)


def power_screen_up(app: RoostApp) -> bool:
    """The power screen is on and composed (under load its table can mount a frame later)."""
    return isinstance(app.screen, PowerScreen) and bool(app.screen.query(PowerTable))


def demo_power(fleet: DemoFleet, roles: dict[str, str] | None = None) -> PowerService:
    """The demo fleet's channels behind the demo driver, as `roost demo` wires them."""
    roles = roles or {}
    ctx = Context(demo=fleet)
    drivers = {t.name: build_driver(t.name, {"driver": "demo"}, ctx) for t in fleet.targets()}
    nodes = {n: PowerNode(n, d, role=roles.get(n), shutdown=None) for n, d in drivers.items()}
    access = SshAccess({t.name: t for t in fleet.targets()})
    return PowerService(Sequencer(nodes, access, FAST), access, drivers)


@contextlib.asynccontextmanager
async def demo_app(tmp_path, *, source: bool = True, roles: dict[str, str] | None = None):
    demo = DemoFleet(3, seed=2, steady=True, boot_delay=0.3, state_dir=tmp_path / "demo")
    await demo.start()
    targets = demo.targets()
    fleet = Fleet(targets) if source else None
    state = FleetState([t.name for t in targets], groups={t.name: t.groups for t in targets})
    app = RoostApp(state, fleet, targets=targets, power=demo_power(demo, roles))
    try:
        yield app, [t.name for t in targets]
    finally:
        if fleet is not None:
            await fleet.stop()
        await demo.stop()


def row(app, name):
    return {r.name: r for r in app.state.rows()}[name]


def log_text(app) -> str:
    return "\n".join(f"{e.node}: {e.text}" for e in app.power.log)


def notices(app) -> str:
    return "\n".join(n.message for n in app._notifications)


async def test_marked_node_off_with_confirmation_then_on_again(tmp_path):
    async with demo_app(tmp_path) as (app, names), app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(r.state == UP for r in app.state.rows()),
                    what="all demo nodes up")
        await until(pilot, lambda: all(r.power == "on" for r in app.state.rows()),
                    what="power column read back")
        first = app.screen.table.current_node
        names = [first] + [n for n in names if n != first]
        await pilot.press("space")                          # mark the first row
        assert app.state.marked == {first}
        await pilot.press("O")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert "Power off 1 node" in app.screen.question and first in app.screen.detail
        await pilot.press("y")
        await until(pilot, lambda: row(app, first).power == "off"
                    and row(app, first).state == DOWN, what="row shows off/down")
        assert all(row(app, n).state == UP and row(app, n).power == "on" for n in names[1:])
        assert "soft shutdown" in log_text(app) and "off done" in log_text(app)

        await pilot.press("p")                              # the power screen tells the truth
        await until(pilot, lambda: power_screen_up(app), what="power screen composed")
        table = app.screen.table
        await until(pilot, lambda: table.row_count == 3 and table.cell_text(first, "ssh")
                    == "no answer", what="power screen read back")
        assert table.cell_text(first, "readback") == "off"
        assert table.cell_text(first, "shown") == "off"
        assert table.cell_text(names[1], "readback") == "on"
        assert table.cell_text(names[1], "ssh") == "answers"

        await pilot.press("o")                              # one node: no question asked
        assert not isinstance(app.screen, ConfirmScreen)
        await until(pilot, lambda: table.cell_text(first, "progress").startswith("on done"),
                    what="power on finished")
        assert "waiting for SSH" in log_text(app)
        await until(pilot, lambda: row(app, first).state == UP and row(app, first).power == "on",
                    what="row up again after the boot delay")


async def test_cycle_and_group_confirmation_names_the_count(tmp_path):
    async with demo_app(tmp_path, source=False) as (app, names), \
            app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(r.power == "on" for r in app.state.rows()))
        app.state.marked.update(names[:2])
        await pilot.press("o")                              # a group: asks even for `on`
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Power on 2 nodes" in app.screen.question
        await pilot.press("n")                              # no: nothing happens
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert not app.power.busy
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Power cycle 2 nodes" in app.screen.question
        await pilot.press("y")
        await until(pilot, lambda: not app.power.busy and all(
            app.power.steps.get(n, "").startswith("cycle done") for n in names[:2]),
            what="both cycled")
        await until(pilot, lambda: "power cycle: 2/2 done" in notices(app), what="summary")
        assert "switching power on" in log_text(app)


async def test_controller_is_refused_without_force(tmp_path):
    async with demo_app(tmp_path, source=False, roles=None) as (app, names), \
            app.run_test(size=SIZE) as pilot:
        ctl = app.screen.table.current_node
        app.power.service.sequencer.nodes[ctl].role = "controller"
        app.power.runner.seq.nodes[ctl].role = "controller"
        await until(pilot, lambda: all(r.power == "on" for r in app.state.rows()))
        await pilot.press("O")                              # cursor on the controller
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert f"refusing to power off {ctl} is a controller" in notices(app)
        app.commands.run(f"power off {ctl} --force")        # :power off ctl --force asks ...
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "forced" in app.screen.detail
        await pilot.press("escape")                         # ... and escape keeps it on
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert not app.power.busy and row(app, ctl).power == "on"


# ---- hostile strings, no hardware ----------------------------------------------------------------
EVIL = "n[bold red]1\x1b[2J\x1b]0;pwn\x07"


class EvilDriver(Driver):
    kind = "command"

    async def status(self) -> PowerState:
        raise PowerError(f"node {self.node}: power command: [red]boom\x1b[31m\x07 {EVIL}")

    async def on(self) -> None: ...

    async def off(self) -> None: ...




async def test_hostile_node_names_and_driver_errors_are_inert():
    driver = EvilDriver(EVIL)
    service = PowerService(Sequencer({EVIL: PowerNode(EVIL, driver)}, NoReach(), FAST),
                           NoReach(), {EVIL: driver})
    app = RoostApp(FleetState([EVIL, "n2"]), power=service)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row(app, EVIL).power == "?", what="unreadable power")
        await pilot.press("p")
        await until(pilot, lambda: power_screen_up(app), what="power screen composed")
        table = app.screen.table
        await until(pilot, lambda: table.row_count == 1 and "boom" in table.cell_text(EVIL, "shown"))
        for key in ("node", "shown"):
            text = table.cell_text(EVIL, key)
            assert "\x1b" not in text and "\x07" not in text
        assert "[bold red]" in table.cell_text(EVIL, "node")      # shown literally, not styled
        assert "[red]boom" in table.cell_text(EVIL, "shown")
        assert not table.get_cell(EVIL, "node").spans
        await pilot.press("O")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        detail = str(app.screen.query_one("#confirm-detail").render())
        assert "\x1b" not in detail and "[bold red]" in detail
        await pilot.press("n")
        app.commands.run("power on n2")                       # no power table: says so
        await pilot.pause()
        assert "no power table for n2" in notices(app)


async def test_without_power_config_the_keys_explain():
    app = RoostApp(FleetState(["n1"]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("O")
        await pilot.pause()
        assert "no power configured" in notices(app)
        await pilot.press("p")
        await until(pilot, lambda: power_screen_up(app), what="power screen composed")
        assert "no power configured" in str(app.screen.query_one("#power-head").render())
        app.commands.run("power bogus")
        await pilot.pause()
        assert ":power [status | on|off|cycle" in notices(app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Power", "Power on", "Power off", "Power cycle"} <= set(titles)


def test_roost_demo_console_gets_power_through_the_running_demo(tmp_path):
    """`roost demo` hands the console a PowerService on the inventory's power tables."""
    from console.config import load_config
    from console.demo.cli import _power
    from console.demo.inventory import write_inventory
    fleet = DemoFleet(2, steady=True, state_dir=tmp_path / "demo")
    fleet.prepare()
    try:
        config = load_config(write_inventory(fleet, fleet.state_dir / "roost.toml"),
                             state_dir=fleet.state_dir)
        service = _power(config)
        assert sorted(service.drivers) == sorted(t.name for t in fleet.targets())
        assert service.sequencer.timing.grace < 5        # timed for a demo
    finally:
        fleet.cleanup()


# ---- a snapshot of the power screen: every combination of read-back and reachability ----------




def test_power_screen_snapshot(snap_compare):
    cases = {"n1": PowerState.ON, "n2": PowerState.ON, "n3": PowerState.OFF,
             "n4": PowerState.OFF, "n5": PowerState.UNKNOWN}
    drivers = {n: FixedDriver(n, s) for n, s in cases.items()}
    reach = FixedReach({"n1", "n4", "n5"})
    service = PowerService(Sequencer({n: PowerNode(n, d) for n, d in drivers.items()}, reach,
                                     FAST), reach, drivers)
    app = RoostApp(FleetState(list(cases) + ["n6"]), power=service)

    async def read(pilot):
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PowerScreen)
                    and len(app.power.shown) == len(cases))
        app.screen.refresh_view()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(130, 22), run_before=read)


async def test_enter_confirms_only_the_harmless_action_and_buttons_name_action_and_count():
    drivers = {n: FixedDriver(n, PowerState.ON) for n in ("n1", "n2")}
    reach = FixedReach({"n1", "n2"})
    service = PowerService(Sequencer({n: PowerNode(n, d) for n, d in drivers.items()}, reach,
                                     FAST), reach, drivers)
    app = RoostApp(FleetState(list(drivers)), power=service)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("O")                                # one node off: asks, No focused
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert str(app.screen.query_one("#confirm-yes").label) == "Power off 1 node (y)"
        assert app.screen.focused.id == "confirm-no"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert not app.power.busy and "off" not in log_text(app)
        app.state.marked.update(drivers)
        await pilot.press("o")                                # a group on: asks, Yes focused
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert str(app.screen.query_one("#confirm-yes").label) == "Power on 2 nodes (y)"
        await pilot.press("enter")
        await until(pilot, lambda: "power on: 2/2 done" in notices(app), what="both on")
        assert all(app.power.steps[n].startswith("on done: already on") for n in drivers)


async def test_power_screen_fits_80_columns_and_never_cuts_progress_at_200():
    step = "on: powered on, waiting for SSH to answer (12 s)"
    drivers = {"n1": FixedDriver("n1", PowerState.ON)}
    reach = FixedReach({"n1"})
    for size in ((200, 50), (80, 24)):
        service = PowerService(Sequencer({"n1": PowerNode("n1", drivers["n1"])}, reach, FAST),
                               reach, drivers)
        app = RoostApp(FleetState(["n1"]), power=service)
        async with app.run_test(size=size) as pilot:
            await pilot.press("p")
            await until(pilot, lambda app=app: isinstance(app.screen, PowerScreen)
                        and len(app.power.shown) == 1, what="read back")
            app.power.steps["n1"] = step
            app.screen.refresh_view()
            await pilot.pause()
            table = app.screen.table
            assert "power: 1 node ·" in str(app.screen.query_one("#power-head").render())
            assert table.virtual_size.width <= table.size.width        # no sideways scrolling
            if size[0] == 200:                                         # was cut to "on: powe"
                assert table.columns["progress"].width >= len(step)
                assert table.cell_text("n1", "progress") == step
