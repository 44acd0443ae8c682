"""Register-accurate models of the expanders in console/power/chips.py behind an smbus2-shaped bus.

There is no I2C on the machines roost is tested on, so the expander driver runs against these
models: SimBus has smbus2.SMBus's method names and signatures and raises OSError like the kernel
does when nobody ACKs. Models keep datasheet behaviour that matters to a driver: read-only input
registers, latches that read back, polarity applied to input pins only, MCP23017 GPIO writes
landing in OLAT (and its BANK=1 map), XRA1200 tri-state, PCF8574 quasi-bidirectional pins (a
latch of 1 is a weak pull-up that outside hardware can pull low; data bytes after the address are
all taken as new port values).
"""
from __future__ import annotations

import errno
from typing import Any

from console.power.chips import CHIPS, MCP23017, MCP23017_BANK1, ChipSpec


def _nack(what: str) -> OSError:
    return OSError(errno.EREMOTEIO, f"Remote I/O error ({what})")


class RegisterChip:
    """One registered expander. external holds the levels the outside world puts on pins that
    are not driven (inputs, tri-stated outputs); 1s model pull-ups."""

    def __init__(self, spec: ChipSpec, external: int | None = None):
        self.spec = spec
        self.regs = dict(spec.defaults)
        self.external = (1 << spec.pins) - 1 if external is None else external
        self.pointer = 0

    # ---- pins
    def _reg(self, role: tuple[int, ...], port: int) -> int:
        return self.regs[self._name(role[port])] if role else 0

    def levels(self) -> int:
        """The electrical level of every pin (bit n = pin n)."""
        out = 0
        for p in range(self.spec.ports):
            driven = ~self._reg(self.spec.config, p) & ~self._reg(self.spec.tristate, p) & 0xFF
            ext = (self.external >> (8 * p)) & 0xFF
            out |= ((self._reg(self.spec.output, p) & driven) | (ext & ~driven & 0xFF)) << (8 * p)
        return out

    def _input(self, port: int) -> int:
        level = (self.levels() >> (8 * port)) & 0xFF
        inverted = self._reg(self.spec.polarity, port) & self._reg(self.spec.config, port)
        return level ^ inverted

    # ---- register map
    def _map(self) -> dict[int, str]:
        if self.spec is MCP23017 and self.regs["IOCON"] & 0x80:
            return MCP23017_BANK1
        return self.spec.registers

    def _name(self, bank0_addr: int) -> str:
        return self.spec.registers[bank0_addr]

    def read_register(self, addr: int) -> int:
        name = self._map().get(addr)
        if name is None:
            raise _nack(f"{self.spec.name} has no register {addr:#04x}")
        for port, reg in enumerate(self.spec.input):
            if name == self._name(reg):
                return self._input(port)
        return self.regs[name]

    def write_register(self, addr: int, value: int) -> None:
        name = self._map().get(addr)
        if name is None:
            raise _nack(f"{self.spec.name} has no register {addr:#04x}")
        name = self.spec.alias.get(name, name)
        if name not in self.spec.readonly:
            self.regs[name] = value & 0xFF

    # ---- persistence for the i2c-tools stand-ins
    def state(self) -> dict[str, Any]:
        return {"chip": self.spec.name, "regs": self.regs, "external": self.external}

    def load(self, state: dict[str, Any]) -> None:
        self.regs.update(state["regs"])
        self.external = state["external"]


class QuasiChip:
    """PCF8574/PCF8574A: one 8-bit latch; reading returns pin levels."""

    def __init__(self, spec: ChipSpec, external: int | None = None):
        self.spec = spec
        self.latch = 0xFF                         # power-on: all pins weak high
        self.external = 0xFF if external is None else external

    def levels(self) -> int:
        return self.latch & self.external        # a 0 latch sinks hard; a 1 follows the outside

    def read_byte(self) -> int:
        return self.levels()

    def write_byte(self, value: int) -> None:
        self.latch = value & 0xFF

    def state(self) -> dict[str, Any]:
        return {"chip": self.spec.name, "latch": self.latch, "external": self.external}

    def load(self, state: dict[str, Any]) -> None:
        self.latch, self.external = state["latch"], state["external"]


def make_chip(name: str, external: int | None = None):
    spec = CHIPS[name]
    return QuasiChip(spec, external) if spec.quasi else RegisterChip(spec, external)


def chip_from_state(state: dict[str, Any]):
    model = make_chip(state["chip"])
    model.load(state)
    return model


class SimBus:
    """smbus2.SMBus-shaped bus holding chip models at addresses."""

    def __init__(self, bus: int = 1, devices: dict[int, Any] | None = None):
        self.bus = bus
        self.devices = dict(devices or {})
        self.transactions: list[tuple] = []        # what went over the wire, for tests

    def _dev(self, addr: int):
        if addr not in self.devices:
            raise _nack(f"no device at {addr:#04x} on bus {self.bus}")
        return self.devices[addr]

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        dev = self._dev(i2c_addr)
        self.transactions.append(("read_byte", i2c_addr))
        return dev.read_byte() if isinstance(dev, QuasiChip) else dev.read_register(dev.pointer)

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        dev = self._dev(i2c_addr)
        self.transactions.append(("write_byte", i2c_addr, value))
        if isinstance(dev, QuasiChip):
            dev.write_byte(value)
        else:
            dev.pointer = value                    # a lone byte sets the register pointer

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        dev = self._dev(i2c_addr)
        self.transactions.append(("read_byte_data", i2c_addr, register))
        if isinstance(dev, QuasiChip):
            dev.write_byte(register)               # the "register" byte lands in the latch
            return dev.read_byte()
        dev.pointer = register
        return dev.read_register(register)

    def write_byte_data(self, i2c_addr: int, register: int, value: int,
                        force: bool | None = None) -> None:
        dev = self._dev(i2c_addr)
        self.transactions.append(("write_byte_data", i2c_addr, register, value))
        if isinstance(dev, QuasiChip):
            dev.write_byte(register)
            dev.write_byte(value)
            return
        dev.pointer = register
        dev.write_register(register, value)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
