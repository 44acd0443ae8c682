"""Redfish through httpx against sushy-tools' emulator (a real Redfish service)."""
from __future__ import annotations

import pytest

from console.power.base import PowerError, PowerState
from console.power.registry import build_driver


def table(bmc, **extra):
    return {"driver": "redfish", "url": bmc.url, "system": "node1", "user": bmc.user,
            "password_file": str(bmc.password_file), "settle": 20.0, **extra}


@pytest.mark.slow
async def test_on_cycle_off_wait_for_the_bmc_to_apply_them(sushy):
    d = build_driver("n1", table(sushy))
    other = build_driver("n2", table(sushy, system="node2"))
    assert await d.status() is PowerState.OFF
    await d.on()                                   # sushy applies it 1-11 s later; on() waits
    assert await d.status() is PowerState.ON
    await d.cycle()                                # sushy allows ForceRestart, not PowerCycle
    await d.on()                                   # waits out the restart
    await d.off()
    assert await d.status() is PowerState.OFF
    assert await other.status() is PowerState.OFF  # the other system never moved
    await d.close()
    await other.close()


async def test_several_systems_need_a_name(sushy):
    d = build_driver("n1", table(sushy, system=None))
    with pytest.raises(PowerError, match=r"has 2 systems; set system = one of "):
        await d.status()
    missing = build_driver("n1", table(sushy, system="node9"))
    with pytest.raises(PowerError, match="has no system with Id or Name 'node9'"):
        await missing.status()


async def test_wrong_password_is_http_401_without_the_password(sushy, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("wrong-secret")
    pw.chmod(0o600)
    d = build_driver("n1", table(sushy, password_file=str(pw)))
    with pytest.raises(PowerError) as e:
        await d.on()
    assert str(e.value).startswith(f"node n1: power redfish: BMC {sushy.url}: GET /redfish/v1/Systems: HTTP 401")
    assert "wrong-secret" not in str(e.value)


async def test_bmc_down():
    d = build_driver("n1", {"driver": "redfish", "url": "http://127.0.0.1:9", "timeout": 2.0})
    with pytest.raises(PowerError, match=r"^node n1: power redfish: BMC http://127.0.0.1:9: cannot connect"):
        await d.status()
