"""A GPIO line on a controller node, driven over SSH with libgpiod's command-line tools.

What the tools do (checked against libgpiod's sources and manual pages, Nov 2026):

v1 (Debian 12 `gpiod` 1.6.3-1+b3; Ubuntu 20.04-24.04 ship 1.4/1.6):
- `gpioset [-l] [-m exit|wait|time|signal] [-b] CHIP OFFSET=0|1...`: CHIP is a number, name,
  path or label (gpiod_chip_open_lookup); lines are offsets only. It requests the lines as
  outputs with the values (direction and value in one request, no glitch), runs the mode's
  callback and closes the chip, which releases the lines. --mode=exit (the default) releases at
  once; wait (ENTER), time (-s/-u) and signal (SIGINT/SIGTERM, often with -b) keep the request
  open until then. The manual warns that a released line's level is undefined; SoC controllers
  such as the Raspberry Pi's keep driving it. Errors: "gpioset: error setting the GPIO line
  values: <strerror>" (ENOENT no chip, EINVAL no such offset, EBUSY line in use).
  Sources: lib/ctxless.c gpiod_ctxless_set_value_multiple_ext (brgl/libgpiod 26d8d8f);
  manpages.ubuntu.com/manpages/lunar/man1/gpioset.1.html (v1.6.3).
- `gpioget [-l] [-B bias] CHIP OFFSET...` prints 0/1 per line, but gpiod_ctxless_get_value_
  multiple_ext requests the lines with gpiod_line_request_bulk_input_flags: an OUTPUT LINE IS
  TURNED INTO AN INPUT, which would drop a power pin to whatever the pulls say. v1.6 has no
  as-is option (manpages.ubuntu.com/manpages/lunar/man1/gpioget.1.html lists only -l, -B).
  Requesting an input as an input changes nothing, so gpioget is safe on input lines only.
- `gpioinfo [CHIP...]` prints "gpiochip0 - 54 lines:" then per line
  `line  17: "NAME"|unnamed "CONSUMER"|unused|kernel input|output active-high|active-low [used ...]`
  (tools/gpioinfo.c list_lines, prinfo right-aligns each column): direction and owner, never the
  value.
- `--version` prints "gpioset (libgpiod) v1.6.3".
So on v1 roost never runs gpioget on an output line. status() = gpioinfo (is it still an output,
is anyone holding it) + the last value roost set, recorded on the controller beside the lock
file; the driver's describe() and readback_note say so. An input line is read with gpioget.

v2 (2.0 onwards; Debian testing's manual pages are v2, Arch ships 2.1.2, Ubuntu 25.04 2.2.1):
- Lines are names, or offsets when `-c/--chip CHIP` is given (a number below the chip's line
  count is an offset unless --by-name). CHIP is a number, name or path (tools-common.c
  chip_path_lookup). Values 0/1, active/inactive, on/off, true/false. -l active-low.
- `gpioset` keeps the request open and WAITS FOREVER unless told otherwise ("to guarantee the
  requested value, by default gpioset does not exit"): `-t0` (a single toggle period of 0) sets
  and exits without toggling; `-z/--daemonize` detaches and keeps holding; `-p/--hold-period`
  waits before exiting. Sources: tools/gpioset.c toggle_sequence and main (brgl/libgpiod
  0b98c40); man.archlinux.org/man/extra/libgpiod/gpioset.1.en (v2.1).
- `gpioget` requests lines as INPUT by default too; `-a/--as-is` leaves the direction alone
  (tools/gpioget.c: cfg->direction = GPIOD_LINE_DIRECTION_AS_IS), so an output line reads back
  its level and stays an output. Prints `"17"=active` (`--unquoted`: 17=active, `--numeric`: 1).
- Errors: "cannot find GPIO chip character device 'X'", "offset N is out of range on chip 'X'",
  "unable to request lines on chip '/dev/gpiochip0': Device or resource busy".
- `gpioinfo -c CHIP [LINE...]` prints `line  17: "NAME" output consumer="gpioset"`.
So on v2 roost sets with `gpioset -c CHIP -t0 OFFSET=LEVEL` and reads with `gpioget -c CHIP -a`.
roost always passes the `line` offset (v1 takes offsets only; `gpiofind NAME` prints the chip and
offset of a named line, and `gpioinfo` lists the names).

Both: the level is set with physical values (active_low is applied here, never with -l, so a
line's active-low flag in gpioinfo cannot confuse two configs); only the named offset is
requested, so other lines of the chip are never touched; every change and read runs as one shell
command under flock(1) on a per-chip lock file on the controller (like the expander driver), and
every remote argument is shlex-quoted. The tool version is asked once per controller
(`gpioset --version`). Like a one-shot local `roost power`, the line is released after setting.
"""
from __future__ import annotations

import asyncio
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from console.power.base import Channel, CommandResult, Driver, PowerError, PowerState, Runner

if TYPE_CHECKING:
    from console.power.registry import Context

LOCK_DIR = "/tmp"
NOT_FOUND = 127


@dataclass
class Controller:
    """What one controller's tools are: detected once, shared by every line driven through it."""
    via: str
    runner: Runner
    gpioset: str
    timeout: float
    major: int | None = None
    _probe: asyncio.Future[int] | None = field(default=None, repr=False)

    async def version(self) -> int:
        if self.major is not None:
            return self.major
        loop = asyncio.get_running_loop()
        if self._probe is None or self._probe.get_loop() is not loop:
            self._probe = asyncio.ensure_future(self._detect())
        try:
            major = self.major = await asyncio.shield(self._probe)
        except PowerError:
            self._probe = None           # ask again next time (the tools may get installed)
            raise
        return major

    async def _detect(self) -> int:
        result = await run(self.runner, shlex.join([self.gpioset, "--version"]), self.timeout,
                           self.via)
        if result.exit_status == NOT_FOUND:
            raise PowerError(missing(self.gpioset, self.via))
        m = re.search(r"\(libgpiod\) v(\d+)\.(\d+)", result.stdout)
        if result.exit_status != 0 or not m:
            why = last_line(result) or "no version printed"
            raise PowerError(f"{self.gpioset} --version on {self.via}: {why} "
                             f"(expected libgpiod's gpioset, v1 or v2)")
        return int(m.group(1))


_controllers: dict[tuple[int, str, str], tuple[object, Controller]] = {}


def controller(ctx: Context, via: str, runner: Runner, gpioset: str, timeout: float) -> Controller:
    """One Controller per (config context, controller node, gpioset path). The context is kept
    referenced beside its entry so its id cannot be reused while the entry lives."""
    key = (id(ctx), via, gpioset)
    if key not in _controllers:
        _controllers[key] = (ctx, Controller(via, runner, gpioset, timeout))
    return _controllers[key][1]


async def run(runner: Runner, command: str, timeout: float, via: str) -> CommandResult:
    try:
        return await runner(command, timeout)
    except TimeoutError:
        raise PowerError(f"command on {via} timed out after {timeout:g}s") from None


def last_line(result: CommandResult) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1].strip() if lines else ""


def missing(tool: str, via: str) -> str:
    return (f"{tool} not found on {via} (install libgpiod's tools there: apt install gpiod; "
            f"or set its path in the power table)")


@dataclass(frozen=True)
class Tools:
    gpioset: str = "gpioset"
    gpioget: str = "gpioget"
    gpioinfo: str = "gpioinfo"


class RemoteGpioDriver(Driver):
    kind = "gpio"

    def __init__(self, node: str, via: str, ctl: Controller, chip: str, line: int,
                 active_low: bool, tools: Tools):
        super().__init__(node, via)
        self.ctl, self.chip, self.line, self.active_low, self.tools = ctl, chip, line, active_low, tools
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", chip.rsplit("/", 1)[-1])
        self.lock = f"{LOCK_DIR}/roost-gpio-{base}.lock"
        self.record = f"{LOCK_DIR}/roost-gpio-{base}-{line}.last"

    @property
    def channel(self) -> Channel:
        return ("gpio", self.via, self.chip, self.line)

    @property
    def readback_note(self) -> str | None:
        if self.ctl.major == 1:
            return (f"libgpiod v1 on {self.via}: the state is the last value roost set (v1 gpioget "
                    f"would turn the output into an input, so it is not read back)")
        return None

    def describe(self) -> str:
        text = f"gpio {self.chip} line {self.line} via {self.via}" + (" active-low" if self.active_low else "")
        note = self.readback_note
        return f"{text} ({note})" if note else text

    def where(self) -> str:
        return f"{self.chip} line {self.line} on {self.via}"

    # ------------------------------------------------------------------ actions

    async def _major(self) -> int:
        try:
            return await self.ctl.version()
        except PowerError as e:
            raise self.error(str(e)) from None

    async def status(self) -> PowerState:
        if await self._major() >= 2:
            level = _level_v2(await self._locked(self._get_v2(), "gpioget"), self)
        else:
            level = await self._status_v1()
        return self._state(level)

    async def on(self) -> None:
        await self._set(True)

    async def off(self) -> None:
        await self._set(False)

    async def _set(self, on: bool) -> None:
        level = int(on != self.active_low)
        if await self._major() >= 2:
            out = await self._locked(self._set_v2(level) + " && " + self._get_v2(), "gpioset")
            got = _level_v2(out, self)
        else:
            out = await self._locked(self._set_v1(level), "gpioset")
            info = _info_v1(out, self)
            if info.direction != "output":
                raise self.error(f"{self.where()}: gpioset exited 0 but gpioinfo shows an {info.direction}")
            got = level          # v1 cannot read an output back without disturbing it
        if got != level:
            raise self.error(f"{self.where()}: set {'high' if level else 'low'} but it reads "
                             f"{'high' if got else 'low'}: something else drives it")

    def _state(self, level: int) -> PowerState:
        return PowerState.ON if bool(level) != self.active_low else PowerState.OFF

    # ------------------------------------------------------------------ v2

    def _set_v2(self, level: int) -> str:
        return shlex.join([self.tools.gpioset, "-c", self.chip, "-t0", f"{self.line}={level}"])

    def _get_v2(self) -> str:
        return shlex.join([self.tools.gpioget, "-c", self.chip, "-a", str(self.line)])

    # ------------------------------------------------------------------ v1

    def _set_v1(self, level: int) -> str:
        t, q = self.tools, shlex.quote
        return (f"{shlex.join([t.gpioset, '--mode=exit', self.chip, f'{self.line}={level}'])} || exit 1; "
                f"echo {level} > {q(self.record)} || exit 1; {self._info_v1()}")

    def _info_v1(self) -> str:
        """Print the gpioinfo row of our line, or fail naming it."""
        pattern = shlex.quote(f"^[[:space:]]*line +{self.line}:")
        miss = shlex.quote(f"gpioinfo lists no line {self.line} on {self.chip}")
        return (f"info=$({shlex.join([self.tools.gpioinfo, self.chip])}) || exit 1; "
                f"row=$(printf '%s\\n' \"$info\" | grep -E {pattern}) || "
                f"{{ echo {miss} >&2; exit 1; }}; echo \"info $row\"")

    async def _status_v1(self) -> int:
        get = shlex.join([self.tools.gpioget, self.chip, str(self.line)])
        script = (f"{self._info_v1()}; case \"$row\" in "
                  f"*' input '*) v=$({get}) || exit 1; echo \"get $v\";; "
                  f"*) echo \"last $(cat {shlex.quote(self.record)} 2>/dev/null)\";; esac")
        out = await self._locked(script, "gpioinfo")
        info = _info_v1(out, self)
        if info.direction == "input":     # reading an input as an input changes nothing
            return _value(_tagged(out, "get"), self, "gpioget")
        if info.consumer != "unused":
            raise self.error(f"{self.where()}: held by {info.consumer}, not by roost; v1 gpioget "
                             f"would make it an input, so it is not read")
        last = _tagged(out, "last")
        if last not in ("0", "1"):
            raise self.error(f"{self.where()}: an output roost has not set (no record in "
                             f"{self.record}); libgpiod v1 cannot read it without making it an input")
        return int(last)

    # ------------------------------------------------------------------ plumbing

    async def _locked(self, script: str, what: str) -> str:
        """Run script under flock(1) on the chip's lock file (plain sh where flock is missing)."""
        lock, body = shlex.quote(self.lock), shlex.quote(script)
        command = (f"if command -v flock >/dev/null 2>&1; then flock {lock} sh -c {body}; "
                   f"else sh -c {body}; fi")
        try:
            result = await run(self.ctl.runner, command, self.ctl.timeout, self.ctl.via)
        except PowerError as e:
            raise self.error(f"{self.where()}: {e}") from None
        if result.exit_status == NOT_FOUND:
            tool = next((t for t in (self.tools.gpioset, self.tools.gpioget, self.tools.gpioinfo)
                         if t in (result.stderr or "")), what)
            raise self.error(f"{self.where()}: {missing(tool, self.ctl.via)}")
        if result.exit_status != 0:
            why = last_line(result) or f"exit {result.exit_status}"
            raise self.error(f"{self.where()}: {why}")
        return result.stdout


def _tagged(out: str, tag: str) -> str:
    for row in out.splitlines():
        if row.startswith(tag + " ") or row == tag:
            return row[len(tag):].strip()
    return ""


@dataclass(frozen=True)
class InfoRow:
    direction: str
    consumer: str


def _info_v1(out: str, d: RemoteGpioDriver) -> InfoRow:
    """Parse v1 gpioinfo's row: line N: NAME CONSUMER DIRECTION ACTIVE-STATE [FLAGS]."""
    row = _tagged(out, "info")
    m = re.match(r'line\s+\d+:\s+("[^"]*"|unnamed)\s+("[^"]*"|unused|kernel|used)\s+(input|output)\b',
                 row)
    if not m:
        raise d.error(f"{d.where()}: cannot parse gpioinfo's line {row[:80]!r}")
    return InfoRow(m.group(3), m.group(2))


def _level_v2(out: str, d: RemoteGpioDriver) -> int:
    return _value(out.strip().splitlines()[-1] if out.strip() else "", d, "gpioget")


def _value(text: str, d: RemoteGpioDriver, tool: str) -> int:
    """v2 prints "17"=active / 17=inactive / 1; v1 prints 1 or 0."""
    m = re.search(r"=(active|inactive)\s*$", text) or re.fullmatch(r"\s*([01])\s*", text)
    if not m:
        raise d.error(f"{d.where()}: {tool} printed {text[:60]!r}, expected a line value")
    return int(m.group(1) in ("active", "1"))
