"""Expander on a controller over real SSH: i2cget/i2cset stand-ins on a lab node drive a chip model."""
from __future__ import annotations

import pytest

from console.power.base import PowerError, PowerState
from console.power.registry import Context, build_driver
from console.power.ssh import SshAccess
from tests.lab.power_i2c import install, load


@pytest.fixture
def controller(ssh_lab, tmp_path_factory):
    node, = ssh_lab.start(1)
    where = ssh_lab.dir / f"i2c-{node.name}"
    tools = install(where, where / "state.json", {1: {0x20: ("xra1200", 0x00), 0x38: "pcf8574a"}})
    access = SshAccess({"ctl": node.target(name="ctl")})
    yield access, tools, where / "state.json"
    node.stop()


async def test_cluster_hat_pins_over_ssh(controller):
    access, tools, state = controller
    ctx = Context(runner_for=access.runner_for)
    p = [build_driver(f"p{i}", {"driver": "expander", "via": "ctl", "chip": "xra1200", "pin": i - 1,
                                **tools}, ctx) for i in (1, 2, 3, 4)]
    await p[1].on()
    await p[3].on()
    assert [await d.status() for d in p] == [PowerState.OFF, PowerState.ON, PowerState.OFF, PowerState.ON]
    await p[1].off()
    chip = load(state)[1].devices[0x20]
    assert chip.regs["OCR"] == 0xFF & ~0b0010 and chip.regs["GCR"] == 0xF5   # p2 latched low, p2+p4 outputs
    assert chip.levels() & 0x0F == 0b1000
    await access.close()


async def test_pcf8574a_over_ssh_active_low(controller):
    access, tools, state = controller
    d = build_driver("n1", {"driver": "expander", "via": "ctl", "chip": "pcf8574a", "address": 0x38,
                            "pin": 5, "active_low": True, **tools}, Context(runner_for=access.runner_for))
    await d.on()
    assert load(state)[1].devices[0x38].latch == 0xFF & ~(1 << 5)
    assert await d.status() is PowerState.ON
    await access.close()


async def test_remote_errors_are_one_line(controller):
    access, tools, _ = controller
    ctx = Context(runner_for=access.runner_for)
    absent = build_driver("n1", {"driver": "expander", "via": "ctl", "chip": "pca9555", "address": 0x27,
                                 "pin": 0, **tools}, ctx)
    with pytest.raises(PowerError, match=r"^node n1: power expander: .*i2cget on ctl failed at bus 1 "
                                         r"0x27 register 0x00: Error: Read failed$"):
        await absent.status()
    wrong_bus = build_driver("n1", {"driver": "expander", "via": "ctl", "chip": "xra1200", "bus": 3,
                                    "pin": 0, **tools}, ctx)
    with pytest.raises(PowerError, match=r"Could not open file `/dev/i2c-3'"):
        await wrong_bus.on()
    missing = build_driver("n1", {"driver": "expander", "via": "ctl", "chip": "xra1200", "pin": 0,
                                  "i2cset": "/nonexistent/i2cset", "i2cget": tools["i2cget"]}, ctx)
    with pytest.raises(PowerError, match="i2cset on ctl failed"):
        await missing.on()
    await access.close()


async def test_read_modify_write_is_atomic_across_processes(controller, ssh_lab):
    """Eight separate SSH sessions (think: Slurm resuming and suspending nodes at once) each set
    one bit of the same latch; flock on the controller keeps every bit."""
    import asyncio

    from console.power.bus import RemoteBus
    access, tools, state = controller
    target = access.targets["ctl"]
    buses = [RemoteBus(1, SshAccess({"ctl": target}).runner_for("ctl"), "ctl", tools["i2cget"],
                       tools["i2cset"]) for _ in range(8)]
    await buses[0].write(0x38, None, 0x00)                 # PCF8574A: all latches low
    await asyncio.gather(*(bus.rmw(0x38, None, 1 << i, 1 << i) for i, bus in enumerate(buses)))
    assert load(state)[1].devices[0x38].latch == 0xFF
    await access.close()
