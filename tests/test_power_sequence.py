"""Safe sequences end to end: ipmi_sim powers a real sshd node; roost shuts the OS down over SSH
first, cuts power, powers on and waits for SSH; the fleet sees the node go and come."""
from __future__ import annotations

import asyncio
import shutil

import pytest

from collectors.fleet import Fleet
from collectors.model import NodeEvent
from console.power.base import PowerState
from console.power.registry import build_driver
from console.power.sequence import PowerNode, Sequencer, Timing
from console.power.ssh import SshAccess
from tests.conftest import need
from tests.lab.ipmi import IpmiBmc

FAST = Timing(stagger=0.0, shutdown_timeout=10, boot_timeout=10, grace=0.0, poll=0.05, probe_timeout=2)


@pytest.fixture
def bmc(ssh_lab):
    need(shutil.which("ipmi_sim") is not None, "ipmi_sim missing; install openipmi")
    node, = ssh_lab.start(1)
    bmc = IpmiBmc.start(ssh_lab.dir, node)
    yield bmc
    bmc.stop()


def ipmi_node(bmc, **extra) -> PowerNode:
    driver = build_driver(bmc.node.name, {
        "driver": "ipmi", "host": "127.0.0.1", "port": bmc.port, "user": bmc.user,
        "password_file": str(bmc.password_file), "timeout": 5.0})
    return PowerNode(bmc.node.name, driver, shutdown=bmc.os_halt_command, **extra)


async def next_event(stream, node: str, kind: str, timeout: float = 15.0) -> NodeEvent:
    async def find():
        async for item in stream:
            if isinstance(item, NodeEvent) and item.node == node and item.kind == kind:
                return item
    return await asyncio.wait_for(find(), timeout)


async def test_graceful_off_then_on_and_the_fleet_sees_it(bmc):
    name = bmc.node.name
    access = SshAccess({name: bmc.node.target()})
    seq = Sequencer({name: ipmi_node(bmc)}, access, FAST)
    fleet = Fleet([bmc.node.target()])
    await fleet.start()
    stream = fleet.stream()
    try:
        await next_event(stream, name, "up")
        [out] = await seq.off([name])
        assert out.ok and out.message == "shut down, then power cut", out
        assert bmc.steps()[-2:] == ["halt", "set power 0"]     # the OS went down before the cut
        await next_event(stream, name, "down")
        [shown] = await seq.status([name])
        assert (shown.state, shown.reachable, shown.text) == (PowerState.OFF, False, "off")

        [out] = await seq.on([name])
        assert out.ok and out.boot_seconds is not None and out.boot_seconds < 10
        await next_event(stream, name, "up")
        [shown] = await seq.status([name])
        assert shown.text == "on"
    finally:
        await fleet.stop()
        await access.close()


async def test_bmc_says_on_while_ssh_is_dead_is_shown_so(bmc):
    name = bmc.node.name
    seq = Sequencer({name: ipmi_node(bmc)}, SshAccess({name: bmc.node.target()}), FAST)
    bmc.chassis("halt")                                     # the OS died; power still on
    [shown] = await seq.status([name])
    assert shown.state is PowerState.ON and shown.reachable is False
    assert shown.text == "on, not answering SSH"


async def test_unreachable_node_uses_the_bmc_soft_off_not_a_cut(bmc):
    name = bmc.node.name
    seq = Sequencer({name: ipmi_node(bmc)}, SshAccess({name: bmc.node.target()}), FAST)
    bmc.chassis("halt")
    [out] = await seq.off([name])
    assert out.ok and out.message == "soft shutdown through the BMC"
    assert "set shutdown 1" in bmc.steps()


async def test_hard_off_cuts_at_once(bmc):
    name = bmc.node.name
    seq = Sequencer({name: ipmi_node(bmc)}, SshAccess({name: bmc.node.target()}), FAST)
    [out] = await seq.off([name], hard=True)
    assert out.ok and out.message == "power cut"
    assert "halt" not in bmc.steps()
    assert not bmc.power()


async def test_failed_shutdown_leaves_power_on(bmc):
    name = bmc.node.name
    node = ipmi_node(bmc)
    node.shutdown = "echo 'sudo: a password is required' >&2; exit 1"
    seq = Sequencer({name: node}, SshAccess({name: bmc.node.target()}), FAST)
    [out] = await seq.off([name])
    assert not out.ok
    assert out.message == f"node {name}: shutdown command failed: sudo: a password is required"
    assert bmc.power()


async def test_cycle_is_off_then_on(bmc):
    name = bmc.node.name
    seq = Sequencer({name: ipmi_node(bmc)}, SshAccess({name: bmc.node.target()}), FAST)
    [out] = await seq.cycle([name])
    assert out.ok and out.message.startswith("shut down, then power cut; up, SSH answered after"), out
    steps = bmc.steps()
    assert steps[-3:] == ["halt", "set power 0", "set power 1"]
