"""Register maps of the I2C GPIO expanders roost drives, from their datasheets. Pure data.

Every registered chip here has, per 8-pin port, an input register (pin levels, polarity applied
to input pins), an output latch that reads back what was written, a polarity-inversion register
and a configuration register where 1 = input (the power-on default). The driver does its
read-modify-write on the output latch, never on the input register: an output pin that is
loaded down reads low and writing that back would switch it (the classic MCP23017 mistake).

PCF8574/PCF8574A have no registers: one quasi-bidirectional port written and read as a byte.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class ChipSpec:
    name: str
    pins: int
    addresses: tuple[int, int]               # inclusive 7-bit address range the chip can have
    input: tuple[int, ...] = ()              # register address per port
    output: tuple[int, ...] = ()
    polarity: tuple[int, ...] = ()
    config: tuple[int, ...] = ()             # 1 = input
    tristate: tuple[int, ...] = ()           # XRA1200 TSCR: 1 = output disabled
    registers: Mapping[int, str] = field(default_factory=dict)   # address -> datasheet name
    defaults: Mapping[str, int] = field(default_factory=dict)    # power-on values
    readonly: frozenset[str] = frozenset()
    quasi: bool = False                      # PCF857x: no registers
    alias: Mapping[str, str] = field(default_factory=dict)       # write to name X lands in Y

    @property
    def ports(self) -> int:
        return (self.pins + 7) // 8


def _regs(names: list[str]) -> Mapping[int, str]:
    return MappingProxyType(dict(enumerate(names)))


XRA1200 = ChipSpec(
    "xra1200", 8, (0x20, 0x27),
    input=(0x00,), output=(0x01,), polarity=(0x02,), config=(0x03,), tristate=(0x06,),
    registers=_regs(["GSR", "OCR", "PIR", "GCR", "PUR", "IER", "TSCR", "ISR", "REIR", "FEIR", "IFR"]),
    defaults={"GSR": 0, "OCR": 0xFF, "PIR": 0, "GCR": 0xFF, "PUR": 0, "IER": 0, "TSCR": 0,
              "ISR": 0, "REIR": 0, "FEIR": 0, "IFR": 0xFF},
    readonly=frozenset({"GSR", "ISR"}))

_PCA_NAMES = ["INPUT0", "INPUT1", "OUTPUT0", "OUTPUT1", "POLARITY0", "POLARITY1", "CONFIG0", "CONFIG1"]
_PCA_DEFAULTS = {"INPUT0": 0, "INPUT1": 0, "OUTPUT0": 0xFF, "OUTPUT1": 0xFF,
                 "POLARITY0": 0, "POLARITY1": 0, "CONFIG0": 0xFF, "CONFIG1": 0xFF}


def _pca(name: str) -> ChipSpec:
    return ChipSpec(name, 16, (0x20, 0x27), input=(0, 1), output=(2, 3), polarity=(4, 5),
                    config=(6, 7), registers=_regs(_PCA_NAMES), defaults=_PCA_DEFAULTS,
                    readonly=frozenset({"INPUT0", "INPUT1"}))


PCA9555, PCA9535, TCA9555 = _pca("pca9555"), _pca("pca9535"), _pca("tca9555")

# MCP23017 with IOCON.BANK = 0 (the power-on map): A and B registers interleaved.
_MCP_BANK0 = ["IODIRA", "IODIRB", "IPOLA", "IPOLB", "GPINTENA", "GPINTENB", "DEFVALA", "DEFVALB",
              "INTCONA", "INTCONB", "IOCON", "IOCON", "GPPUA", "GPPUB", "INTFA", "INTFB",
              "INTCAPA", "INTCAPB", "GPIOA", "GPIOB", "OLATA", "OLATB"]
# IOCON.BANK = 1: port A at 0x00-0x0A, port B at 0x10-0x1A (the simulator follows a BANK switch).
_MCP_PORT = ["IODIR", "IPOL", "GPINTEN", "DEFVAL", "INTCON", "IOCON", "GPPU", "INTF", "INTCAP",
             "GPIO", "OLAT"]
MCP23017_BANK1 = MappingProxyType(
    {base + i: (n if n == "IOCON" else n + port) for port, base in (("A", 0x00), ("B", 0x10))
     for i, n in enumerate(_MCP_PORT)})

MCP23017 = ChipSpec(
    "mcp23017", 16, (0x20, 0x27),
    input=(0x12, 0x13), output=(0x14, 0x15), polarity=(0x02, 0x03), config=(0x00, 0x01),
    registers=_regs(_MCP_BANK0),
    defaults={n: (0xFF if n.startswith("IODIR") else 0) for n in _MCP_BANK0},
    readonly=frozenset({"INTFA", "INTFB", "INTCAPA", "INTCAPB"}),
    alias={"GPIOA": "OLATA", "GPIOB": "OLATB"})   # writing GPIO writes the latch

PCF8574 = ChipSpec("pcf8574", 8, (0x20, 0x27), quasi=True)
PCF8574A = ChipSpec("pcf8574a", 8, (0x38, 0x3F), quasi=True)

CHIPS: Mapping[str, ChipSpec] = MappingProxyType(
    {c.name: c for c in (XRA1200, PCA9555, PCA9535, TCA9555, MCP23017, PCF8574, PCF8574A)})


def chip(name: str) -> ChipSpec:
    """The spec for a chip name (case-insensitive); KeyError names the known chips."""
    try:
        return CHIPS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown chip {name!r} (known: {', '.join(CHIPS)})") from None
