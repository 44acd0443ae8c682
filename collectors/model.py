"""Frozen value types shared by every layer. No I/O, no UI.

Units are normalised at parse time: seconds, bytes, Celsius, hertz, rpm; pwm is the raw 0-255
value (as node_exporter exports it). An absent value is None or a missing entry, never 0.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
GUEST_MODES = ("guest", "guest_nice")

EMPTY: Mapping[str, str] = MappingProxyType({})
EMPTY_COUNTS: Mapping[str, int] = MappingProxyType({})
EMPTY_FLOATS: Mapping[str, float] = MappingProxyType({})


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
    disks: tuple[DiskStats, ...] = ()
    filesystems: tuple[Filesystem, ...] = ()
    mmc: tuple[MmcHealth, ...] = ()
    io_errors: Mapping[str, int] = field(default_factory=lambda: EMPTY_COUNTS)  # device -> errors
    hwmon_readings: tuple[HwmonReading, ...] = ()
    power_supplies: tuple[PowerSupply, ...] = ()
    # the node's files this sample was built from: the Prometheus exposition parses the rest of
    # node_exporter's collectors from them when scraped (most samples are never scraped)
    raw: Snapshot | None = field(default=None, compare=False, repr=False)
    # rates a metrics store already computed (PromQL rate()); None: FleetState derives them
    # from this sample's counters and the previous one's
    rates: Rates | None = None


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-node rates read ready-made from a metrics store instead of two samples' counters:
    busy percent (whole node and per core, by /proc/stat's cpu id) and network bytes/s."""
    cpu: float | None = None
    per_core: Mapping[str, float] = field(default_factory=lambda: EMPTY_FLOATS)
    rx_bps: float | None = None
    tx_bps: float | None = None
    cores: int | None = None         # how many cores the busy percent is over


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
    """A node changed reachability: kind is "up" or "down"; reason is one line. groups: what the
    source knows of the node's groups (a discovered node's, from its target labels)."""
    node: str
    ts: float
    kind: str
    reason: str = ""
    groups: tuple[str, ...] = ()


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


# ---- storage and power health (parsed for every sample: the console shows them) ------------

@dataclass(frozen=True, slots=True)
class DiskStats:
    """One /proc/diskstats line: counters as the kernel prints them after the name (11 on old
    kernels, 15 with discards, 17 with flushes). Sectors are 512 bytes, times milliseconds."""
    device: str
    major: int
    minor: int
    counters: tuple[int, ...]

    read_bytes = property(lambda self: self.counters[2] * 512.0)
    written_bytes = property(lambda self: self.counters[6] * 512.0)
    io_ms = property(lambda self: self.counters[9])


@dataclass(frozen=True, slots=True)
class Filesystem:
    """A mount as node_exporter reports it; sizes None when statfs failed (device_error)."""
    device: str
    mountpoint: str
    fstype: str
    readonly: bool
    size: float | None = None
    free: float | None = None
    avail: float | None = None
    files: float | None = None
    files_free: float | None = None

    @property
    def used_pct(self) -> float | None:
        # as df computes it: used / (used + available to users)
        if self.size is None or self.free is None or self.avail is None:
            return None
        used = self.size - self.free
        total = used + self.avail
        return 100.0 * used / total if total > 0 else None


@dataclass(frozen=True, slots=True)
class MmcHealth:
    """eMMC wear from the card's sysfs: life_time is (type A, type B) estimates in 10% steps
    (1 = 0-10% used ... 10 = 90-100%, 11 = exceeded); pre_eol 1 normal, 2 warning (80% of the
    reserved blocks used), 3 urgent. SD cards have neither (type "SD")."""
    card: str                      # "mmc0:0001"
    type: str                      # "MMC" | "SD" | "SDIO"
    name: str = ""
    block: str | None = None       # "mmcblk0"
    life_time: tuple[int, int] | None = None
    pre_eol: int | None = None


@dataclass(frozen=True, slots=True)
class HwmonReading:
    """Any hwmon attribute besides the temp/fan/pwm inputs HwmonSensor carries: thresholds,
    alarms, voltages, currents, power. value is the raw sysfs number (mV, mA, uW, m°C ...)."""
    chip: str
    chip_name: str
    sensor: str                    # "in1", "curr2", "power1", "temp1"
    type: str                      # "in", "curr", "power", "temp", "fan", ...
    element: str                   # "input", "max", "crit_alarm", "average" ...
    value: float
    label: str | None = None       # the sensor's *_label ("node1" on an INA3221 channel)


@dataclass(frozen=True, slots=True)
class PowerSupply:
    """/sys/class/power_supply/<name>: the attribute files as text (PoE HATs, UPS HATs, USB-PD)."""
    name: str
    values: Mapping[str, str]
