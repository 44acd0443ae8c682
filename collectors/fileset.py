"""The files roost reads on a node, as data.

Both the remote sampler (collectors.probe) and the local tree reader (collectors.tree) expand these
patterns, so a node and a fixture tree give the same Snapshot keys. Patterns are shell globs,
relative to the filesystem root; the "proc/" and "sys/" prefixes are replaced by the node's procfs
and sysfs roots (node_exporter's --path.procfs / --path.sysfs convention); "etc/" and "usr/" are
read from the node's real root (os-release).

Three cadences: static files are read once per connection (names, labels, limits), dynamic ones
every interval, slow ones every SLOW_SECONDS (interface properties, os-release, eMMC wear: things
that change over minutes or months). Slow files travel as remembered ("S") records, so every frame
still carries their last value.

COMMANDS are the few values no file holds (statfs, adjtimex, the machine and page size): small
POSIX sh scripts run "once" per connection or every slow tick, their stdout delivered under their
"cmd/..." key like a slow file. They are the only forks a bash sampler makes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SLOW_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class FileGlob:
    pattern: str
    static: bool = False
    slow: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    """A script whose stdout is the content of key. $1 is the procfs root, $2 the sysfs root."""
    key: str
    when: str           # "once" (per connection) | "slow" (every SLOW_SECONDS)
    script: str


HWMON_DIRS = ("sys/class/hwmon/hwmon*", "sys/class/hwmon/hwmon*/device")
# node_exporter's hwmon sensor types; thresholds are static, readings and alarms dynamic
HWMON_TYPES = ("temp", "fan", "in", "curr", "power", "energy", "humidity", "intrusion", "cpu")
HWMON_LIMITS = {"temp": ("crit", "crit_hyst", "max", "max_hyst", "min", "lcrit", "emergency"),
                "fan": ("min", "max", "target"), "in": ("min", "max", "lcrit", "crit"),
                "curr": ("min", "max", "lcrit", "crit"), "power": ("cap", "max", "crit"),
                "humidity": ("min", "max")}
NET_CLASS = ("address", "addr_assign_type", "broadcast", "carrier", "carrier_changes",
             "carrier_up_count", "carrier_down_count", "dev_id", "dormant", "duplex", "flags",
             "ifalias", "ifindex", "iflink", "link_mode", "mtu", "name_assign_type",
             "netdev_group", "operstate", "speed", "tx_queue_len", "type")
POWER_SUPPLY = ("type", "online", "present", "status", "health", "capacity", "capacity_level",
                "current_now", "current_max", "current_boot", "voltage_now", "voltage_max",
                "voltage_min", "voltage_boot", "voltage_max_design", "voltage_min_design",
                "power_now", "energy_now", "energy_full", "energy_full_design", "charge_now",
                "charge_full", "charge_full_design", "temp", "manufacturer", "model_name",
                "serial_number", "technology", "scope", "usb_type", "charge_type", "cycle_count")
POWER_SUPPLY_STATIC = frozenset({"type", "manufacturer", "model_name", "serial_number", "technology",
                                 "scope", "current_max", "voltage_max", "voltage_min",
                                 "voltage_max_design", "voltage_min_design", "energy_full_design",
                                 "charge_full_design"})
PRESSURE = ("cpu", "io", "memory", "irq")


def _hwmon() -> tuple[FileGlob, ...]:
    out = [FileGlob("sys/class/hwmon/hwmon*/name", static=True)]
    for d in HWMON_DIRS:
        out.append(FileGlob(f"{d}/*_label", static=True))
        out.append(FileGlob(f"{d}/update_interval", static=True))
        out += [FileGlob(f"{d}/{t}*_{lim}", static=True) for t, lims in HWMON_LIMITS.items()
                for lim in lims]
        out += [FileGlob(f"{d}/{t}*_input") for t in HWMON_TYPES]
        out += [FileGlob(f"{d}/{f}") for f in ("pwm[0-9]", "pwm[0-9][0-9]", "*_alarm", "*_fault",
                                                 "power*_average")]
    return tuple(out)


FILES: tuple[FileGlob, ...] = (
    # facts
    FileGlob("proc/sys/kernel/hostname", static=True),
    FileGlob("proc/sys/kernel/osrelease", static=True),
    FileGlob("proc/sys/kernel/version", static=True),
    FileGlob("proc/sys/kernel/ostype", static=True),
    FileGlob("proc/sys/kernel/domainname", static=True),
    FileGlob("proc/cpuinfo", static=True),
    FileGlob("sys/firmware/devicetree/base/model", static=True),
    FileGlob("sys/class/dmi/id/product_name", static=True),
    FileGlob("etc/os-release", slow=True),
    FileGlob("usr/lib/os-release", slow=True),
    # procfs
    FileGlob("proc/stat"),
    FileGlob("proc/loadavg"),
    FileGlob("proc/meminfo"),
    FileGlob("proc/uptime"),
    FileGlob("proc/net/dev"),
    # node_exporter's default procfs collectors: vmstat, netstat, sockstat, softnet, entropy,
    # filefd, arp, udp_queues, pressure, conntrack, diskstats, schedstat
    FileGlob("proc/vmstat"),
    FileGlob("proc/net/netstat"),
    FileGlob("proc/net/snmp"),
    FileGlob("proc/net/snmp6"),
    FileGlob("proc/net/sockstat"),
    FileGlob("proc/net/sockstat6"),
    FileGlob("proc/net/softnet_stat"),
    FileGlob("proc/net/arp"),
    FileGlob("proc/net/udp"),
    FileGlob("proc/net/udp6"),
    FileGlob("proc/sys/kernel/random/entropy_avail"),
    FileGlob("proc/sys/kernel/random/poolsize", static=True),
    FileGlob("proc/sys/fs/file-nr"),
    FileGlob("proc/sys/net/netfilter/nf_conntrack_count"),
    FileGlob("proc/sys/net/netfilter/nf_conntrack_max", slow=True),
    FileGlob("proc/net/stat/nf_conntrack"),
    *(FileGlob(f"proc/pressure/{r}") for r in PRESSURE),
    FileGlob("proc/diskstats"),
    FileGlob("proc/schedstat"),
    # the sampler's own process (read by the shell itself, so "self" is the sampler): served as
    # node_exporter's process_* series, the exporter's cost as Grafana's dashboards show it
    FileGlob("proc/self/stat"),
    FileGlob("proc/self/limits", static=True),
    # thermal
    FileGlob("sys/class/thermal/thermal_zone*/type", static=True),
    FileGlob("sys/class/thermal/thermal_zone*/temp"),
    FileGlob("sys/class/thermal/cooling_device*/type", static=True),
    FileGlob("sys/class/thermal/cooling_device*/max_state", static=True),
    FileGlob("sys/class/thermal/cooling_device*/cur_state"),
    # hwmon (sensors sit in hwmonN/ or, on older drivers, hwmonN/device/): temperatures, fans,
    # pwm, and the power monitors (INA219/INA226/INA3221: in*, curr*, power*)
    *_hwmon(),
    # cpufreq (per core; related_cpus gives big.LITTLE clusters)
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/related_cpus", static=True),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_min_freq", static=True),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq", static=True),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/scaling_min_freq"),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/scaling_max_freq"),
    FileGlob("sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"),
    # Raspberry Pi firmware throttle flags
    FileGlob("sys/devices/platform/soc/soc:firmware/get_throttled"),
    # netclass (slow) and the one netlink-only netdev counter node_exporter shows
    *(FileGlob(f"sys/class/net/*/{f}", slow=True) for f in NET_CLASS),
    FileGlob("sys/class/net/*/statistics/rx_nohandler", slow=True),
    # power_supply (PoE HATs, UPS HATs, USB-PD): readings every interval, identity once
    *(FileGlob(f"sys/class/power_supply/*/{f}", static=f in POWER_SUPPLY_STATIC)
      for f in POWER_SUPPLY),
    # storage health: eMMC wear, NVMe identity, SCSI/USB disk I/O errors, clock sources
    FileGlob("sys/class/mmc_host/mmc*/mmc*:*/life_time", slow=True),
    FileGlob("sys/class/mmc_host/mmc*/mmc*:*/pre_eol_info", slow=True),
    FileGlob("sys/class/mmc_host/mmc*/mmc*:*/type", static=True),
    FileGlob("sys/class/mmc_host/mmc*/mmc*:*/name", static=True),
    *(FileGlob(f"sys/class/nvme/nvme*/{f}", static=f != "state")
      for f in ("model", "serial", "firmware_rev", "state")),
    FileGlob("sys/block/*/device/ioerr_cnt", slow=True),
    FileGlob("sys/devices/system/clocksource/clocksource*/available_clocksource", slow=True),
    FileGlob("sys/devices/system/clocksource/clocksource*/current_clocksource", slow=True),
)

# Symlinks resolved once (fully, like realpath) and reported root-relative in Snapshot.links:
# node_exporter names hwmon chips after the device their "device" link points at; a block
# device's link says which mmc card it is.
LINKS: tuple[str, ...] = ("sys/class/hwmon/hwmon*/device", "sys/class/block/mmcblk[0-9]",
                          "sys/class/block/mmcblk[0-9][0-9]")

# node_exporter's default filesystem exclusions (collector/filesystem_linux.go, 1.5.0): statfs on
# these is useless (pseudo filesystems) or harmful (autofs would mount on access).
FS_TYPES_EXCLUDED = ("autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs",
                     "devpts", "devtmpfs", "fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs",
                     "overlay", "proc", "procfs", "pstore", "rpc_pipefs", "securityfs",
                     "selinuxfs", "squashfs", "sysfs", "tracefs")
MOUNTS_EXCLUDED = ("/dev", "/dev/*", "/proc", "/proc/*", "/sys", "/sys/*", "/run/credentials/*",
                   "/var/lib/docker/*", "/var/lib/containers/storage/*")

# cmd/filesystems: the mount lines node_exporter reports, a "--" line, then one `stat -f` line per
# mount ("blocks bfree bavail bsize files ffree name"). A mount statfs refused has no stat line.
STATFS = f"""\
R=${{1%/}}; m=$R/1/mounts; [ -r "$m" ] || m=$R/self/mounts
set --
while read -r dev mnt fstype opts rest; do
  case $fstype in {"|".join(FS_TYPES_EXCLUDED)}) continue ;; esac
  case $mnt in {"|".join(MOUNTS_EXCLUDED)}) continue ;; esac
  printf '%s %s %s %s\\n' "$dev" "$mnt" "$fstype" "$opts"
  case $mnt in *\\\\*) mnt=$(printf '%b' "$mnt") ;; esac
  set -- "$@" "$mnt"
done < "$m"
echo --
[ $# -eq 0 ] || exec stat -f -c '%b %f %a %s %c %d %n' -- "$@"
"""

# cmd/timex: the time zone ("+0100 CET"), then adjtimex(2) with modes=0 (read only, allowed
# unprivileged) through perl, which Debian and Raspberry Pi OS always have (perl-base is
# essential): the return value and the struct timex fields in order. The syscall number depends
# on the userland ABI: 32-bit longs mean arm/i386 (124); 64-bit: x86_64 159, else (the generic
# table: arm64, riscv64) 171.
TIMEX = """\
date +'%z %Z'
command -v perl >/dev/null 2>&1 || exit 0
exec perl -e '
my $arch = "";
if (open(my $f, "<", "/proc/sys/kernel/arch")) { $arch = <$f>; close $f } else { $arch = `uname -m` }
my $nr = length(pack("l!", 0)) == 4 ? 124 : $arch =~ /^x86_64/ ? 159 : 171;
my $buf = "\\0" x 512;
my $ret = syscall($nr, $buf);
exit 0 if $ret < 0;
print join(" ", $ret, unpack("i x![l!] l!4 i x![l!] l!3 l!2 l!3 i x![l!] l!5 i", $buf)), "\\n";
'
"""

COMMANDS: tuple[Command, ...] = (
    Command("cmd/uname", "once", "uname -m; getconf PAGESIZE"),
    Command("cmd/filesystems", "slow", STATFS),
    Command("cmd/timex", "slow", TIMEX),
)


def static_patterns() -> tuple[str, ...]:
    return tuple(f.pattern for f in FILES if f.static)


def dynamic_patterns() -> tuple[str, ...]:
    return tuple(f.pattern for f in FILES if not f.static and not f.slow)


def slow_patterns() -> tuple[str, ...]:
    return tuple(f.pattern for f in FILES if f.slow)


def slow_ticks(interval: float) -> int:
    """Sampler ticks between two slow reads (at least 1)."""
    return max(1, math.ceil(SLOW_SECONDS / interval - 1e-9))
