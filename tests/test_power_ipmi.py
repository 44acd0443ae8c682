"""IPMI through pyghmi against a real ipmi_sim whose chassis powers a real lab sshd."""
from __future__ import annotations

import shutil
import time

import pytest

from console.power.base import PowerConfigError, PowerError, PowerState
from console.power.registry import Context, build_driver
from console.power.ssh import SshAccess
from tests.conftest import need
from tests.lab.ipmi import IpmiBmc


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


@pytest.fixture
def bmc(ssh_lab):
    need(shutil.which("ipmi_sim") is not None, "ipmi_sim missing; install openipmi")
    need(_has("pyghmi"), "pyghmi missing; pip install pyghmi (a roost dependency)")
    node, = ssh_lab.start(1)
    bmc = IpmiBmc.start(ssh_lab.dir, node)
    yield bmc
    bmc.stop()


def table(bmc, **extra):
    return {"driver": "ipmi", "host": "127.0.0.1", "port": bmc.port, "user": bmc.user,
            "password_file": str(bmc.password_file), "timeout": 5.0, **extra}


async def until(predicate, timeout=10.0):
    """Poll an async predicate (no fixed sleeps); True once it holds, False at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
    return False


async def test_status_off_on_cycle_take_the_node_away_and_back(bmc):
    d = build_driver(bmc.node.name, table(bmc))
    access = SshAccess({bmc.node.name: bmc.node.target()})
    assert await d.status() is PowerState.ON
    assert await access.reachable(bmc.node.name)
    await d.off()
    assert not bmc.power() and await d.status() is PowerState.OFF
    assert not await access.reachable(bmc.node.name)
    await d.on()
    assert bmc.power() and await d.status() is PowerState.ON
    assert await until(lambda: access.reachable(bmc.node.name))
    before = bmc.mark()
    await d.cycle()
    async def on():
        return await d.status() is PowerState.ON
    assert await until(on), bmc.steps()
    assert bmc.steps(before) == ["set power 0", "set power 1"]
    assert await until(lambda: access.reachable(bmc.node.name))


async def test_soft_off_is_the_acpi_shutdown(bmc):
    d = build_driver(bmc.node.name, table(bmc))
    await d.soft()
    async def off():
        return await d.status() is PowerState.OFF
    assert await until(off)
    assert "set shutdown 1" in bmc.steps()


async def test_wrong_password_is_one_line_without_the_password(bmc, tmp_path):
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    d = build_driver(bmc.node.name, table(bmc, password_file=str(wrong)))
    with pytest.raises(PowerError) as e:
        await d.off()
    msg = str(e.value)
    assert msg.startswith(f"node {bmc.node.name}: power ipmi: BMC 127.0.0.1:{bmc.port}: ")
    assert "not-the-password" not in msg and "\n" not in msg
    assert bmc.power()                       # nothing changed


async def test_bmc_down_is_a_timeout_line(bmc):
    bmc.proc.terminate()
    bmc.proc.wait()
    d = build_driver(bmc.node.name, table(bmc, timeout=1.0))
    with pytest.raises(PowerError, match=rf"BMC 127.0.0.1:{bmc.port} did not answer within 1s"):
        await d.status()


def test_password_from_environment_and_file_mode_checked(tmp_path):
    loose = tmp_path / "loose.pw"
    loose.write_text("x")
    loose.chmod(0o644)
    with pytest.raises(PowerConfigError, match=r"power.password_file: .*loose.pw is readable by others \(mode 0644\)"):
        build_driver("n1", {"driver": "ipmi", "host": "h", "user": "u", "password_file": str(loose)})
    with pytest.raises(PowerConfigError, match="power.password_env: environment variable ROOST_T_PW is not set"):
        build_driver("n1", {"driver": "ipmi", "host": "h", "user": "u", "password_env": "ROOST_T_PW"},
                     Context(env={}))
    d = build_driver("n1", {"driver": "ipmi", "host": "h", "user": "u", "password_env": "ROOST_T_PW"},
                     Context(env={"ROOST_T_PW": "s3cret"}))
    assert "s3cret" not in repr(vars(d))
