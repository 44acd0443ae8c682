"""Demo power: OS shutdowns sent over SSH are simulated (never run on this host), and the control
socket that `roost power` reaches through the written inventory's `command` tables."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from collectors import transport
from collectors.transport import TransportError
from console.demo import control
from console.demo.fleet import DemoFleet
from console.demo.shell import os_power_action

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("command, action", [
    ("sudo -n /sbin/poweroff", "halt"), ("poweroff", "halt"), ("sudo shutdown -h now", "halt"),
    ("shutdown -r now", "reboot"), ("systemctl reboot", "reboot"), ("sudo systemctl poweroff", "halt"),
    ("/sbin/halt", "halt"), ("echo poweroff", None), ("poweroff; rm -rf x", None),
    ("sh -c 'poweroff'", None), ("uptime", None), ("sudo", None), ("", None),
])
def test_os_power_commands_are_recognised(command, action):
    assert os_power_action(command) == action


async def _refused(target) -> bool:
    try:
        conn = await transport.connect(target)
    except TransportError as e:
        return "refused" in e.message
    conn.close()
    return False


async def test_poweroff_over_ssh_halts_the_simulated_board(tmp_path):
    async with DemoFleet(1, steady=True, boot_delay=0.2, state_dir=tmp_path) as demo:
        target = demo.targets()[0]
        power = demo.power(target.name)
        conn = await transport.connect(target)
        result = await conn.run("sudo -n /sbin/poweroff")
        assert result.exit_status == 0
        await conn.wait_closed()                  # the OS went down and took sshd with it
        assert await _refused(target)
        assert await power.status() == "on"       # halted: the switch is still on
        await power.on()                          # ... so "on" does nothing, as on hardware
        assert demo.node(target.name).state == "halted"
        await power.off()
        await power.on()
        await power.wait_settled()
        conn = await transport.connect(target)
        conn.close()


async def test_reboot_over_ssh_comes_back(tmp_path):
    async with DemoFleet(1, steady=True, boot_delay=0.2, state_dir=tmp_path) as demo:
        target = demo.targets()[0]
        node = demo.node(target.name)
        conn = await transport.connect(target)
        await conn.run("sudo reboot")
        await conn.wait_closed()
        await demo.power(target.name).wait_settled()
        assert node.state == "on" and node.started == 2
        (await transport.connect(target)).close()


async def test_control_socket_switches_power_from_another_process(tmp_path):
    async with DemoFleet(2, steady=True, boot_delay=0.2, state_dir=tmp_path) as demo:
        name = demo.nodes[1].name
        sock = demo.control_socket

        async def ctl(*words: str) -> subprocess.CompletedProcess:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "console.demo.control", str(sock), *words,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await proc.communicate()
            return subprocess.CompletedProcess(words, proc.returncode, out.decode(), err.decode())

        assert (await ctl("status", name)).stdout == "on\n"
        assert (await ctl("off", name)).returncode == 0
        assert await _refused(demo.targets()[1])
        assert (await ctl("status", name)).stdout == "off\n"
        await ctl("on", name)
        await demo.power(name).wait_settled()
        assert (await ctl("status", name)).stdout == "on\n"
        bad = await ctl("status", "nope-01")
        assert bad.returncode == 1 and "no node 'nope-01'" in bad.stderr
        assert "error: expected" in await control.answer(demo, "explode " + name)


async def test_power_off_during_a_hang_releases_parked_requests(tmp_path):
    async with DemoFleet(1, steady=True, boot_delay=0.1, state_dir=tmp_path) as demo:
        target = demo.targets()[0]
        conn = await transport.connect(target)
        await demo.drop(target.name, 30.0, hang=True)
        parked = asyncio.ensure_future(conn.run("echo never"))
        await asyncio.sleep(0)   # let the request reach the server
        await demo.power(target.name).off()
        with pytest.raises(Exception) as ended:  # noqa: B017 - whichever error the lost link gives
            await asyncio.wait_for(parked, 10)
        assert not isinstance(ended.value, TimeoutError)   # it ended, it did not hang
        await demo.power(target.name).on()
        await demo.power(target.name).wait_settled()
        conn = await transport.connect(target)
        assert (await conn.run("echo back")).stdout == "back\n"
        conn.close()


async def test_second_demo_on_the_same_state_dir_is_refused(tmp_path):
    async with DemoFleet(1, steady=True, state_dir=tmp_path):
        with pytest.raises(ValueError, match="another roost demo is running"):
            DemoFleet(1, steady=True, state_dir=tmp_path).prepare()
    second = DemoFleet(1, steady=True, state_dir=tmp_path)   # the first has gone: fine now
    await second.start()
    await second.stop()
