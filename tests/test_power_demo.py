"""The demo fleet's power channels through the driver interface and the safe sequences:
off really closes a node's SSH port, on opens it again; stagger, refusals, shared outputs."""
from __future__ import annotations

import time

import pytest

from console.demo.fleet import DemoFleet
from console.power.registry import Context, build_driver
from console.power.sequence import PowerNode, Sequencer, Timing
from console.power.ssh import SshAccess

FAST = Timing(stagger=0.3, shutdown_timeout=5, boot_timeout=10, grace=0.0, poll=0.05, probe_timeout=2)


@pytest.fixture
async def demo(tmp_path):
    fleet = DemoFleet(3, steady=True, boot_delay=0.2, state_dir=tmp_path / "demo")
    await fleet.start()
    yield fleet
    await fleet.stop()


def sequencer(fleet, **roles):
    ctx = Context(demo=fleet)
    nodes = {t.name: PowerNode(t.name, build_driver(t.name, {"driver": "demo"}, ctx),
                               role=roles.get(t.name), shutdown=None) for t in fleet.targets()}
    return Sequencer(nodes, SshAccess({t.name: t for t in fleet.targets()}), FAST)


async def test_safe_off_and_staggered_on(demo):
    seq = sequencer(demo)
    names = [t.name for t in demo.targets()]
    outs = await seq.off(names)
    assert all(o.ok and o.message == "soft shutdown through the BMC" for o in outs), outs
    assert [s.text for s in await seq.status(names)] == ["off"] * 3
    start = time.monotonic()
    outs = await seq.on(names)
    assert all(o.ok and o.boot_seconds is not None for o in outs), outs
    assert time.monotonic() - start >= 2 * FAST.stagger           # the third started 0.6 s late
    assert [s.text for s in await seq.status(names)] == ["on"] * 3


async def test_controller_and_own_host_are_refused_without_force(demo):
    names = [t.name for t in demo.targets()]
    seq = sequencer(demo, **{names[0]: "controller"})
    seq.nodes[names[1]].local = True
    why = seq.refusals(names, "off")
    assert why == [f"{names[0]} is a controller", f"{names[1]} is the console's own host"]
    assert seq.refusals(names, "off", force=True) == []
    assert seq.refusals(names, "on") == []
    assert await demo.power(names[0]).status() == "on"            # refusing touched nothing


def test_a_node_whose_driver_goes_through_another_is_protected(tmp_path):
    from tests.lab.chipsim import SimBus, make_chip
    bus = SimBus(1, {0x20: make_chip("xra1200")})
    ctx = Context(runner_for=lambda via: None, i2c_opener=lambda n: bus)
    p1 = build_driver("p1", {"driver": "expander", "via": "ctl", "chip": "xra1200", "pin": 0}, ctx)
    ctl = build_driver("ctl", {"driver": "command", "on": "true", "off": "true", "status": "echo on"}, ctx)
    seq = Sequencer({"p1": PowerNode("p1", p1), "ctl": PowerNode("ctl", ctl)}, reach=None)
    assert seq.refusals(["ctl"], "off") == ["ctl controls the power of p1"]
    assert seq.refusals(["p1"], "off") == []


def test_a_shared_output_is_refused_unless_all_its_nodes_are_chosen():
    ctx = Context()
    table = {"driver": "command", "on": "true", "off": "true", "status": "echo on", "shared": True}
    nodes = {n: PowerNode(n, build_driver(n, table, ctx)) for n in ("tp1", "tp2")}
    seq = Sequencer(nodes, reach=None)
    assert seq.refusals(["tp1"], "cycle") == ["tp1 shares command with tp2"]
    assert seq.refusals(["tp1", "tp2"], "off") == []
