"""The I2C bus as the expander driver sees it: local (smbus2 on /dev/i2c-N) or on the controller
node over SSH with i2c-tools. Both raise PowerError with one line naming the bus and address.

register=None means a plain byte transfer (PCF8574 has no registers): SMBus receive/send byte,
which is `i2cget -y BUS ADDR` and `i2cset -y BUS ADDR BYTE` in i2c-tools.

rmw() changes some bits of one register atomically across processes (two `roost power` runs,
e.g. Slurm resuming p1 while suspending p2, must not lose each other's bits): locally under an
flock on a per-expander lock file, remotely as one shell command under flock(1) on the controller.
"""
from __future__ import annotations

import fcntl
import os
import shlex
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from console.power.base import PowerError, Runner


class SMBus(Protocol):
    """What LocalBus uses of smbus2.SMBus (the tests' SimBus has the same methods)."""

    def read_byte(self, i2c_addr: int) -> int: ...
    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte(self, i2c_addr: int, value: int) -> None: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def close(self) -> None: ...


Opener = Callable[[int], SMBus]     # bus number -> an open SMBus


class LocalBus:
    """An smbus2.SMBus (or an object with its methods, such as the tests' SimBus)."""

    def __init__(self, bus: int, opener: Opener | None = None):
        self.bus = bus
        self._opener = opener
        self._dev: SMBus | None = None

    def where(self) -> str:
        return f"/dev/i2c-{self.bus}"

    def _open(self) -> SMBus:
        if self._dev is None:
            opener = self._opener or _smbus2_open
            try:
                self._dev = dev = opener(self.bus)
            except OSError as e:
                raise PowerError(f"cannot open {self.where()}: {e.strerror or e}") from None
            return dev
        return self._dev

    async def read(self, addr: int, register: int | None) -> int:
        dev = self._open()
        try:  # one transfer takes well under a millisecond: no thread needed
            return dev.read_byte(addr) if register is None else dev.read_byte_data(addr, register)
        except OSError as e:
            raise PowerError(f"I2C read failed at {self.where()} {addr:#04x}"
                             f"{_reg(register)}: {e.strerror or e}") from None

    async def write(self, addr: int, register: int | None, value: int) -> None:
        dev = self._open()
        try:
            if register is None:
                dev.write_byte(addr, value)
            else:
                dev.write_byte_data(addr, register, value)
        except OSError as e:
            raise PowerError(f"I2C write failed at {self.where()} {addr:#04x}"
                             f"{_reg(register)}: {e.strerror or e}") from None

    async def rmw(self, addr: int, register: int | None, mask: int, bits: int) -> tuple[int, int]:
        """Set the mask bits of a register to bits; returns (old, new). Skips an unneeded write."""
        with _file_lock(lock_name(self.bus, addr)):
            old = await self.read(addr, register)
            new = (old & ~mask & 0xFF) | (bits & mask)
            if new != old:
                await self.write(addr, register, new)
        return old, new

    def close(self) -> None:
        if self._dev is not None:
            self._dev.close()
            self._dev = None


def lock_name(bus: int, addr: int) -> str:
    return f"roost-i2c-{bus}-{addr:02x}.lock"


@contextmanager
def _file_lock(name: str) -> Iterator[None]:
    where = "/run/lock" if os.access("/run/lock", os.W_OK) else tempfile.gettempdir()
    fd = os.open(os.path.join(where, name), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # closing drops the lock


def _smbus2_open(bus: int) -> SMBus:
    import smbus2  # imported late: only hosts with local I2C need it
    return smbus2.SMBus(bus)


def _reg(register: int | None) -> str:
    return "" if register is None else f" register {register:#04x}"


class RemoteBus:
    """i2cget/i2cset run on the controller through a Runner (an SSH connection in production)."""

    def __init__(self, bus: int, runner: Runner, host: str, i2cget: str = "i2cget",
                 i2cset: str = "i2cset", timeout: float = 10.0):
        self.bus, self.runner, self.host = bus, runner, host
        self.i2cget, self.i2cset, self.timeout = i2cget, i2cset, timeout

    def where(self) -> str:
        return f"bus {self.bus} on {self.host}"

    async def read(self, addr: int, register: int | None) -> int:
        argv = [self.i2cget, "-y", str(self.bus), f"{addr:#04x}"]
        if register is not None:
            argv += [f"{register:#04x}", "b"]
        out = await self._run(argv, addr, register)
        try:
            return int(out.strip().split()[-1], 16) & 0xFF
        except (ValueError, IndexError):
            raise PowerError(f"{self.i2cget} on {self.host} printed {out.strip()[:60]!r}, "
                             f"expected a byte like 0x1f") from None

    async def write(self, addr: int, register: int | None, value: int) -> None:
        argv = [self.i2cset, "-y", str(self.bus), f"{addr:#04x}"]
        argv += [f"{value:#04x}"] if register is None else [f"{register:#04x}", f"{value:#04x}", "b"]
        await self._run(argv, addr, register)

    async def rmw(self, addr: int, register: int | None, mask: int, bits: int) -> tuple[int, int]:
        """One shell command under flock(1) on the controller: read, change the mask bits, write
        only when needed, print "old new"."""
        reg = [f"{register:#04x}"] if register is not None else []
        get = shlex.join([self.i2cget, "-y", str(self.bus), f"{addr:#04x}", *reg, *(["b"] if reg else [])])
        put = shlex.join([self.i2cset, "-y", str(self.bus), f"{addr:#04x}", *reg])
        script = (f'v=$({get}) || exit 1; n=$(( (v & {~mask & 0xFF}) | {bits & mask} )); '
                  f'[ "$n" -eq "$((v))" ] || {put} "$n"{" b" if reg else ""} || exit 1; '
                  f'echo "$((v)) $n"')
        lock = shlex.quote(f"/tmp/{lock_name(self.bus, addr)}")
        command = (f"if command -v flock >/dev/null 2>&1; then flock {lock} sh -c {shlex.quote(script)}; "
                   f"else sh -c {shlex.quote(script)}; fi")
        out = await self._shell(command, "i2cget/i2cset", addr, register)
        try:
            old, new = (int(x) for x in out.split()[-2:])
        except ValueError:
            raise PowerError(f"i2c read-modify-write on {self.host} printed {out.strip()[:60]!r}") from None
        return old, new

    async def _run(self, argv: list[str], addr: int, register: int | None) -> str:
        return await self._shell(shlex.join(argv), argv[0], addr, register)

    async def _shell(self, command: str, what: str, addr: int, register: int | None) -> str:
        try:
            result = await self.runner(command, self.timeout)
        except TimeoutError:
            raise PowerError(f"{what} on {self.host} timed out after {self.timeout:g}s") from None
        if result.exit_status != 0:
            why = (result.stderr or result.stdout).strip().splitlines() or [f"exit {result.exit_status}"]
            raise PowerError(f"{what} on {self.host} failed at bus {self.bus} {addr:#04x}"
                             f"{_reg(register)}: {why[-1]}")
        return result.stdout

    def close(self) -> None:
        pass
