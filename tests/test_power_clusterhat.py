"""clusterctrl on a controller over SSH: a stand-in with clusterctrl's command lines and output,
driving the same XRA1200 model the expander driver reads, so both views must agree."""
from __future__ import annotations

import pytest

from console.power.base import PowerError, PowerState
from console.power.registry import Context, build_driver
from console.power.ssh import SshAccess
from tests.lab.power_i2c import install, load


@pytest.fixture
def hat(ssh_lab):
    node, = ssh_lab.start(1)
    where = ssh_lab.dir / f"hat-{node.name}"
    tools = install(where, where / "state.json", {1: {0x20: ("xra1200", 0x00)}})
    access = SshAccess({"ctl": node.target(name="ctl")})
    tools["clusterctrl"] = str(where / "clusterctrl")
    yield Context(runner_for=access.runner_for), tools, where / "state.json"
    node.stop()


async def test_clusterctrl_on_off_status_and_the_registers_agree(hat):
    ctx, tools, state = hat
    p3 = build_driver("p3", {"driver": "clusterhat", "via": "ctl", "pin": 3, "clusterctrl": tools["clusterctrl"]}, ctx)
    p3_regs = build_driver("p3", {"driver": "expander", "via": "ctl", "chip": "xra1200", "pin": 2, **{
        k: tools[k] for k in ("i2cget", "i2cset")}}, ctx)
    assert await p3.status() is PowerState.OFF
    await p3.on()
    assert await p3.status() is PowerState.ON and await p3_regs.status() is PowerState.ON
    assert load(state)[1].devices[0x20].levels() & 0x0F == 0b0100
    await p3_regs.off()                                    # and the other way round
    assert await p3.status() is PowerState.OFF


async def test_clusterctrl_errors_are_one_line(hat):
    ctx, tools, _ = hat
    p7 = build_driver("p7", {"driver": "clusterhat", "via": "ctl", "pin": 7, "clusterctrl": tools["clusterctrl"]}, ctx)
    with pytest.raises(PowerError, match=r"^node p7: power clusterhat: clusterctrl on p7 on ctl: "
                                         r"ERROR: Valid options are p1-p4$"):
        await p7.on()
    with pytest.raises(PowerError, match=r"clusterctrl status on ctl has no p7 \(maxpi is 4\)"):
        await p7.status()
    missing = build_driver("p1", {"driver": "clusterhat", "via": "ctl", "pin": 1,
                                  "clusterctrl": "/nonexistent/clusterctrl"}, ctx)
    with pytest.raises(PowerError, match=r"clusterctrl status on ctl: .*not found"):
        await missing.status()
