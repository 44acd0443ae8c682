"""i2cget/i2cset stand-ins for lab nodes: the i2c-tools command lines and messages, backed by
tests.lab.chipsim models whose state lives in a JSON file (one process per command, as on
a real controller). Install them with `install(dir, state_file)`; run them over SSH by path.

    i2cget [-y] I2CBUS CHIP-ADDRESS [DATA-ADDRESS [MODE]]
    i2cset [-y] I2CBUS CHIP-ADDRESS DATA-ADDRESS [VALUE] [MODE]
    clusterctrl on|off pN... | status   (Cluster HAT v2: the XRA1200 at bus 1 0x20, P1-P4 = bits 0-3)
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

from tests.lab.chipsim import SimBus, chip_from_state, make_chip

# Lab logins cannot run the venv's interpreter when it lives under /root (mode 700): use the
# system one; the models need only the standard library and the repo on PYTHONPATH.
WRAPPER = "#!/bin/sh\nPYTHONPATH={root} exec {python} {script} {tool} {state} \"$@\"\n"
ROOT = Path(__file__).resolve().parents[2]


def system_python() -> str:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


def install(directory: Path, state: Path, chips: dict[int, dict[int, str | tuple[str, int]]]) -> dict[str, str]:
    """Write the state file ({bus: {address: chip name or (name, outside levels)}}) and the two
    wrapper scripts (and clusterctrl); returns {"i2cget": path, "i2cset": path} for a power table."""
    directory.mkdir(parents=True, exist_ok=True)
    save(state, {bus: {addr: make_chip(*((c,) if isinstance(c, str) else c)) for addr, c in devs.items()}
                 for bus, devs in chips.items()})
    state.chmod(0o666)   # lab logins run as an unprivileged user
    paths = {}
    for tool in ("i2cget", "i2cset", "clusterctrl"):
        path = directory / tool
        path.write_text(WRAPPER.format(root=ROOT, python=system_python(), script=Path(__file__).resolve(),
                                       tool=tool, state=state))
        path.chmod(0o755)
        paths[tool] = str(path)
    paths.pop("clusterctrl")      # beside the others: directory / "clusterctrl"
    return paths


def save(state: Path, buses: dict[int, dict[int, object]]) -> None:
    data = {str(b): {str(a): c.state() for a, c in devs.items()} for b, devs in buses.items()}
    state.write_text(json.dumps(data))


def load(state: Path) -> dict[int, SimBus]:
    data = json.loads(state.read_text())
    return {int(b): SimBus(int(b), {int(a): chip_from_state(s) for a, s in devs.items()})
            for b, devs in data.items()}


def _num(text: str) -> int:
    return int(text, 0)


def main(argv: list[str]) -> int:
    tool, state, args = argv[0], Path(argv[1]), argv[2:]
    yes = "-y" in args or tool == "clusterctrl"
    args = [a for a in args if a != "-y"]
    if not yes:   # the real tools ask on a terminal; with no input they give up quietly
        sys.stderr.write("Continue? [Y/n] Aborting on user request.\n")
        return 0
    if len(args) < 2 and tool != "clusterctrl":
        sys.stderr.write(f"Usage: {tool} [-y] I2CBUS CHIP-ADDRESS ...\n")
        return 1
    with open(state, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        buses = load(state)
        code = _clusterctrl(buses, args) if tool == "clusterctrl" else _do(tool, buses, args)
        save(state, {b: bus.devices for b, bus in buses.items()})
    return code


def _clusterctrl(buses: dict[int, SimBus], args: list[str]) -> int:
    """The parts of 8086's clusterctrl roost uses, on a Cluster HAT v2.5 (XRA1200 at 1/0x20)."""
    hat = buses.get(1, SimBus(1)).devices.get(0x20)
    if hat is None:
        print("ERROR: No ClusterHAT/CTRL devices found\n")
        return 1
    if args == ["status"]:
        print("clusterhat:1\nclusterctrl:0\nmaxpi:4\nthrottled:NA\nhat_version:2.5\nhat_size:4")
        for p in range(1, 5):
            print(f"p{p}:{(hat.read_register(0x00) >> (p - 1)) & 1}")
        return 0
    if len(args) >= 2 and args[0] in ("on", "off"):
        for dev in args[1:]:
            if dev[:1] != "p" or not dev[1:].isdigit() or not 1 <= int(dev[1:]) <= 4:
                print("ERROR: Valid options are p1-p4")
                return 1
        for dev in args[1:]:
            bit = 1 << (int(dev[1:]) - 1)
            ocr = hat.read_register(0x01)
            hat.write_register(0x01, ocr | bit if args[0] == "on" else ocr & ~bit & 0xFF)
            hat.write_register(0x03, hat.read_register(0x03) & ~bit & 0xFF)
        return 0
    print(f"Usage :clusterctrl <cmd> ({' '.join(args)} not understood)")
    return 0


def _do(tool: str, buses: dict[int, SimBus], args: list[str]) -> int:
    bus_no, addr = _num(args[0]), _num(args[1])
    if bus_no not in buses:
        sys.stderr.write(f"Error: Could not open file `/dev/i2c-{bus_no}' or `/dev/i2c/{bus_no}': "
                         "No such file or directory\n")
        return 1
    if not 0x08 <= addr <= 0x77:
        sys.stderr.write("Error: Chip address out of range (0x08-0x77)!\n")
        return 1
    rest = [a for a in args[2:] if a not in ("b",)]
    bus = buses[bus_no]
    try:
        if tool == "i2cget":
            value = bus.read_byte(addr) if not rest else bus.read_byte_data(addr, _num(rest[0]))
            print(f"0x{value:02x}")
            return 0
        if len(rest) == 1:
            bus.write_byte(addr, _num(rest[0]))
        else:
            bus.write_byte_data(addr, _num(rest[0]), _num(rest[1]))
        return 0
    except OSError:
        sys.stderr.write("Error: Read failed\n" if tool == "i2cget" else "Error: Write failed\n")
        return 2 if tool == "i2cget" else 1


if __name__ == "__main__":
    os.umask(0o000)
    sys.exit(main(sys.argv[1:]))
