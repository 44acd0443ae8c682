"""Pure parsers for procfs text: text in, model values out. No I/O.

Every parser is total: garbage input gives None (or an empty tuple / skips the bad line), never an
exception and never a made-up number. Units follow node_exporter: seconds (USER_HZ = 100 ticks per
second, as the kernel exports it everywhere), bytes (kB * 1024).
"""
from __future__ import annotations

import math
import re
from types import MappingProxyType

from .model import CpuTimes, LoadAvg, Memory, NetCounters

USER_HZ = 100.0
_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest",
                "guest_nice")
_NETDEV_COLUMNS = 16
_MEMINFO_LINE = re.compile(r"^([^\s:]+):[ \t]+([0-9]+)( kB)?[ \t]*$", re.MULTILINE | re.ASCII)

# arm64 /proc/cpuinfo has no "model name": map (implementer, part) to the core's name.
_ARM_PARTS = {
    ("0x41", "0xd03"): "Cortex-A53", ("0x41", "0xd04"): "Cortex-A35", ("0x41", "0xd05"): "Cortex-A55",
    ("0x41", "0xd07"): "Cortex-A57", ("0x41", "0xd08"): "Cortex-A72", ("0x41", "0xd09"): "Cortex-A73",
    ("0x41", "0xd0a"): "Cortex-A75", ("0x41", "0xd0b"): "Cortex-A76", ("0x41", "0xd0d"): "Cortex-A77",
    ("0x41", "0xd41"): "Cortex-A78", ("0x41", "0xc07"): "Cortex-A7", ("0x41", "0xc0f"): "Cortex-A15",
    ("0x41", "0xb76"): "ARM1176",
}


def parse_int(text: str) -> int | None:
    """A plain ASCII decimal integer (optionally negative), else None ("1_0", "٣", "nan" refused)."""
    s = text.strip()
    if s.isdigit() and s.isascii():
        return int(s)
    if s[:1] == "-" and s[1:].isdigit() and s.isascii():
        return int(s)
    return None


def parse_float(text: str) -> float | None:
    """A plain ASCII decimal like "-0.52" or "1e3"; nan/inf and Python-only spellings refused."""
    s = text.strip()
    if not s or not s.isascii() or "_" in s or s[-1:] == ".":
        return None
    try:
        value = float(s)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _all_digits(tokens: list[str]) -> bool:
    joined = "".join(tokens)
    return joined.isascii() and joined.isdigit()


def _cpu_line(tokens: list[str]) -> CpuTimes | None:
    values = tokens[1:1 + len(_STAT_FIELDS)]
    if len(values) < 4 or not _all_digits(values):
        return None
    cpu = tokens[0][3:]
    if cpu and not (cpu.isascii() and cpu.isdigit()):
        return None
    return CpuTimes(cpu, *[int(v) / USER_HZ for v in values])


def parse_stat(text: str) -> tuple[CpuTimes | None, tuple[CpuTimes, ...]]:
    """/proc/stat -> (aggregate line, per-core lines) in seconds; bad lines are skipped."""
    total, cores = None, []
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        times = _cpu_line(line.split())
        if times is None:
            continue
        if times.cpu:
            cores.append(times)
        else:
            total = times
    return total, tuple(cores)


def parse_btime(text: str) -> float | None:
    """The "btime" line of /proc/stat: boot time in epoch seconds."""
    start = text.find("btime ")
    if start < 0 or (start > 0 and text[start - 1] != "\n"):
        return None
    end = text.find("\n", start)
    value = parse_int(text[start + 6:end if end >= 0 else len(text)])
    return float(value) if value is not None and value >= 0 else None


def parse_loadavg(text: str) -> LoadAvg | None:
    """/proc/loadavg: "0.52 0.58 0.59 2/211 14233"."""
    tokens = text.split()
    loads = [parse_float(t) for t in tokens[:3]]
    if len(loads) < 3 or None in loads or min(loads) < 0:
        return None
    running = processes = None
    if len(tokens) > 3:
        run, _, procs = tokens[3].partition("/")
        running, processes = parse_int(run), parse_int(procs)
    return LoadAvg(*loads, running=running, processes=processes)


def parse_meminfo(text: str) -> Memory | None:
    """/proc/meminfo -> Memory keyed by the kernel's names ("Active(anon)") in bytes or counts.

    node_exporter's rule: a unit means kB; unitless lines (HugePages_*) are counts. One regex pass:
    this runs for every frame and meminfo is the longest file a node sends."""
    # float(v) * 1024 is exact: scaling by a power of two commutes with rounding
    fields = {key: float(value) * 1024.0 if kb else float(value) for key, value, kb in _MEMINFO_LINE.findall(text)}
    return Memory(MappingProxyType(fields)) if fields else None


def parse_uptime(text: str) -> float | None:
    """/proc/uptime: the first number, seconds since boot."""
    tokens = text.split()
    value = parse_float(tokens[0]) if tokens else None
    return value if value is not None and value >= 0 else None


def _netdev_line(line: str) -> NetCounters | None:
    name, sep, rest = line.partition(":")
    name, tokens = name.strip(), rest.split()
    if not sep or not name or " " in name or len(tokens) != _NETDEV_COLUMNS or not _all_digits(tokens):
        return None
    v = [int(t) for t in tokens]
    return NetCounters(name, v[0], v[1], v[2], v[3], v[8], v[9], v[10], v[11])


def parse_net_dev(text: str) -> tuple[NetCounters, ...]:
    """/proc/net/dev -> one NetCounters per interface; the two header lines have no ":" data."""
    return tuple(filter(None, map(_netdev_line, text.splitlines()[2:])))


def _cpuinfo_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def parse_cpuinfo(text: str) -> tuple[str | None, int | None, str | None]:
    """/proc/cpuinfo -> (cpu model, logical cores, board model from the "Model" line on a Pi)."""
    pairs = _cpuinfo_pairs(text)
    first: dict[str, str] = {}
    for key, value in pairs:
        first.setdefault(key, value)
    cores = sum(1 for key, _ in pairs if key == "processor") or None
    arm = _ARM_PARTS.get((first.get("CPU implementer", ""), first.get("CPU part", "").lower()))
    cpu_model = first.get("model name") or arm or first.get("Processor") or first.get("cpu model")
    return cpu_model or None, cores, first.get("Model") or None
