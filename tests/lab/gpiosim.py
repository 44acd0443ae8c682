"""A GPIO controller model behind libgpiod v2's Python API (gpiod.request_lines), for hosts
without GPIO (no gpio-sim here). It keeps what the kernel's character device enforces: one
owner per line (EBUSY), offsets within the chip (EINVAL), a missing chip (ENOENT), AS_IS keeps
direction, OUTPUT drives output_value from the moment of the request (no glitch), active_low
inverts logical values, and a released line keeps driving its last value (as SoC GPIO
controllers such as the Raspberry Pi's do).
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field

from gpiod.line import Direction, Value


@dataclass
class SimLine:
    output: bool = False          # direction
    driven: bool = False          # physical level driven when output
    outside: bool = False         # level the outside world puts on an input
    owner: str | None = None

    @property
    def level(self) -> bool:
        return self.driven if self.output else self.outside


@dataclass
class SimChip:
    path: str
    lines: list[SimLine] = field(default_factory=list)

    @classmethod
    def make(cls, path: str, num_lines: int) -> SimChip:
        return cls(path, [SimLine() for _ in range(num_lines)])


class SimRequest:
    def __init__(self, chip: SimChip, settings: dict[int, object], consumer: str):
        self.chip, self.settings, self.consumer = chip, settings, consumer
        self.released = False

    def _line(self, offset: int) -> SimLine:
        if self.released:
            raise RuntimeError("GPIO request already released")
        if offset not in self.settings:
            raise ValueError(f"line {offset} is not part of this request")
        return self.chip.lines[offset]

    def get_value(self, offset: int) -> Value:
        level = self._line(offset).level
        return Value.ACTIVE if level != self.settings[offset].active_low else Value.INACTIVE

    def set_value(self, offset: int, value: Value) -> None:
        line = self._line(offset)
        if not line.output:
            raise OSError(errno.EPERM, "Operation not permitted (line is an input)")
        line.driven = (value == Value.ACTIVE) != self.settings[offset].active_low

    def release(self) -> None:
        for offset in self.settings:
            self.chip.lines[offset].owner = None
        self.released = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class SimGpio:
    """Stands in for the gpiod module: sim.request_lines(path, config=..., consumer=...)."""

    def __init__(self, *chips: SimChip):
        self.chips = {c.path: c for c in chips}

    def request_lines(self, path: str, config: dict, consumer: str | None = None, **_) -> SimRequest:
        chip = self.chips.get(path)
        if chip is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        settings = {}
        for key, s in config.items():
            for offset in (key if isinstance(key, (tuple, list)) else (key,)):
                settings[offset] = s
        for offset in settings:
            if not 0 <= offset < len(chip.lines):
                raise OSError(errno.EINVAL, f"Invalid argument (offset {offset} of {len(chip.lines)} lines)")
            if chip.lines[offset].owner is not None:
                raise OSError(errno.EBUSY, f"Device or resource busy (line {offset} used by "
                                           f"{chip.lines[offset].owner})")
        for offset, s in settings.items():
            line = chip.lines[offset]
            line.owner = consumer or "?"
            if s.direction == Direction.OUTPUT:
                line.output = True
                line.driven = (s.output_value == Value.ACTIVE) != s.active_low
            elif s.direction == Direction.INPUT:
                line.output = False
        return SimRequest(chip, settings, consumer or "?")
