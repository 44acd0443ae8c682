"""Storage and power health of one sample: pure functions the console and the sinks share.

Which disks are whole disks (partitions and loop devices would count I/O twice or not at all),
which filesystem is root, how worn an eMMC is, and how many watts a node draws according to the
power monitors it has.
"""
from __future__ import annotations

import re

from .model import DiskStats, Filesystem, MmcHealth, Sample
from .sysfs import parse_int_auto

# node_exporter's diskstats default exclusion: partitions, loop and ram devices
PARTITION_OR_VIRTUAL = re.compile(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
MMC_PARTITION = re.compile(r"^mmcblk\d+(p\d+|boot\d+|rpmb)$")
WRITABLE_DISK_FS = frozenset({"ext2", "ext3", "ext4", "f2fs", "btrfs", "xfs", "vfat", "exfat",
                              "ntfs", "ntfs3"})


def whole_disks(disks: tuple[DiskStats, ...]) -> tuple[DiskStats, ...]:
    """Disks as node_exporter reports them, minus eMMC partitions (mmcblk0p2 is inside mmcblk0)."""
    return tuple(d for d in disks
                 if not PARTITION_OR_VIRTUAL.match(d.device) and not MMC_PARTITION.match(d.device))


def root_filesystem(s: Sample) -> Filesystem | None:
    return next((f for f in s.filesystems if f.mountpoint == "/"), None)


def wear_level(card: MmcHealth) -> str:
    """"ok", "warn" (90% of rated life used, or pre-EOL warning) or "crit" (life exceeded, or
    pre-EOL urgent). SD cards report neither: ok."""
    life = max(card.life_time) if card.life_time else 0
    if life >= 0x0B or card.pre_eol == 3:
        return "crit"
    if life >= 0x0A or card.pre_eol == 2:
        return "warn"
    return "ok"


def power_draw(s: Sample) -> float | None:
    """Watts the node draws, from its power monitors: hwmon power*_input (else power*_average)
    summed; else bus voltage x current per channel (an INA3221 has no power attribute); else the
    power supplies' power_now, or voltage_now x current_now. None when nothing reports power."""
    if not s.hwmon_readings and not s.power_supplies:   # most nodes: asked per row built
        return None
    power = [r for r in s.hwmon_readings if r.type == "power" and r.element == "input"] or \
        [r for r in s.hwmon_readings if r.type == "power" and r.element == "average"]
    if power:
        return sum(r.value for r in power) / 1e6
    watts = _channel_watts(s)
    return watts if watts is not None else _supply_watts(s)


def _channel_watts(s: Sample) -> float | None:
    volts = {(r.chip, r.sensor[2:]): r.value for r in s.hwmon_readings
             if r.type == "in" and r.element == "input"}
    pairs = [volts[(r.chip, r.sensor[4:])] * r.value for r in s.hwmon_readings
             if r.type == "curr" and r.element == "input" and (r.chip, r.sensor[4:]) in volts]
    return sum(pairs) / 1e6 if pairs else None    # mV x mA = uW


def _supply_watts(s: Sample) -> float | None:
    total, seen = 0.0, False
    for ps in s.power_supplies:
        uw: float | None = parse_int_auto(ps.values.get("power_now", ""))
        if uw is None:
            uv = parse_int_auto(ps.values.get("voltage_now", ""))
            ua = parse_int_auto(ps.values.get("current_now", ""))
            uw = uv * ua / 1e6 if uv is not None and ua is not None else None
        if uw is not None:
            total, seen = total + uw / 1e6, True
    return total if seen else None
