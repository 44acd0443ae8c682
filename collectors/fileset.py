"""The files roost reads on a node, as data.

Both the remote sampler (collectors.probe) and the local tree reader (collectors.tree) expand these
patterns, so a node and a fixture tree give the same Snapshot keys. Patterns are shell globs,
relative to the filesystem root; the "proc/" and "sys/" prefixes are replaced by the node's procfs
and sysfs roots (node_exporter's --path.procfs / --path.sysfs convention).

static files are read once per connection (names, labels, limits); dynamic ones every interval.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileGlob:
    pattern: str
    static: bool = False


HWMON_DIRS = ("sys/class/hwmon/hwmon*", "sys/class/hwmon/hwmon*/device")

FILES: tuple[FileGlob, ...] = (
    # facts
    FileGlob("proc/sys/kernel/hostname", static=True),
    FileGlob("proc/sys/kernel/osrelease", static=True),
    FileGlob("proc/cpuinfo", static=True),
    FileGlob("sys/firmware/devicetree/base/model", static=True),
    FileGlob("sys/class/dmi/id/product_name", static=True),
    # procfs
    FileGlob("proc/stat"),
    FileGlob("proc/loadavg"),
    FileGlob("proc/meminfo"),
    FileGlob("proc/uptime"),
    FileGlob("proc/net/dev"),
    # thermal
    FileGlob("sys/class/thermal/thermal_zone*/type", static=True),
    FileGlob("sys/class/thermal/thermal_zone*/temp"),
    FileGlob("sys/class/thermal/cooling_device*/type", static=True),
    FileGlob("sys/class/thermal/cooling_device*/max_state", static=True),
    FileGlob("sys/class/thermal/cooling_device*/cur_state"),
    # hwmon (sensors sit in hwmonN/ or, on older drivers, hwmonN/device/)
    FileGlob("sys/class/hwmon/hwmon*/name", static=True),
    *(FileGlob(f"{d}/{f}", static=True) for d in HWMON_DIRS for f in ("temp*_label", "fan*_label")),
    *(FileGlob(f"{d}/{f}") for d in HWMON_DIRS
      for f in ("temp*_input", "fan*_input", "pwm[0-9]", "pwm[0-9][0-9]")),
    # cpufreq (per core; related_cpus gives big.LITTLE clusters)
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/related_cpus", static=True),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_min_freq", static=True),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq", static=True),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/scaling_min_freq"),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/scaling_max_freq"),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"),
    # Raspberry Pi firmware throttle flags
    FileGlob("sys/devices/platform/soc/soc:firmware/get_throttled"),
)

# Symlinks resolved once (fully, like realpath) and reported root-relative in Snapshot.links:
# node_exporter names hwmon chips after the device their "device" link points at.
LINKS: tuple[str, ...] = ("sys/class/hwmon/hwmon*/device",)


def static_patterns() -> tuple[str, ...]:
    return tuple(f.pattern for f in FILES if f.static)


def dynamic_patterns() -> tuple[str, ...]:
    return tuple(f.pattern for f in FILES if not f.static)
