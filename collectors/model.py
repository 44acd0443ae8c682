"""Frozen value types shared by every layer. No I/O, no UI.

Units are normalised at parse time: seconds, bytes, Celsius, hertz, rpm; pwm is the raw 0-255
value (as node_exporter exports it). An absent value is None or a missing entry, never 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
GUEST_MODES = ("guest", "guest_nice")

EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """One line of /proc/stat in seconds. cpu is "" for the aggregate line, else "0", "1", ..."""
    cpu: str
    user: float = 0.0
    nice: float = 0.0
    system: float = 0.0
    idle: float = 0.0
    iowait: float = 0.0
    irq: float = 0.0
    softirq: float = 0.0
    steal: float = 0.0
    guest: float = 0.0
    guest_nice: float = 0.0

    @property
    def busy(self) -> float:
        # guest time is already counted inside user/nice by the kernel.
        return self.user + self.nice + self.system + self.irq + self.softirq + self.steal

    @property
    def total(self) -> float:
        return self.busy + self.idle + self.iowait


@dataclass(frozen=True, slots=True)
class LoadAvg:
    load1: float
    load5: float
    load15: float
    running: int | None = None
    processes: int | None = None


@dataclass(frozen=True, slots=True)
class Memory:
    """/proc/meminfo; fields maps the kernel's names (MemTotal, SwapFree ...) to bytes."""
    fields: Mapping[str, float]

    @property
    def total(self) -> float | None:
        return self.fields.get("MemTotal")

    @property
    def available(self) -> float | None:
        return self.fields.get("MemAvailable")


@dataclass(frozen=True, slots=True)
class NetCounters:
    device: str
    rx_bytes: int
    rx_packets: int
    rx_errs: int
    rx_drop: int
    tx_bytes: int
    tx_packets: int
    tx_errs: int
    tx_drop: int


@dataclass(frozen=True, slots=True)
class ThermalZone:
    zone: str          # "0" for thermal_zone0
    type: str          # "cpu-thermal"
    temp_c: float      # may be negative


@dataclass(frozen=True, slots=True)
class CoolingDevice:
    name: str          # "0" for cooling_device0
    type: str
    cur_state: int
    max_state: int | None


@dataclass(frozen=True, slots=True)
class HwmonSensor:
    """One hwmon reading: kind is "temp" (Celsius), "fan" (rpm) or "pwm" (0-255)."""
    chip: str          # node_exporter's chip label, e.g. "platform_coretemp_0"
    chip_name: str     # the chip's name file, e.g. "coretemp"
    kind: str
    sensor: str        # "temp1", "fan2", "pwm1"
    value: float
    label: str | None = None


@dataclass(frozen=True, slots=True)
class CpuFreq:
    cpu: str
    cur_hz: float | None
    min_hz: float | None = None
    max_hz: float | None = None
    related_cpus: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RpiThrottle:
    """Raspberry Pi firmware get_throttled bits."""
    raw: int

    under_voltage_now = property(lambda self: bool(self.raw & 0x1))
    freq_capped_now = property(lambda self: bool(self.raw & 0x2))
    throttled_now = property(lambda self: bool(self.raw & 0x4))
    soft_temp_limit_now = property(lambda self: bool(self.raw & 0x8))
    under_voltage_occurred = property(lambda self: bool(self.raw & 0x10000))
    freq_capped_occurred = property(lambda self: bool(self.raw & 0x20000))
    throttled_occurred = property(lambda self: bool(self.raw & 0x40000))
    soft_temp_limit_occurred = property(lambda self: bool(self.raw & 0x80000))


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """Slow-changing facts read once per connection."""
    hostname: str | None = None
    kernel: str | None = None
    model: str | None = None       # device-tree model or DMI product name
    cpu_model: str | None = None
    cores: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """Everything read from one node at one instant."""
    node: str
    ts: float                       # console-side receive time (epoch seconds)
    seq: int = 0
    node_clock: float | None = None
    cpu_total: CpuTimes | None = None
    cpus: tuple[CpuTimes, ...] = ()
    load: LoadAvg | None = None
    memory: Memory | None = None
    boot_time: float | None = None
    uptime: float | None = None
    net: tuple[NetCounters, ...] = ()
    thermal: tuple[ThermalZone, ...] = ()
    cooling: tuple[CoolingDevice, ...] = ()
    hwmon: tuple[HwmonSensor, ...] = ()
    cpufreq: tuple[CpuFreq, ...] = ()
    throttle: RpiThrottle | None = None
    facts: NodeFacts | None = None
    problems: tuple[str, ...] = ()  # "what/where" notes for files that were unreadable or garbage


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Raw file contents of one node at one instant, keyed by root-relative path.

    Keys start with "proc/" or "sys/" ("proc/stat", "sys/class/hwmon/hwmon0/temp1_input") whatever
    the node's real procfs/sysfs roots are. links maps a path to its symlink target as readlink
    prints it (needed for hwmon chip labels). The remote sampler and the local tree reader both
    produce this; collectors.snapshot.build_sample turns it into a Sample.
    """
    files: Mapping[str, str]
    links: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """A node changed reachability: kind is "up" or "down"; reason is one line."""
    node: str
    ts: float
    kind: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """How to reach and read one node: built by console.config, used by collectors.transport.

    known_hosts: files to verify host keys against (None = ~/.ssh/known_hosts). host_keys is
    "strict" (unknown or changed key refused) or "accept-new" (unknown key recorded in
    accept_new_store, changed key still refused). host_key_alias, check_host_ip and
    hash_known_hosts are ssh_config's HostKeyAlias, CheckHostIP and HashKnownHosts (see
    collectors.hostkeys). Secrets never live here.
    """
    name: str
    host: str
    port: int = 22
    user: str | None = None
    identity_files: tuple[str, ...] = ()
    known_hosts: tuple[str, ...] | None = None
    host_keys: str = "strict"
    accept_new_store: str | None = None
    host_key_alias: str | None = None
    check_host_ip: bool = False
    hash_known_hosts: bool = False
    proxy_jump: str | None = None
    procfs: str = "/proc"
    sysfs: str = "/sys"
    interval: float = 1.0
    connect_timeout: float = 10.0
    groups: tuple[str, ...] = ()
    role: str | None = None          # "controller" is never powered off by a group action
    local: bool = False              # the console's own host, read through psutil
