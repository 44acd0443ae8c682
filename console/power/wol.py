"""Wake-on-LAN: a magic packet (6 x 0xFF, then the MAC 16 times) by UDP broadcast.

Only x86 machines (with WoL enabled in firmware) wake this way; Raspberry Pi and the other ARM
boards have no Wake-on-LAN, so arch = "aarch64"/"arm..." is refused with the alternatives.
WoL can only switch on: off is the OS shutting the machine down (ACPI soft-off), and there is
no read-back, so the state shown comes from SSH reachability alone.
"""
from __future__ import annotations

import asyncio
import re
import socket
from typing import TYPE_CHECKING

from console.power.base import Channel, Driver, PowerState
from console.power.spec import Field, Spec

if TYPE_CHECKING:
    from console.power.registry import Context

FIELDS = {
    "mac": Field(str, required=True, doc="the node's MAC address, aa:bb:cc:dd:ee:ff"),
    "broadcast": Field(str, default="255.255.255.255", doc="broadcast address of the node's LAN"),
    "port": Field(int, default=9, lo=1, hi=65535, doc="UDP port (9 discard, or 7)"),
    "arch": Field(str, default="x86_64", doc="the node's CPU architecture"),
}

_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-]?)[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")
ARM = ("aarch64", "arm64", "armv7l", "armv6l", "arm", "riscv64")


def magic_packet(mac: str) -> bytes:
    raw = bytes.fromhex(re.sub(r"[:-]", "", mac))
    return b"\xff" * 6 + raw * 16


class WolDriver(Driver):
    kind = "wol"
    readback = False          # nothing to read: state comes from reachability
    can_cut = False           # only the OS can switch an x86 machine off

    def __init__(self, node: str, mac: str, broadcast: str, port: int):
        super().__init__(node)
        self.mac, self.broadcast, self.port = mac.lower(), broadcast, port

    @property
    def channel(self) -> Channel:
        return ("wol", self.mac)

    def describe(self) -> str:
        return f"wake-on-lan {self.mac}"

    async def status(self) -> PowerState:
        return PowerState.UNKNOWN

    async def on(self) -> None:
        packet = magic_packet(self.mac)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._send, packet)
        except OSError as e:
            raise self.error(f"cannot send the magic packet to {self.broadcast}:{self.port}: "
                             f"{e.strerror or e}") from None

    def _send(self, packet: bytes) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.sendto(packet, (self.broadcast, self.port))

    async def off(self) -> None:
        raise self.error("Wake-on-LAN cannot cut power; `roost power off` without --hard shuts "
                         "the OS down, which switches an x86 machine off")


def build(node: str, spec: Spec, ctx: Context) -> WolDriver:
    if spec["arch"].lower() in ARM or spec["arch"].lower().startswith("arm"):
        raise spec.fail("arch", f"{spec['arch']} boards (Raspberry Pi, RockPro64, RK1 ...) have no "
                        "Wake-on-LAN; use an expander, GPIO line, plug or BMC driver")
    if not _MAC.match(spec["mac"]):
        raise spec.fail("mac", f"expected a MAC address like aa:bb:cc:dd:ee:ff, got {spec['mac']!r}")
    if spec.get("via"):
        raise spec.fail("via", "wol sends from the console's host; via is not supported")
    return WolDriver(node, spec["mac"], spec["broadcast"], spec["port"])
