"""console.power.control without a screen: `:power` parsing, poll cadence, refusals and
confirmations, and status reads and sequences turned into events, state and effects.

The drivers here are in-memory switches (no hardware is involved in what is under test: the
desk's bookkeeping); the sequences themselves are the real Sequencer's.
"""
from __future__ import annotations

import pytest

from console.power.base import Driver, PowerError, PowerState
from console.power.control import (
    USAGE,
    PollCadence,
    PowerControl,
    PowerEvent,
    column_text,
    parse_command,
)
from console.power.sequence import PowerNode, Sequencer, Shown, Timing
from console.power.service import PowerService
from console.state import FleetState

FAST = Timing(stagger=0.0, shutdown_timeout=1, boot_timeout=1, grace=0.0, poll=0.01,
              probe_timeout=0.5)


class Switch(Driver):
    kind = "plug"

    def __init__(self, node: str, on: bool = True, broken: bool = False):
        super().__init__(node)
        self.is_on, self.broken = on, broken

    async def status(self) -> PowerState:
        if self.broken:
            raise PowerError(f"node {self.node}: power plug: no answer")
        return PowerState.ON if self.is_on else PowerState.OFF

    async def on(self) -> None:
        self.is_on = True

    async def off(self) -> None:
        self.is_on = False


class Reach:
    """SSH answers exactly while the node's switch is on."""

    def __init__(self, drivers: dict[str, Switch]):
        self.drivers = drivers

    async def reachable(self, name, timeout=3.0):
        return self.drivers[name].is_on

    async def shutdown(self, name, command, timeout=15.0):
        self.drivers[name].is_on = False

    async def close(self):
        pass


def desk(names=("n1", "n2", "n3"), broken=(), roles=None) -> tuple[PowerControl, list]:
    drivers = {n: Switch(n, broken=n in broken) for n in names}
    reach = Reach(drivers)
    nodes = {n: PowerNode(n, d, role=(roles or {}).get(n), shutdown="poweroff")
             for n, d in drivers.items()}
    service = PowerService(Sequencer(nodes, reach, FAST), reach, drivers)
    events: list[PowerEvent] = []
    control = PowerControl(service, FleetState(list(names) + ["bare"]), emit=events.append)
    return control, events


@pytest.mark.parametrize("arg, verb, nodeset, force, hard", [
    ("", "", None, False, False),
    ("screen", "screen", None, False, False),
    ("status", "status", None, False, False),
    ("on", "on", None, False, False),
    ("off n[1-2] --force --hard", "off", "n[1-2]", True, True),
    ("cycle 'n1'", "cycle", "n1", False, False),
])
def test_power_command_arguments(arg, verb, nodeset, force, hard):
    cmd = parse_command(arg)
    assert (cmd.verb, cmd.nodeset, cmd.force, cmd.hard) == (verb, nodeset, force, hard)


@pytest.mark.parametrize("arg, message", [
    ("bogus", USAGE), ("on --soft", USAGE), ("off a b", USAGE),
    ("on 'n1", ":power: No closing quotation"),
])
def test_bad_power_commands_are_one_line(arg, message):
    with pytest.raises(ValueError) as err:
        parse_command(arg)
    assert str(err.value) == message


def test_poll_cadence_retries_quickly_a_few_times_then_settles():
    cadence = PollCadence(every=30.0, retry=5.0, quick_max=3)
    assert [cadence.next(True) for _ in range(5)] == [5.0, 5.0, 5.0, 30.0, 30.0]
    assert cadence.next(False) == 30.0 and cadence.next(True) == 5.0


def test_hostlists_resolve_to_known_nodes_only():
    control, _ = desk()
    assert control.resolve("n[1-2]") == ["n1", "n2"]
    with pytest.raises(ValueError, match=r"unknown nodes: n\[7-8\]"):
        control.resolve("n[1,7-8]")
    with pytest.raises(ValueError, match=r"bad hostlist 'n\[1-': missing bracket"):
        control.resolve("n[1-")


def test_refusals_and_confirmations_name_the_action_and_count():
    control, _ = desk(roles={"n3": "controller"})
    assert control.refusal("on", [], False) == "no node selected (space marks nodes)"
    assert control.refusal("on", ["bare"], False) == "no power table for bare"
    refused = control.refusal("off", ["n3"], False)
    assert refused.startswith("refusing to power off n3 is a controller")
    assert control.refusal("off", ["n3"], True) == ""
    assert control.confirmation("on", ["n1"]) is None              # one node on: just do it
    ask = control.confirmation("off", ["n1"], hard=True)
    assert ask.question == "Power off 1 node (hard: no OS shutdown)?" and not ask.harmless
    assert ask.yes == "Power off 1 node" and ask.detail == "n1"
    ask = control.confirmation("on", ["n1", "n2"], force=True)
    assert ask.yes == "Power on 2 nodes" and ask.harmless
    assert ask.detail == "n[1-2]\n(forced: refusals overridden)"
    control.begin("cycle", ["n1"])
    assert control.refusal("on", ["n1", "n2"], False) == "a power sequence is still running on n1"
    assert control.state.node("n1").power == "→cyc" and control.to_read() == ["n2", "n3"]


async def test_status_read_fills_the_power_column_and_schedules_the_next_read():
    control, events = desk(broken=("n2",))
    assert control.start() and control.state.node("n1").power == "…"
    await control.read(control.to_read(), poll=True)
    fx = control.apply(events.pop())
    assert [r.power for r in control.state.rows()] == ["on", "?", "on", "—"]
    assert fx.next_poll == control.cadence.retry      # n2 unreadable: ask again soon
    rows = {r.node: r for r in control.rows()}
    assert rows["n2"].level == "crit" and "no answer" in rows["n2"].shown
    assert rows["n1"].readback == "on" and rows["n1"].ssh is True and "bare" not in rows


async def test_a_sequence_reports_steps_then_its_outcome_and_a_summary():
    control, events = desk()
    control.begin("off", ["n1", "n2"])
    await control.run("off", ["n1", "n2"])
    kinds = [e.kind for e in events]
    assert kinds[-1] == "finished" and kinds.count("done") == 2 and "step" in kinds
    effects = [control.apply(e) for e in events]
    assert not control.busy
    assert control.steps["n1"] == "off done: shut down, then power cut"
    assert [control.state.node(n).power for n in ("n1", "n2")] == ["off", "off"]
    assert sorted(n for fx in effects for n in fx.reread) == ["n1", "n2"]
    assert not any(fx.reconnect for fx in effects)                         # off: nothing to hurry
    assert [n.text for fx in effects for n in fx.notices] == ["power off: 2/2 done"]
    assert "shutting the OS down over SSH" in [e.text for e in control.log]
    events.clear()
    control.begin("on", ["n1"])
    await control.run("on", ["n1"])
    effects = [control.apply(e) for e in events]
    assert [n for fx in effects for n in fx.reconnect] == ["n1"]


async def test_a_failed_status_read_is_a_notice_and_a_quick_retry():
    control, events = desk()

    async def explode(names):
        raise RuntimeError("bus on fire")
    control.service.sequencer.status = explode
    await control.read(["n1"], poll=True)
    fx = control.apply(events.pop())
    assert [(n.text, n.severity) for n in fx.notices] == [("status: RuntimeError: bus on fire",
                                                           "error")]
    assert fx.next_poll == control.cadence.retry and control.log[-1].level == "fail"


def test_power_column_text_tells_read_back_and_reachability_apart():
    assert column_text(Shown("n", PowerState.ON, False)) == "on ✖"
    assert column_text(Shown("n", PowerState.OFF, True)) == "off ●"
    assert column_text(Shown("n", PowerState.UNKNOWN, None, error="x")) == "?"
    assert column_text(Shown("n", PowerState.UNKNOWN, True)) == "up?"
