"""node_exporter's default collectors, as exposition sections over a Sample.

HEALTH_SECTIONS use what build_sample parsed for every sample (filesystems, disks, hwmon limits and
power monitors, power supplies, eMMC wear, I/O errors): the console shows them and history keeps
them. NODE_SECTIONS parse the rest of the node's files (sample.raw) only when a scrape asks:
uname, os-release, time, timex, stat, vmstat, netstat, sockstat, softnet, entropy, filefd, arp,
udp_queues, pressure, conntrack, schedstat, netclass, the netdev columns beyond the core eight,
cpufreq limits and NVMe identity. Names, labels, units, HELP and TYPE follow node_exporter 1.5.0
(collector/*_linux.go); where a newer node_exporter adds a series the boards have (softnet's
extra columns, IRQ pressure) it is served under the newer name too.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from functools import lru_cache

from .. import cmdout, procfs, sysfs
from ..health import PARTITION_OR_VIRTUAL
from ..model import Sample
from .section_cache import Inputs, Key, SectionCache, objects_key
from .writer import Families, Recorder, heads

Section = Callable[[Families, Sample], None]

VMSTAT_FIELDS = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")
NETSTAT_FIELDS = re.compile(
    r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)"
    r"|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)"
    r"|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)"
    r"|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$")
_DISK = (("reads_completed_total", 1.0), ("reads_merged_total", 1.0), ("read_bytes_total", 512.0),
         ("read_time_seconds_total", 0.001), ("writes_completed_total", 1.0),
         ("writes_merged_total", 1.0), ("written_bytes_total", 512.0),
         ("write_time_seconds_total", 0.001), ("io_now", 1.0), ("io_time_seconds_total", 0.001),
         ("io_time_weighted_seconds_total", 0.001), ("discards_completed_total", 1.0),
         ("discards_merged_total", 1.0), ("discarded_sectors_total", 1.0),
         ("discard_time_seconds_total", 0.001), ("flush_requests_total", 1.0),
         ("flush_requests_time_seconds_total", 0.001))
_DISK_NAMES = tuple(f"node_disk_{name}" for name, _ in _DISK)
_DISK_SCALES = tuple(scale for _, scale in _DISK)
_DISK_KINDS = tuple("counter" if name.endswith("_total") else "gauge" for name, _ in _DISK)
_FS = (("size_bytes", "size"), ("free_bytes", "free"), ("avail_bytes", "avail"),
       ("files", "files"), ("files_free", "files_free"))
_NETDEV_EXTRA = ((4, "receive_fifo"), (5, "receive_frame"), (6, "receive_compressed"),
                 (7, "receive_multicast"), (12, "transmit_fifo"), (13, "transmit_colls"),
                 (14, "transmit_carrier"), (15, "transmit_compressed"))
_NETDEV_NAMES = tuple(f"node_network_{what}_total" for _, what in _NETDEV_EXTRA)
_NETDEV_HELP = tuple(f"Network device statistic {what}." for _, what in _NETDEV_EXTRA)
_PRESSURE = (("cpu", "some", "cpu_waiting"), ("io", "some", "io_waiting"), ("io", "full", "io_stalled"),
             ("memory", "some", "memory_waiting"), ("memory", "full", "memory_stalled"),
             ("irq", "full", "irq_stalled"))
_CONNTRACK = ("found", "invalid", "ignore", "insert", "insert_failed", "drop", "early_drop",
              "search_restart")
_SOFTNET = (("processed", "processed_total"), ("dropped", "dropped_total"),
            ("times_squeezed", "times_squeezed_total"), ("cpu_collision", "cpu_collision_total"),
            ("received_rps", "received_rps_total"), ("flow_limit_count", "flow_limit_count_total"),
            ("backlog_len", "backlog_len"))
_OS_LABELS = ("build_id", "id", "id_like", "image_id", "image_version", "name", "pretty_name",
              "variant", "variant_id", "version", "version_codename", "version_id")
_NETCLASS_NUMBERS = (("addr_assign_type", "address_assign_type"), ("carrier", "carrier"),
                     ("carrier_changes", "carrier_changes_total"),
                     ("carrier_up_count", "carrier_up_changes_total"),
                     ("carrier_down_count", "carrier_down_changes_total"),
                     ("dev_id", "device_id"), ("dormant", "dormant"), ("flags", "flags"),
                     ("ifindex", "iface_id"), ("iflink", "iface_link"),
                     ("link_mode", "iface_link_mode"), ("mtu", "mtu_bytes"),
                     ("name_assign_type", "name_assign_type"), ("netdev_group", "net_dev_group"),
                     ("tx_queue_len", "transmit_queue_length"), ("type", "protocol_type"))
_COUNTER_SUFFIX = "_total"
NET_CLASS = "sys/class/net/"
CLOCKSOURCE = "sys/devices/system/clocksource/clocksource"
PS_SCALE = {"current": 1e6, "voltage": 1e6, "power": 1e6, "energy": 1e6, "charge": 1e6, "temp": 10.0}
_PS_NAMES = {"current_now": "current_ampere", "voltage_now": "voltage_volt", "power_now": "power_watt",
             "energy_now": "energy_watthour", "charge_now": "charge_ampere", "temp": "temp_celsius",
             "cycle_count": "cyclecount"}
_PS_INFO = ("capacity_level", "charge_type", "health", "manufacturer", "model_name", "scope",
            "serial_number", "status", "technology", "type", "usb_type")
_PS_PLAIN = ("online", "present", "capacity", "cyclecount")


def _raw(s: Sample, key: str) -> str | None:
    return s.raw.files.get(key) if s.raw is not None else None


NVME = "sys/class/nvme/"
_INDEXED = (NET_CLASS, CLOCKSOURCE, NVME)   # the prefixes _raw_dirs is asked for, every scrape


NOHANDLER = "/statistics/rx_nohandler"


def _raw_dirs(s: Sample, prefix: str) -> dict[str, dict[str, str]]:
    """{subdir: {file: text}} for the raw files under prefix (one level: prefix<dir>/<file>)."""
    if prefix in _INDEXED:
        return _raw_index(s).dirs[prefix]
    return _RawIndex(s.raw.files if s.raw is not None else {}, (prefix,)).dirs[prefix]


class _RawIndex:
    """One pass over a sample's raw files: _raw_dirs of some prefixes, and the interfaces'
    rx_nohandler files (key, text) in the files' order."""

    __slots__ = ("dirs", "nohandler")

    def __init__(self, files: Mapping[str, str], prefixes: tuple[str, ...]) -> None:
        self.dirs: dict[str, dict[str, dict[str, str]]] = {p: {} for p in prefixes}
        self.nohandler: list[tuple[str, str]] = []
        for key, text in files.items():
            if key.startswith(prefixes):   # one C call for the ~100 files under none of them
                self._add(key, text, prefixes)

    def _add(self, key: str, text: str, prefixes: tuple[str, ...]) -> None:
        for prefix in prefixes:
            if key.startswith(prefix):
                break
        if prefix == NET_CLASS and key.endswith(NOHANDLER):
            self.nohandler.append((key, text))
        d, sep, name = key[len(prefix):].partition("/")
        if sep and "/" not in name:
            group = self.dirs[prefix].get(d)
            if group is None:
                group = self.dirs[prefix][d] = {}
            group[name] = text


_last_index: tuple[object, _RawIndex] = (None, _RawIndex({}, ()))


def _raw_index(s: Sample) -> _RawIndex:
    """The _RawIndex of the indexed prefixes, kept for the sample being rendered (three sections
    and a key ask; a swap between scrape threads only costs a pass)."""
    global _last_index
    files = s.raw.files if s.raw is not None else None
    last = _last_index
    if last[0] is not files or files is None:
        last = _last_index = (files, _RawIndex(files or {}, _INDEXED))
    return last[1]


# ---------------------------------------------------------------- health sections

def _filesystems(f: Families, s: Sample) -> None:
    for fs in s.filesystems:
        labels = {"device": fs.device, "fstype": fs.fstype, "mountpoint": fs.mountpoint}
        f.add(s.node, "node_filesystem_device_error", "", labels, fs.size is None)
        if fs.size is None:
            continue
        for suffix, attr in _FS:
            f.add(s.node, f"node_filesystem_{suffix}", "", labels, getattr(fs, attr))
        f.add(s.node, "node_filesystem_readonly", "", labels, fs.readonly)


def _diskstats(f: Families, s: Sample) -> None:
    for d in s.disks:
        if PARTITION_OR_VIRTUAL.match(d.device):
            continue
        f.add(s.node, "node_disk_info", "", {"device": d.device, "major": str(d.major),
              "minor": str(d.minor), "path": "", "wwn": "", "model": "", "serial": "",
              "revision": ""}, 1)
        for name, scale, kind, head, value in zip(_DISK_NAMES, _DISK_SCALES, _DISK_KINDS,
                                                  heads(_DISK_NAMES, (("device", d.device),)), d.counters):
            f.put(s.node, name, "", head, value * scale, kind)


def scaled(value: float, scale: float) -> float:
    """node_exporter's unit arithmetic, to the last bit: scales above 1 divide ("/1000000.0"),
    scales below 1 multiply ("*0.001")."""
    return value / scale if scale > 1 else value * scale


def hwmon_metric(kind: str, element: str, has_bare: bool) -> tuple[str, str, float, str] | None:
    """node_exporter's (name, HELP, scale, type) for one hwmon attribute (hwmon_linux.go rules)."""
    if kind == "update_interval":
        return "node_hwmon_update_interval_seconds", "Hardware monitor update interval", 0.001, "gauge"
    name = f"node_hwmon_{kind}"
    if element == "input":
        name += "_input" if has_bare else ""
    elif element:
        name += "_" + clean(element)
    if element in ("fault", "alarm"):
        return name, f"Hardware sensor {element} status ({kind})", 1.0, "gauge"
    if element == "beep":
        return name + "_enabled", "Hardware monitor sensor has beeping enabled", 1.0, "gauge"
    return _hwmon_unit(name, kind, element)


def _hwmon_unit(name: str, kind: str, element: str) -> tuple[str, str, float, str] | None:
    if kind in ("in", "cpu"):
        return name + "_volts", f"Hardware monitor for voltage ({element})", 0.001, "gauge"
    if kind == "temp" and element != "type":
        return name + "_celsius", f"Hardware monitor for temperature ({element or 'input'})", 0.001, "gauge"
    if kind == "curr":
        return name + "_amps", f"Hardware monitor for current ({element})", 0.001, "gauge"
    if kind == "energy":
        return name + "_joule_total", f"Hardware monitor for joules used so far ({element})", 1e6, "counter"
    if kind == "power" and element == "accuracy":
        return name, "Hardware monitor power meter accuracy, as a ratio", 1e6, "gauge"
    if kind == "power":
        return name + "_watt", f"Hardware monitor for power usage in watts ({element})", 1e6, "gauge"
    if kind == "humidity":
        return (name, "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the "
                f"humidity as a percentage) ({element})", 1e6, "gauge")
    if kind == "fan" and element in ("input", "min", "max", "target"):
        return name + "_rpm", f"Hardware monitor for fan revolutions per minute ({element})", 1.0, "gauge"
    return name, f"Hardware monitor {kind} element {element}", 1.0, "gauge"


@lru_cache(maxsize=1024)
def clean(name: str) -> str:
    return sysfs.clean_name(name)


def _hwmon_readings(f: Families, s: Sample) -> None:
    for r in s.hwmon_readings:
        if r.chip_name and clean(r.chip_name):
            f.add(s.node, "node_hwmon_chip_names", "Annotation metric for human-readable chip names",
                  {"chip": r.chip, "chip_name": clean(r.chip_name)}, 1)
        if r.label:
            f.add(s.node, "node_hwmon_sensor_label", "Label for given chip and sensor",
                  {"chip": r.chip, "label": r.label, "sensor": r.sensor}, 1)
        made = hwmon_metric(r.type, r.element, False)
        if made is not None:
            name, help_, scale, kind = made
            f.add(s.node, name, help_, {"chip": r.chip, "sensor": r.sensor}, scaled(r.value, scale),
                  kind=kind)


def _power_supply(f: Families, s: Sample) -> None:
    for ps in s.power_supplies:
        labels = {"power_supply": ps.name}
        for attr, text in sorted(ps.values.items()):
            name = _PS_NAMES.get(attr, attr)
            value = sysfs.parse_int_auto(text)
            if value is None or attr in _PS_INFO:
                continue
            scale = 1.0 if name in _PS_PLAIN else PS_SCALE.get(attr.partition("_")[0], 1.0)
            f.add(s.node, f"node_power_supply_{name}",
                  f"{name} value of /sys/class/power_supply/<power_supply>.", labels,
                  scaled(value, scale))
        info = {k: ps.values[k] for k in _PS_INFO if ps.values.get(k)}
        f.add(s.node, "node_power_supply_info", "info of /sys/class/power_supply/<power_supply>.",
              dict(sorted({**labels, **info}.items())), 1)


def _storage_health(f: Families, s: Sample) -> None:
    for card in s.mmc:
        labels = {"card": card.card, "block": card.block or "", "name": card.name}
        if card.life_time is not None:
            for which, code in zip("AB", card.life_time):
                f.add(s.node, "roost_mmc_life_time_estimate",
                      "eMMC wear estimate (JEDEC life_time): 1 = 0-10% of rated life used ... "
                      "10 = 90-100%, 11 = exceeded.", {**labels, "type": which}, code)
        if card.pre_eol is not None:
            f.add(s.node, "roost_mmc_pre_eol_info",
                  "eMMC reserved blocks (JEDEC pre_eol_info): 1 normal, 2 warning (80% used), "
                  "3 urgent.", labels, card.pre_eol)
    for device, count in sorted(s.io_errors.items()):
        f.add(s.node, "roost_disk_io_errors_total", "I/O errors the disk's driver counted "
              "(sys/block/<disk>/device/ioerr_cnt).", {"device": device}, count, counter=True)


# ---------------------------------------------------------------- node_exporter's others (lazy)

def _uname(f: Families, s: Sample) -> None:
    host = _raw(s, "proc/sys/kernel/hostname")
    if host is None:
        return
    machine, _ = cmdout.parse_uname(_raw(s, "cmd/uname") or "")
    f.add(s.node, "node_uname_info", "", {
        "domainname": (_raw(s, "proc/sys/kernel/domainname") or "").strip(),
        "machine": machine or "", "nodename": host.strip(),
        "release": (_raw(s, "proc/sys/kernel/osrelease") or "").strip(),
        "sysname": (_raw(s, "proc/sys/kernel/ostype") or "Linux").strip(),
        "version": (_raw(s, "proc/sys/kernel/version") or "").strip()}, 1)


def _os(f: Families, s: Sample) -> None:
    text = _raw(s, "etc/os-release") or _raw(s, "usr/lib/os-release")
    if text is None:
        return
    rel = procfs.parse_os_release(text)
    f.add(s.node, "node_os_info", "", {k: rel.get(k.upper(), "") for k in _OS_LABELS}, 1)
    m = re.match(r"^[0-9]+\.?[0-9]*", rel.get("VERSION_ID", ""))
    version = float(m.group(0).rstrip(".")) if m else 0.0
    if version > 0:
        f.add(s.node, "node_os_version", "", {"id": rel.get("ID", ""), "id_like": rel.get("ID_LIKE", ""),
                                              "name": rel.get("NAME", "")}, version)


def _time(f: Families, s: Sample) -> None:
    if s.node_clock is not None:
        f.put(s.node, "node_time_seconds", "", "node_time_seconds", s.node_clock)


def _clocksource(f: Families, s: Sample) -> None:
    """node_exporter's time collector, the part that reads files (replayed while they hold):
    apart from _time, whose node_time_seconds changes every frame."""
    for device, files in sorted(_raw_dirs(s, CLOCKSOURCE).items()):
        for name in files.get("available_clocksource", "").split():
            f.add(s.node, "node_time_clocksource_available_info", "",
                  {"clocksource": name, "device": device}, 1)
        if files.get("current_clocksource", "").strip():
            f.add(s.node, "node_time_clocksource_current_info", "",
                  {"clocksource": files["current_clocksource"].strip(), "device": device}, 1)


def _timex(f: Families, s: Sample) -> None:
    zone = cmdout.parse_zone(_raw(s, "cmd/timex") or "")
    if zone is not None:
        f.add(s.node, "node_time_zone_offset_seconds", "", {"time_zone": zone[0]}, zone[1])
    t = cmdout.parse_timex(_raw(s, "cmd/timex") or "")
    if t is None:
        return
    div = 1e9 if t["status"] & cmdout.STA_NANO else 1e6
    ppm16 = 1e6 * 65536.0
    values = (t["return"] != cmdout.TIME_ERROR, t["offset"] / div, 1 + t["freq"] / ppm16,
              t["maxerror"] / 1e6, t["esterror"] / 1e6, t["status"], t["constant"],
              t["tick"] / 1e6, t["ppsfreq"] / ppm16, t["jitter"] / div, t["shift"],
              t["stabil"] / ppm16, t["jitcnt"], t["calcnt"], t["errcnt"], t["stbcnt"], t["tai"])
    for name, value in zip(_TIMEX, values):
        f.put(s.node, name, "", name, value)


_TIMEX = tuple(f"node_timex_{name}" for name in (
    "sync_status", "offset_seconds", "frequency_adjustment_ratio", "maxerror_seconds",
    "estimated_error_seconds", "status", "loop_time_constant", "tick_seconds",
    "pps_frequency_hertz", "pps_jitter_seconds", "pps_shift_seconds", "pps_stability_hertz",
    "pps_jitter_total", "pps_calibration_total", "pps_error_total",
    "pps_stability_exceeded_total", "tai_offset_seconds"))


def _stat(f: Families, s: Sample) -> None:
    counters = procfs.parse_stat_counters(_raw(s, "proc/stat") or "")
    for key, name in (("intr", "intr_total"), ("ctxt", "context_switches_total"),
                      ("forks", "forks_total"), ("procs_running", "procs_running"),
                      ("procs_blocked", "procs_blocked")):
        if key in counters:
            f.add(s.node, f"node_{name}", "", {}, counters[key])


@procfs.short_key_cache(4096)   # the kernel's few hundred names
def _vmstat_series(field: str) -> tuple[str, str] | None:
    """(name, HELP) of a /proc/vmstat field node_exporter serves, else None."""
    if not VMSTAT_FIELDS.match(field):
        return None
    return f"node_vmstat_{field}", f"/proc/vmstat information field {field}."


def _vmstat(f: Families, s: Sample) -> None:
    for field, value in procfs.parse_key_values(_raw(s, "proc/vmstat") or "", _vmstat_series).items():
        name, help_ = _vmstat_series(field)  # type: ignore[misc]  # kept fields have one
        f.put(s.node, name, help_, name, value, "untyped")


@procfs.short_key_cache(4096)   # the kernel's few hundred names
def _netstat_series(key: str) -> tuple[str, str] | None:
    """(name, HELP) of a netstat/snmp field node_exporter serves, else None."""
    if not NETSTAT_FIELDS.match(key):
        return None
    proto, _, name = key.partition("_")
    return f"node_netstat_{key}", f"Statistic {proto}{name}."


def _netstat(f: Families, s: Sample) -> None:
    keep = _netstat_series
    stats = {**procfs.parse_netstat(_raw(s, "proc/net/netstat") or "", keep),
             **procfs.parse_netstat(_raw(s, "proc/net/snmp") or "", keep),
             **procfs.parse_snmp6(_raw(s, "proc/net/snmp6") or "", keep)}
    for key, value in stats.items():
        name, help_ = keep(key)  # type: ignore[misc]  # kept keys have one
        f.put(s.node, name, help_, name, value, "untyped")


def _sockstat(f: Families, s: Sample) -> None:
    _, page = cmdout.parse_uname(_raw(s, "cmd/uname") or "")
    for key in ("proc/net/sockstat", "proc/net/sockstat6"):
        for name, value in procfs.parse_sockstat(_raw(s, key) or "").items():
            if name.startswith("sockets_"):
                if key.endswith("sockstat") and name == "sockets_used":
                    f.add(s.node, "node_sockstat_sockets_used", "Number of IPv4 sockets in use.", {}, value)
                continue
            proto, _, what = name.partition("_")
            f.add(s.node, f"node_sockstat_{name}", f"Number of {proto} sockets in state {what}.", {}, value)
            if what == "mem" and page:
                f.add(s.node, f"node_sockstat_{name}_bytes",
                      f"Number of {proto} sockets in state mem_bytes.", {}, value * page)


_SOFTNET_NAMES = tuple(f"node_softnet_{name}" for _, name in _SOFTNET)
_SOFTNET_KINDS = tuple("counter" if name.endswith(_COUNTER_SUFFIX) else "gauge" for _, name in _SOFTNET)


def _softnet(f: Families, s: Sample) -> None:
    for cpu, row in enumerate(procfs.parse_softnet(_raw(s, "proc/net/softnet_stat") or "")):
        for (key, _), name, kind, head in zip(_SOFTNET, _SOFTNET_NAMES, _SOFTNET_KINDS,
                                              heads(_SOFTNET_NAMES, (("cpu", str(cpu)),))):
            if key in row:
                f.put(s.node, name, "", head, row[key], kind)


def _entropy(f: Families, s: Sample) -> None:
    avail = procfs.parse_int(_raw(s, "proc/sys/kernel/random/entropy_avail") or "")
    pool = procfs.parse_int(_raw(s, "proc/sys/kernel/random/poolsize") or "")
    if avail is not None:
        f.add(s.node, "node_entropy_available_bits", "", {}, avail)
    if pool is not None:
        f.add(s.node, "node_entropy_pool_size_bits", "", {}, pool)


def _filefd(f: Families, s: Sample) -> None:
    fd = procfs.parse_file_nr(_raw(s, "proc/sys/fs/file-nr") or "")
    if fd is not None:
        f.add(s.node, "node_filefd_allocated", "", {}, fd[0])
        f.add(s.node, "node_filefd_maximum", "", {}, fd[1])


def _arp(f: Families, s: Sample) -> None:
    for device, count in procfs.parse_arp(_raw(s, "proc/net/arp") or "").items():
        f.add(s.node, "node_arp_entries", "", {"device": device}, count)


def _udp_queues(f: Families, s: Sample) -> None:
    for key, ip in (("proc/net/udp", "v4"), ("proc/net/udp6", "v6")):
        queues = procfs.parse_udp_queues(_raw(s, key) or "")
        if queues is not None:
            f.add(s.node, "node_udp_queues", "", {"ip": ip, "queue": "tx"}, queues[0])
            f.add(s.node, "node_udp_queues", "", {"ip": ip, "queue": "rx"}, queues[1])


def _pressure(f: Families, s: Sample) -> None:
    for resource, kind, name in _PRESSURE:
        value = procfs.parse_pressure(_raw(s, f"proc/pressure/{resource}") or "").get(kind)
        if value is not None:
            f.add(s.node, f"node_pressure_{name}_seconds_total", "", {}, value, counter=True)


def _conntrack(f: Families, s: Sample) -> None:
    count = procfs.parse_int(_raw(s, "proc/sys/net/netfilter/nf_conntrack_count") or "")
    limit = procfs.parse_int(_raw(s, "proc/sys/net/netfilter/nf_conntrack_max") or "")
    if count is None or limit is None:
        return
    f.add(s.node, "node_nf_conntrack_entries", "", {}, count)
    f.add(s.node, "node_nf_conntrack_entries_limit", "", {}, limit)
    stats = procfs.parse_conntrack_stat(_raw(s, "proc/net/stat/nf_conntrack") or "")
    for name in _CONNTRACK:
        if name in stats:
            f.add(s.node, f"node_nf_conntrack_stat_{name}", "", {}, stats[name])


def _schedstat(f: Families, s: Sample) -> None:
    for cpu, running, waiting, slices in procfs.parse_schedstat(_raw(s, "proc/schedstat") or ""):
        f.add(s.node, "node_schedstat_running_seconds_total", "", {"cpu": cpu}, running / 1e9, counter=True)
        f.add(s.node, "node_schedstat_waiting_seconds_total", "", {"cpu": cpu}, waiting / 1e9, counter=True)
        f.add(s.node, "node_schedstat_timeslices_total", "", {"cpu": cpu}, slices, counter=True)


def _netclass(f: Families, s: Sample) -> None:
    for device, files in sorted(_raw_dirs(s, NET_CLASS).items()):
        if "operstate" not in files and "address" not in files:
            continue
        text = {k: v.strip() for k, v in files.items()}
        labels = {"device": device}
        f.add(s.node, "node_network_up", "", labels, text.get("operstate") == "up")
        f.add(s.node, "node_network_info", "", {
            "address": text.get("address", ""), "broadcast": text.get("broadcast", ""),
            "device": device, "duplex": text.get("duplex", ""), "ifalias": text.get("ifalias", ""),
            "operstate": text.get("operstate", "")}, 1)
        for attr, name in _NETCLASS_NUMBERS:
            value = sysfs.parse_int_auto(text.get(attr, ""))
            if value is not None:
                f.add(s.node, f"node_network_{name}", "", labels, value,
                      counter=name.endswith(_COUNTER_SUFFIX))
        speed = procfs.parse_int(text.get("speed", ""))
        if speed is not None:
            f.add(s.node, "node_network_speed_bytes", "", labels, int(speed * 1000 * 1000 / 8))


def _netdev_extra(f: Families, s: Sample) -> None:
    for line in (_raw(s, "proc/net/dev") or "").splitlines()[2:]:
        name, sep, rest = line.partition(":")
        cols = rest.split()
        if not sep or len(cols) != 16 or not "".join(cols).isdigit():
            continue
        for (index, _), series, help_, head in zip(_NETDEV_EXTRA, _NETDEV_NAMES, _NETDEV_HELP,
                                                    heads(_NETDEV_NAMES, (("device", name.strip()),))):
            f.put(s.node, series, help_, head, int(cols[index]), "counter")
    for key, text in _raw_index(s).nohandler:
        value = procfs.parse_int(text)
        if value is not None:
            f.add(s.node, "node_network_receive_nohandler_total",
                  "Network device statistic receive_nohandler.",
                  {"device": key[len(NET_CLASS):].partition("/")[0]}, value, counter=True)


def _cpufreq_limits(f: Families, s: Sample) -> None:
    for c in s.cpufreq:
        base = f"sys/devices/system/cpu/cpu{c.cpu}/cpufreq/"
        for attr, name, what in (("cpuinfo_min_freq", "frequency_min_hertz", "Minimum"),
                                 ("cpuinfo_max_freq", "frequency_max_hertz", "Maximum")):
            khz = procfs.parse_int(_raw(s, base + attr) or "")
            if khz is not None:
                f.add(s.node, f"node_cpu_{name}", f"{what} cpu thread frequency in hertz.",
                      {"cpu": c.cpu}, khz * 1000.0)


def _process(f: Families, s: Sample) -> None:
    """The sampler's own process, where node_exporter reports its own (process_*)."""
    st = procfs.parse_process_stat(_raw(s, "proc/self/stat") or "")
    if st is None:
        return
    _, page = cmdout.parse_uname(_raw(s, "cmd/uname") or "")
    f.add(s.node, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
          {}, st["cpu_ticks"] / procfs.USER_HZ, counter=True)
    f.add(s.node, "process_virtual_memory_bytes", "Virtual memory size in bytes.", {}, st["vsize"])
    if page:
        f.add(s.node, "process_resident_memory_bytes", "Resident memory size in bytes.", {},
              st["rss_pages"] * page)
    if s.boot_time is not None:
        f.add(s.node, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.", {},
              s.boot_time + st["start_ticks"] / procfs.USER_HZ)
    limits = procfs.parse_limits(_raw(s, "proc/self/limits") or "")
    for key, name, help_ in (("Max open files", "process_max_fds", "Maximum number of open file descriptors."),
                             ("Max address space", "process_virtual_memory_max_bytes",
                              "Maximum amount of virtual memory available in bytes.")):
        if key in limits:
            f.add(s.node, name, help_, {}, limits[key])


def _nvme(f: Families, s: Sample) -> None:
    for device, files in sorted(_raw_dirs(s, NVME).items()):
        f.add(s.node, "node_nvme_info", "", {
            "device": device, "firmware_revision": files.get("firmware_rev", "").strip(),
            "model": files.get("model", "").strip(), "serial": files.get("serial", "").strip(),
            "state": files.get("state", "").strip()}, 1)


HEALTH_SECTIONS: tuple[Section, ...] = (_filesystems, _diskstats, _hwmon_readings, _power_supply,
                                        _storage_health)
NODE_SECTIONS: tuple[Section, ...] = (_uname, _os, _time, _clocksource, _timex, _stat, _vmstat, _netstat,
                                      _sockstat, _softnet, _entropy, _filefd, _arp, _udp_queues,
                                      _pressure, _conntrack, _schedstat, _netclass, _netdev_extra,
                                      _cpufreq_limits, _nvme, _process)


# ---------------------------------------------------------------- what each section reads

def _texts(*keys: str) -> Key:
    """The key of a section that reads only these raw files."""
    def inputs(s: Sample) -> Inputs:
        return tuple(_raw(s, k) for k in keys), ()
    return inputs


def _dir_texts(prefix: str) -> Key:
    """The key of a section that reads _raw_dirs(prefix): each dir's name, and its files' names
    and texts in order (tuples made and compared in C)."""
    def inputs(s: Sample) -> Inputs:
        return tuple((device, tuple(files.items()))
                     for device, files in _raw_dirs(s, prefix).items()), ()
    return inputs


def _cpufreq_limit_inputs(s: Sample) -> Inputs:
    texts: list[str | None] = []
    for c in s.cpufreq:
        base = f"sys/devices/system/cpu/cpu{c.cpu}/cpufreq/"
        texts += (c.cpu, _raw(s, base + "cpuinfo_min_freq"), _raw(s, base + "cpuinfo_max_freq"))
    return tuple(texts), ()


def _process_inputs(s: Sample) -> Inputs:
    texts = _texts("proc/self/stat", "cmd/uname", "proc/self/limits")(s)[0]
    return (*texts, repr(s.boot_time)), ()


# Sections a node's SectionCache may replay, by what they read. Not those whose files change
# between two scrapes on a live node (counters, timex's offset, free space, allocated file
# handles): a replay that never hits costs its memory and a copy per scrape
KEYS: dict[Section, Key] = {
    _hwmon_readings: objects_key("hwmon_readings"), _power_supply: objects_key("power_supplies"),
    _uname: _texts("proc/sys/kernel/hostname", "cmd/uname", "proc/sys/kernel/domainname",
                   "proc/sys/kernel/osrelease", "proc/sys/kernel/ostype", "proc/sys/kernel/version"),
    _os: _texts("etc/os-release", "usr/lib/os-release"),
    _sockstat: _texts("cmd/uname", "proc/net/sockstat", "proc/net/sockstat6"),
    _udp_queues: _texts("proc/net/udp", "proc/net/udp6"),
    _pressure: _texts(*(f"proc/pressure/{r}" for r in ("cpu", "io", "memory", "irq"))),
    _conntrack: _texts("proc/sys/net/netfilter/nf_conntrack_count",
                       "proc/sys/net/netfilter/nf_conntrack_max", "proc/net/stat/nf_conntrack"),
    _schedstat: _texts("proc/schedstat"), _netclass: _dir_texts(NET_CLASS),
    _clocksource: _dir_texts(CLOCKSOURCE),
    _nvme: _dir_texts(NVME), _cpufreq_limits: _cpufreq_limit_inputs, _process: _process_inputs}

# node_exporter's collector names, for node_scrape_collector_success/duration
COLLECTOR_OF = {
    "_cpu": "cpu", "_meminfo": "meminfo", "_net": "netdev", "_thermal": "thermal_zone",
    "_hwmon": "hwmon", "_cpufreq": "cpufreq", "_filesystems": "filesystem",
    "_diskstats": "diskstats", "_power_supply": "powersupplyclass", "_uname": "uname", "_os": "os",
    "_time": "time", "_timex": "timex", "_stat": "stat", "_vmstat": "vmstat", "_netstat": "netstat",
    "_sockstat": "sockstat", "_softnet": "softnet", "_udp_queues": "udp_queues",
    "_pressure": "pressure", "_conntrack": "conntrack", "_schedstat": "schedstat",
    "_netclass": "netclass", "_nvme": "nvme"}
# what each section is switched by ([serve] collectors): node_exporter's collector names, which
# the timed ones above are too, and roost's own series under names of their own
SWITCHED_BY = {**COLLECTOR_OF, "_loadavg": "loadavg", "_boot_time": "stat", "_clocksource": "time",
               "_entropy": "entropy", "_filefd": "filefd", "_arp": "arp", "_netdev_extra": "netdev",
               "_cpufreq_limits": "cpufreq", "_hwmon_readings": "hwmon", "_process": "process",
               "_rpi": "rpi_throttle", "_storage_health": "storage_health"}


_SCRAPE_NAMES = ("node_scrape_collector_duration_seconds", "node_scrape_collector_success")


def scrape_sections(f: Families | Recorder, s: Sample, sections: tuple[Section, ...],
                    cache: SectionCache | None = None, keys: Mapping[Section, Key] = KEYS) -> None:
    """Run sections (the core, health and lazy ones a target serves) for one sample, each timed:
    the time and success go out as node_scrape_collector_duration_seconds / _success (roost's own
    cost of building that collector here, the analogue of node_exporter's per-collector time).
    With the node's cache, a section in keys whose inputs did not change is replayed."""
    for section in sections:
        before, start = f.count, time.perf_counter()
        key = keys.get(section) if cache is not None else None
        if key is None:
            section(f, s)  # type: ignore[arg-type]  # a Recorder has Families' add/put
        else:
            assert cache is not None and isinstance(f, Recorder), "a cache records, see node_text"
            cache.render(f, s, section, key)
        collector = COLLECTOR_OF.get(section.__name__)
        if collector is not None:
            took, worked = heads(_SCRAPE_NAMES, (("collector", collector),))
            f.put(s.node, _SCRAPE_NAMES[0], "", took, time.perf_counter() - start)
            f.put(s.node, _SCRAPE_NAMES[1], "", worked, f.count > before)
