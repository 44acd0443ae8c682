"""gpioset/gpioget/gpioinfo stand-ins for lab nodes, libgpiod v1 (1.6.3) or v2 (2.1.3) flavour,
backed by the tests.lab.gpiosim chip model whose state lives in a JSON file (one process per
command, as on a real controller). The semantics are the ones documented in
console/power/gpio_remote.py, including the dangerous ones:

- v1 gpioget requests its lines as inputs: an output line becomes an input (recorded in the
  state's "flipped" list so a test can prove roost never causes it);
- v2 gpioget does the same unless -a/--as-is is given;
- v2 gpioset without -t/-z waits forever holding the line; -t0 sets and exits;
- a released line keeps driving its last level (SoC controllers such as the Raspberry Pi's).

    install(dir, state, version=1|2, chips={"gpiochip0": 54}) -> {"gpioset": path, ...}
    load(state) -> {"/dev/gpiochip0": SimChip}, flipped list
"""
from __future__ import annotations

import enum
import fcntl
import json
import os
import signal
import sys
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path

try:
    from gpiod.line import Direction, Value
except ImportError:   # the system python3 lab logins use has no gpiod: gpiosim needs only these
    class Direction(enum.Enum):
        AS_IS = 1
        INPUT = 2
        OUTPUT = 3

    class Value(enum.Enum):
        INACTIVE = 0
        ACTIVE = 1

    _line = types.ModuleType("gpiod.line")
    _line.Direction, _line.Value = Direction, Value
    _pkg = types.ModuleType("gpiod")
    _pkg.line = _line
    sys.modules.setdefault("gpiod", _pkg)
    sys.modules.setdefault("gpiod.line", _line)

from tests.lab.gpiosim import SimChip, SimGpio, SimLine  # noqa: E402
from tests.lab.power_i2c import ROOT, system_python  # noqa: E402

TOOLS = ("gpioset", "gpioget", "gpioinfo")
VERSIONS = {1: "1.6.3", 2: "2.1.3"}
WRAPPER = "#!/bin/sh\nPYTHONPATH={root} exec {python} {script} {version} {state} \"$0\" \"$@\"\n"


@dataclass
class Settings:
    direction: object
    output_value: object = Value.INACTIVE
    active_low: bool = False


def install(directory: Path, state: Path, version: int, chips: dict[str, int] | None = None,
            names: dict[str, dict[int, str]] | None = None) -> dict[str, str]:
    """Write the state file and the three tools into directory (put it on a node's PATH, or
    pass the paths in the power table)."""
    directory.mkdir(parents=True, exist_ok=True)
    chips = chips or {"gpiochip0": 54}
    model = {f"/dev/{n}": SimChip.make(f"/dev/{n}", count) for n, count in chips.items()}
    save(state, model, [], (names or {}))
    state.chmod(0o666)
    for tool in TOOLS:
        path = directory / tool
        path.write_text(WRAPPER.format(root=ROOT, python=system_python(),
                                       script=Path(__file__).resolve(), version=version, state=state))
        path.chmod(0o755)
    return {tool: str(directory / tool) for tool in TOOLS}


def save(state: Path, chips: dict[str, SimChip], flipped: list, names: dict) -> None:
    data = {"chips": {p: [asdict(line) for line in c.lines] for p, c in chips.items()},
            "flipped": flipped, "names": names}
    state.write_text(json.dumps(data))


def load(state: Path) -> tuple[dict[str, SimChip], list]:
    data = json.loads(state.read_text())
    chips = {p: SimChip(p, [SimLine(**line) for line in lines]) for p, lines in data["chips"].items()}
    return chips, data["flipped"]


def edit(state: Path, fn) -> None:
    """Change the model in place under the tools' lock (tests: someone else's line, a holder)."""
    with open(state, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        data = json.loads(state.read_text())
        chips, flipped = load(state)
        fn(chips)
        save(state, chips, flipped, data["names"])


# ---------------------------------------------------------------------------- the tools

class Die(Exception):
    pass


def main(argv: list[str]) -> int:
    version, state, prog, args = int(argv[0]), Path(argv[1]), argv[2], argv[3:]
    tool = os.path.basename(prog)
    if "-v" in args or "--version" in args:
        if version == 1:
            print(f"{tool} (libgpiod) v{VERSIONS[1]}\nCopyright (C) 2017-2018 Bartosz Golaszewski\n"
                  "License: LGPLv2.1\nThis is free software: you are free to change and "
                  "redistribute it.\nThere is NO WARRANTY, to the extent permitted by law.")
        else:
            print(f"{tool} (libgpiod) v{VERSIONS[2]}\nCopyright (C) 2017-2023 Bartosz Golaszewski\n"
                  "License: GPL-2.0-or-later\nThis is free software: you are free to change and "
                  "redistribute it.\nThere is NO WARRANTY, to the extent permitted by law.")
        return 0
    wait = None
    with open(state, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        data = json.loads(state.read_text())
        chips, flipped = load(state)
        try:
            impl = (V1 if version == 1 else V2)(prog, chips, flipped, data["names"])
            wait = getattr(impl, tool)(args)
        except Die as e:
            sys.stderr.write(f"{prog}: {e}\n")
            return 1
        finally:
            save(state, chips, flipped, data["names"])
    if wait == "forever":          # v2 gpioset without -t/-z (or v1 --mode=signal): holds the line
        signal.pause()
    elif isinstance(wait, float):
        time.sleep(wait)
    return 0


class Tool:
    def __init__(self, prog: str, chips: dict[str, SimChip], flipped: list, names: dict):
        self.prog, self.chips, self.flipped, self.names = prog, chips, flipped, names
        self.gpio = SimGpio(*chips.values())

    def name(self, chip: SimChip, offset: int) -> str | None:
        return self.names.get(chip.path.rsplit("/", 1)[-1], {}).get(str(offset))

    def request(self, chip: SimChip, offsets: dict[int, Settings], consumer: str, what: str):
        for offset, s in offsets.items():
            line = chip.lines[offset] if 0 <= offset < len(chip.lines) else None
            if line is not None and line.output and s.direction == Direction.INPUT and line.owner is None:
                self.flipped.append({"chip": chip.path, "line": offset, "by": self.prog})
        try:
            return self.gpio.request_lines(chip.path, config=offsets, consumer=consumer)
        except OSError as e:
            raise Die(f"{what}: {os.strerror(e.errno)}") from None


class V1(Tool):
    """libgpiod 1.6.3: CHIP then offsets; gpiod_chip_open_lookup; ctxless helpers."""

    def lookup(self, chip_id: str, what: str) -> SimChip:
        path = (f"/dev/gpiochip{chip_id}" if chip_id.isdigit() else
                chip_id if "/" in chip_id else f"/dev/{chip_id}")
        if path not in self.chips:
            raise Die(f"{what}: No such file or directory")
        return self.chips[path]

    def options(self, args: list[str], with_value: set[str]) -> tuple[dict, list[str]]:
        opts, rest, i = {}, [], 0
        while i < len(args):
            a = args[i]
            if a.startswith("--") and "=" in a:
                k, v = a.split("=", 1)
                opts[k] = v
            elif a in with_value:
                opts[a] = args[i + 1]
                i += 1
            elif a.startswith("-") and len(a) > 1 and not rest:
                opts[a] = True
            else:
                rest = args[i:]
                break
            i += 1
        return opts, rest

    def gpioset(self, args: list[str]):
        what = "error setting the GPIO line values"
        opts, rest = self.options(args, {"-m", "-s", "-u", "-B", "-D"})
        mode = opts.get("--mode", opts.get("-m", "exit"))
        if mode not in ("exit", "wait", "time", "signal"):
            raise Die(f"invalid mode: {mode}")
        if len(rest) < 2:
            raise Die("gpiochip must be specified" if not rest else
                      "at least one GPIO line offset to value mapping must be specified")
        active_low = "-l" in opts or "--active-low" in opts
        config = {}
        for pair in rest[1:]:
            if "=" not in pair:
                raise Die(f"invalid offset<->value mapping: {pair}")
            off, val = pair.split("=", 1)
            if not off.isdigit():
                raise Die(f"invalid offset: {off}")
            if val not in ("0", "1"):
                raise Die(f"value must be 0 or 1: {val}")
            config[int(off)] = Settings(Direction.OUTPUT, Value.ACTIVE if val == "1" else Value.INACTIVE,
                                        active_low)
        chip = self.lookup(rest[0], what)
        req = self.request(chip, config, "gpioset", what)
        if mode == "exit":
            req.release()
            return None
        if mode == "signal":
            return "forever"      # the model keeps the owner: the process still holds the line
        return float(opts.get("--sec", opts.get("-s", 0)) or 0)

    def gpioget(self, args: list[str]):
        what = "error reading GPIO values"
        opts, rest = self.options(args, {"-B"})
        if len(rest) < 2:
            raise Die("gpiochip must be specified" if not rest else
                      "at least one GPIO line offset must be specified")
        active_low = "-l" in opts or "--active-low" in opts
        offsets = []
        for off in rest[1:]:
            if not off.isdigit():
                raise Die(f"invalid GPIO offset: {off}")
            offsets.append(int(off))
        chip = self.lookup(rest[0], what)
        req = self.request(chip, {o: Settings(Direction.INPUT, active_low=active_low) for o in offsets},
                           "gpioget", what)
        print(" ".join(str(int(req.get_value(o) == Value.ACTIVE)) for o in offsets))
        req.release()

    def gpioinfo(self, args: list[str]):
        paths = [self.lookup(a, f"looking up chip {a}").path for a in args] or sorted(self.chips)
        for path in paths:
            chip = self.chips[path]
            print(f"{path.rsplit('/', 1)[-1]} - {len(chip.lines)} lines:")
            for offset, line in enumerate(chip.lines):
                name = self.name(chip, offset)
                name = f'"{name}"' if name else "unnamed"
                consumer = "unused" if not line.owner else (
                    "kernel" if line.owner == "kernel" else f'"{line.owner}"')
                direction = "output" if line.output else "input"
                used = " [used]" if line.owner else ""
                print(f"\tline {offset:>3}: {name:>12} {consumer:>12} {direction + ' ':>8}"
                      f"{'active-high ':>13}{used}")


class V2(Tool):
    """libgpiod 2.1.3: -c CHIP, lines by offset (or name); gpioget -a; gpioset -t0/-z."""

    def parse(self, args: list[str], with_value: set[str]) -> tuple[dict, list[str]]:
        opts, rest, i = {}, [], 0
        while i < len(args):
            a = args[i]
            if a.startswith("--") and "=" in a:
                k, v = a.split("=", 1)
                opts[k] = v
            elif a in with_value:
                if i + 1 >= len(args):
                    raise Die(f"option requires an argument -- '{a.lstrip('-')}'")
                opts[a] = args[i + 1]
                i += 1
            elif a.startswith("-t") and len(a) > 2:
                opts["-t"] = a[2:]
            elif a.startswith("-c") and len(a) > 2:
                opts["-c"] = a[2:]
            elif a.startswith("-") and len(a) > 1:
                opts[a] = True
            else:
                rest.append(a)
            i += 1
        return opts, rest

    def lookup(self, chip_id: str) -> SimChip:
        path = (f"/dev/gpiochip{chip_id}" if chip_id.isdigit() else
                chip_id if "/" in chip_id else f"/dev/{chip_id}")
        if path not in self.chips:
            raise Die(f"cannot find GPIO chip character device '{chip_id}'")
        return self.chips[path]

    def resolve(self, chip_id: str | None, ids: list[str], by_name: bool) -> tuple[SimChip, list[int]]:
        chip = self.lookup(chip_id) if chip_id else None
        found = []
        for ident in ids:
            chips = [chip] if chip else list(self.chips.values())
            hit = None
            if chip and not by_name and ident.isdigit() and int(ident) < len(chip.lines):
                hit = (chip, int(ident))
            for c in chips:
                for off in range(len(c.lines)):
                    if hit is None and self.name(c, off) == ident:
                        hit = (c, off)
            if hit is None:
                raise Die(f"offset {ident} is out of range on chip '{chip_id}'" if chip_id and ident.isdigit()
                          and not by_name else f"cannot find line '{ident}'")
            chip = hit[0]
            found.append(hit[1])
        return chip, found

    def gpioset(self, args: list[str]):
        opts, rest = self.parse(args, {"-c", "--chip", "-C", "--consumer", "-t", "--toggle",
                                       "-p", "--hold-period", "-b", "--bias", "-d", "--drive"})
        if not rest:
            raise Die("at least one GPIO line value must be specified")
        pairs = []
        for pair in rest:
            if "=" not in pair:
                raise Die(f"invalid line value: '{pair}'")
            ident, val = pair.rsplit("=", 1)
            values = {"0": 0, "1": 1, "inactive": 0, "active": 1, "off": 0, "on": 1, "false": 0, "true": 1}
            if val not in values:
                raise Die(f"invalid line value: '{val}'")
            pairs.append((ident.strip('"'), values[val]))
        chip_id = opts.get("-c", opts.get("--chip"))
        chip, offsets = self.resolve(chip_id, [p[0] for p in pairs], "--by-name" in opts)
        active_low = "-l" in opts or "--active-low" in opts
        config = {o: Settings(Direction.OUTPUT, Value.ACTIVE if v else Value.INACTIVE, active_low)
                  for o, (_, v) in zip(offsets, pairs)}
        req = self.request(chip, config, opts.get("-C", opts.get("--consumer", "gpioset")),
                           f"unable to request lines on chip '{chip.path}'")
        toggle = opts.get("-t", opts.get("--toggle"))
        if toggle is not None and toggle.split(",")[-1] in ("0", "0ms", "0s", "0us"):
            if toggle.count(",") == 0:
                req.release()     # -t0: no toggling, release, exit
                return None
            raise Die("stand-in: toggle sequences are not modelled")
        if "-z" in opts or "--daemonize" in opts:
            raise Die("stand-in: --daemonize is not modelled")
        return "forever"          # no -t/-z: gpioset keeps the request and waits

    def gpioget(self, args: list[str]):
        opts, rest = self.parse(args, {"-c", "--chip", "-C", "--consumer", "-p", "--hold-period",
                                       "-b", "--bias"})
        if not rest:
            raise Die("at least one GPIO line must be specified")
        chip, offsets = self.resolve(opts.get("-c", opts.get("--chip")), rest, "--by-name" in opts)
        as_is = "-a" in opts or "--as-is" in opts
        active_low = "-l" in opts or "--active-low" in opts
        req = self.request(chip, {o: Settings(Direction.AS_IS if as_is else Direction.INPUT,
                                              active_low=active_low) for o in offsets},
                           opts.get("-C", "gpioget"), "unable to request lines")
        values = [int(req.get_value(o) == Value.ACTIVE) for o in offsets]
        req.release()
        if "--numeric" in opts:
            print(" ".join(map(str, values)))
        else:
            fmt = "{}={}" if "--unquoted" in opts else '"{}"={}'
            print(" ".join(fmt.format(i, "active" if v else "inactive") for i, v in zip(rest, values)))

    def gpioinfo(self, args: list[str]):
        opts, rest = self.parse(args, {"-c", "--chip"})
        chip_id = opts.get("-c", opts.get("--chip"))
        chips = [self.lookup(chip_id)] if chip_id else [self.chips[p] for p in sorted(self.chips)]
        if rest:
            chip, offsets = self.resolve(chip_id, rest, "--by-name" in opts)
            for o in offsets:
                print(f"{chip.path.rsplit('/', 1)[-1]} {o}\t{self._attrs(chip, o)}")
            return
        for chip in chips:
            print(f"{chip.path.rsplit('/', 1)[-1]} - {len(chip.lines)} lines:")
            for o in range(len(chip.lines)):
                print(f"\tline {o:>3}:\t{self._attrs(chip, o)}")

    def _attrs(self, chip: SimChip, o: int) -> str:
        line, name = chip.lines[o], self.name(chip, o)
        consumer = f' consumer="{line.owner}"' if line.owner else ""
        name = f'"{name}"' if name else "unnamed"
        return f'{name}\t{"output" if line.output else "input"}{consumer}'


if __name__ == "__main__":
    os.umask(0o000)
    sys.exit(main(sys.argv[1:]))
