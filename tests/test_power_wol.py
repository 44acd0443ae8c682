"""Wake-on-LAN: the magic packet as received by a UDP socket; ARM boards refused with a reason."""
from __future__ import annotations

import socket

import pytest

from console.power.base import PowerConfigError, PowerError, PowerState
from console.power.registry import build_driver
from console.power.sequence import PowerNode, Sequencer, Timing


@pytest.fixture
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    yield s
    s.close()


async def test_magic_packet_bytes(listener):
    port = listener.getsockname()[1]
    d = build_driver("pc1", {"driver": "wol", "mac": "00:5C:52:31:3A:07", "broadcast": "127.0.0.1",
                             "port": port})
    await d.on()
    data, _ = listener.recvfrom(200)
    assert len(data) == 102 and data[:6] == b"\xff" * 6
    assert data[6:] == bytes.fromhex("005c52313a07") * 16
    assert await d.status() is PowerState.UNKNOWN
    with pytest.raises(PowerError, match="Wake-on-LAN cannot cut power"):
        await d.off()


class Reach:
    """A node that goes away when shut down and answers after the packet (recorded calls)."""
    def __init__(self):
        self.up, self.calls = True, []

    async def reachable(self, name, timeout=3.0):
        return self.up

    async def shutdown(self, name, command, timeout=15.0):
        self.calls.append(command)
        self.up = False


async def test_safe_off_is_the_os_shutdown_and_on_waits_for_ssh(listener):
    port = listener.getsockname()[1]
    d = build_driver("pc1", {"driver": "wol", "mac": "00-5c-52-31-3a-07", "broadcast": "127.0.0.1", "port": port})
    reach = Reach()
    seq = Sequencer({"pc1": PowerNode("pc1", d, shutdown="systemctl poweroff")}, reach,
                    Timing(stagger=0, grace=0, poll=0.01, boot_timeout=0.2))
    [out] = await seq.off(["pc1"])
    assert (out.ok, out.message, reach.calls) == (True, "shut down (the OS powers it off)", ["systemctl poweroff"])
    [shown] = await seq.status(["pc1"])
    assert shown.text == "down (no power read-back)"
    [out] = await seq.on(["pc1"])                      # nobody answers: truthfully reported
    assert not out.ok and "SSH did not answer within 0.2s" in out.message
    assert listener.recvfrom(200)[0][:6] == b"\xff" * 6
    [out] = await seq.off(["pc1"], hard=True)
    assert not out.ok and "cannot cut power" in out.message


@pytest.mark.parametrize("arch", ["aarch64", "armv7l"])
def test_arm_boards_are_told_wol_does_not_exist(arch):
    with pytest.raises(PowerConfigError, match=rf"node rpi1: power.arch: {arch} boards \(Raspberry Pi"):
        build_driver("rpi1", {"driver": "wol", "mac": "00:11:22:33:44:55", "arch": arch})


def test_bad_mac():
    with pytest.raises(PowerConfigError, match="node pc1: power.mac: expected a MAC address"):
        build_driver("pc1", {"driver": "wol", "mac": "00:11:22:33:44"})
