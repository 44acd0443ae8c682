"""Prometheus text exposition of Samples with node_exporter's names, HELP and TYPE.

Three shapes, one writer:
- node_text(sample): one node as its own target (the multi-target exporter pattern): exactly the
  series node_exporter would serve for that host, no node label. Built on scrape from the latest
  sample and cached per sample, so a thousand targets cost a render each only when scraped.
- fleet_text(...): roost's own series for every node (roost_node_up, sample age, power draw)
  plus what the caller adds (job queue, power state), with a node label.
- render_text(samples): the one-shot dump (`roost collect --format prometheus`), node_exporter
  series for each sample (node label with fleet=True).

The writer is hand-made rather than prometheus_client's Metric objects: those cost most of the
time per sample, and the per-node cache wants plain text. Label values and HELP are escaped as
the text format 0.0.4 says, so hostile strings from a node cannot break the exposition.
flat_series() gives the same series as {series: value} for the JSONL and SQLite sinks (the core
and health sections only: history does not need netstat's counters every second).
"""
from __future__ import annotations

import math
import re
import time
from functools import lru_cache
from typing import Callable, Iterable, Mapping

from ..model import CPU_MODES, Sample
from ..sysfs import clean_name
from .node_help import NODE_HELP

Source = Callable[[], tuple[Mapping[str, Sample], Mapping[str, bool]]]
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PARENS = re.compile(r"\((.*)\)")
_NET = (("receive", "bytes", "rx_bytes"), ("receive", "packets", "rx_packets"),
        ("receive", "errs", "rx_errs"), ("receive", "drop", "rx_drop"),
        ("transmit", "bytes", "tx_bytes"), ("transmit", "packets", "tx_packets"),
        ("transmit", "errs", "tx_errs"), ("transmit", "drop", "tx_drop"))
_RPI = ("under_voltage", "undervoltage"), ("freq_capped", "freq_capped"), \
       ("throttled", "throttled"), ("soft_temp_limit", "soft_temp_limit")
_HWMON = {"temp": ("node_hwmon_temp_celsius", "Hardware monitor for temperature (input)"),
          "fan": ("node_hwmon_fan_rpm", "Hardware monitor for fan revolutions per minute (input)"),
          "pwm": ("node_hwmon_pwm", "Hardware monitor pwm element ")}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# ---------------------------------------------------------------- the writer

def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """As short as exact: integers without ".0", NaN and infinities in the format's spelling."""
    if (type(value) is int and -_EXACT < value < _EXACT) or type(value) is bool:
        return str(int(value))       # most counters: no float round trip (floats beyond 2**53
    value = float(value)             # are what node_exporter, all float64, prints too)
    if value != value:
        return "NaN"
    if value in (_INF, -_INF):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and -1e15 < value < 1e15:
        return str(int(value))
    return repr(value)


_INF = float("inf")
_EXACT = 2 ** 53


class Families:
    """Metric families built up sample by sample, rendered as text format 0.0.4.

    fleet=True adds node="NAME" to every series. A duplicate series (same name and labels)
    is dropped: one would make Prometheus reject the whole scrape. HELP and TYPE come from
    node_exporter's table when the name is there, else from the caller."""

    def __init__(self, fleet: bool = False):
        self.fleet = fleet
        self.count = 0                          # series added so far
        self._families: dict[str, list] = {}   # name -> [type, help, lines, seen label tuples]

    def add(self, node: str, name: str, help_: str, labels: Mapping[str, str], value: float,
            counter: bool = False, node_label: bool = False, kind: str | None = None) -> None:
        if self.fleet or node_label:
            labels = {**labels, "node": node}
        fam = self._families.get(name)
        if fam is None:
            kind = kind or ("counter" if counter else "gauge")
            kind, help_ = NODE_HELP.get(name, (kind, help_))
            fam = self._families[name] = [kind, help_, [], set()]
        key = tuple(labels.values())
        seen = fam[3]
        if key in seen:
            return
        seen.add(key)
        self.count += 1
        if labels:
            inner = ",".join([f'{k}="{_escape(v)}"' for k, v in labels.items()])
            fam[2].append(f"{name}{{{inner}}} {format_value(value)}\n")
        else:
            fam[2].append(f"{name} {format_value(value)}\n")

    def text(self) -> str:
        parts = []
        for name in sorted(self._families):
            kind, help_, lines, _ = self._families[name]
            parts.append(f"# HELP {name} {_escape_help(help_)}\n# TYPE {name} {kind}\n")
            parts += lines
        return "".join(parts)


# What history leaves to Prometheus: disk counters beyond bytes, ops and busy time, inode counts,
# the per-disk info line (a point per second each would triple the rows for little use)
HISTORY_SKIP = frozenset({
    "node_disk_info", "node_disk_reads_merged_total", "node_disk_read_time_seconds_total",
    "node_disk_writes_merged_total", "node_disk_write_time_seconds_total", "node_disk_io_now",
    "node_disk_io_time_weighted_seconds_total", "node_disk_discards_completed_total",
    "node_disk_discards_merged_total", "node_disk_discarded_sectors_total",
    "node_disk_discard_time_seconds_total", "node_disk_flush_requests_total",
    "node_disk_flush_requests_time_seconds_total", "node_filesystem_files",
    "node_filesystem_files_free", "node_filesystem_device_error"})


class Flat:
    """The same sections into {series: value} for JSONL and SQLite: no text to build, and not
    the series in HISTORY_SKIP."""

    def __init__(self) -> None:
        self.series: dict[str, float] = {}

    def add(self, node: str, name: str, help_: str, labels: Mapping[str, str], value: float,
            counter: bool = False, node_label: bool = False, kind: str | None = None) -> None:
        if name in HISTORY_SKIP:
            return
        key = series_key(name, tuple(labels.items())) if labels else name
        if key not in self.series:  # first wins, as Families drops duplicate series
            self.series[key] = float(value)


@lru_cache(maxsize=65536)  # a fleet repeats the same few hundred series every tick
def series_key(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    """name{k="v",...} with exposition-format escaping: the JSONL key and SQLite metric name."""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return f"{name}{{{inner}}}"


# ---------------------------------------------------------------- core sections

def _cpu(f: Families, s: Sample) -> None:
    for t in s.cpus:
        for mode in CPU_MODES:
            f.add(s.node, "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.",
                  {"cpu": t.cpu, "mode": mode}, getattr(t, mode), counter=True)
        for mode, value in (("user", t.guest), ("nice", t.guest_nice)):
            f.add(s.node, "node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode.",
                  {"cpu": t.cpu, "mode": mode}, value, counter=True)


@lru_cache(maxsize=4096)  # the same few dozen kernel names, every sample of every node
def memory_metric_name(field: str) -> str | None:
    """node_exporter's name for a meminfo field: Active(anon) -> node_memory_Active_anon_bytes;
    unitless counts (HugePages_*) get no _bytes. None when the kernel name is not usable."""
    base = _PARENS.sub(r"_\1", field)
    name = f"node_memory_{base}" + ("" if field.startswith("HugePages_") else "_bytes")
    return name if _METRIC_NAME.fullmatch(name) else None


def _load_memory(f: Families, s: Sample) -> None:
    if s.load is not None:
        for minutes, value in (("1", s.load.load1), ("5", s.load.load5), ("15", s.load.load15)):
            f.add(s.node, f"node_load{minutes}", f"{minutes}m load average.", {}, value)
    for field, value in (s.memory.fields.items() if s.memory else ()):
        name = memory_metric_name(field)
        if name:
            f.add(s.node, name, f"Memory information field {name[12:]}.", {}, value)
    if s.boot_time is not None:
        f.add(s.node, "node_boot_time_seconds", "Node boot time, in unixtime.", {}, s.boot_time)


def _net(f: Families, s: Sample) -> None:
    for n in s.net:
        for direction, what, attr in _NET:
            f.add(s.node, f"node_network_{direction}_{what}_total",
                  f"Network device statistic {direction}_{what}.", {"device": n.device},
                  getattr(n, attr), counter=True)


def _thermal(f: Families, s: Sample) -> None:
    for z in s.thermal:
        f.add(s.node, "node_thermal_zone_temp", "Zone temperature in Celsius",
              {"type": z.type, "zone": z.zone}, z.temp_c)
    for c in s.cooling:
        labels = {"name": c.name, "type": c.type}
        f.add(s.node, "node_cooling_device_cur_state", "Current throttle state of the cooling device",
              labels, c.cur_state)
        if c.max_state is not None:
            f.add(s.node, "node_cooling_device_max_state", "Maximum throttle state of the cooling device",
                  labels, c.max_state)


def _hwmon(f: Families, s: Sample) -> None:
    for h in s.hwmon:
        name, help_ = _HWMON[h.kind]
        f.add(s.node, name, help_, {"chip": h.chip, "sensor": h.sensor}, h.value)
        if h.chip_name and clean_name(h.chip_name):
            f.add(s.node, "node_hwmon_chip_names", "Annotation metric for human-readable chip names",
                  {"chip": h.chip, "chip_name": clean_name(h.chip_name)}, 1)
        if h.label:
            f.add(s.node, "node_hwmon_sensor_label", "Label for given chip and sensor",
                  {"chip": h.chip, "label": h.label, "sensor": h.sensor}, 1)


_FREQ = (("", "cur_hz", "Current"), ("_min", "min_hz", "Minimum"), ("_max", "max_hz", "Maximum"))


def _cpufreq(f: Families, s: Sample) -> None:
    for c in s.cpufreq:
        for suffix, attr, what in _FREQ:
            value = getattr(c, attr)
            if value is not None:
                f.add(s.node, f"node_cpu_scaling_frequency{suffix}_hertz",
                      f"{what} scaled CPU thread frequency in hertz.", {"cpu": c.cpu}, value)


def _rpi(f: Families, s: Sample) -> None:
    t = s.throttle
    if t is None:
        return
    f.add(s.node, "roost_rpi_get_throttled", "Raspberry Pi firmware get_throttled bits.", {}, t.raw)
    for attr, name in _RPI:
        f.add(s.node, f"roost_rpi_{name}", f"Raspberry Pi {name} now (0/1).", {}, getattr(t, f"{attr}_now"))
        f.add(s.node, f"roost_rpi_{name}_occurred", f"Raspberry Pi {name} since boot (0/1).", {},
              getattr(t, f"{attr}_occurred"))


CORE_SECTIONS = (_cpu, _load_memory, _net, _thermal, _hwmon, _cpufreq, _rpi)


def _sections() -> tuple:
    from . import node_sections
    return CORE_SECTIONS + node_sections.HEALTH_SECTIONS


def _all_sections() -> tuple:
    from . import node_sections
    return _sections() + node_sections.NODE_SECTIONS


def flat_series(sample: Sample) -> dict[str, float]:
    """The core and health series of one sample as {series: value} (what history keeps)."""
    flat = Flat()
    for section in _sections():
        section(flat, sample)  # type: ignore[arg-type] - Flat has Families' add()
    return flat.series


# ---------------------------------------------------------------- the three shapes

def node_families(sample: Sample, fleet: bool = False) -> Families:
    """Every node_exporter series roost has for one sample (node_exporter's collectors included)."""
    from .node_sections import scrape_sections
    f = Families(fleet)
    scrape_sections(f, sample, _sections())
    return f


def node_text(sample: Sample) -> str:
    """One node as its own Prometheus target: node_exporter's series, no node label."""
    return node_families(sample).text()


def families(samples: Iterable[Sample], fleet: bool = False, up: Mapping[str, bool] | None = None,
             now: float | None = None) -> Families:
    now = time.time() if now is None else now
    from .node_sections import scrape_sections
    f = Families(fleet)
    for s in samples:
        scrape_sections(f, s, _sections())
        f.add(s.node, "roost_sample_age_seconds", "Seconds since roost received this node's sample.",
              {}, max(0.0, now - s.ts), node_label=True)
    for node, is_up in (up or {}).items():
        f.add(node, "roost_node_up", "1 when roost's connection to the node is up.", {}, is_up, node_label=True)
    return f


def render_text(samples: Iterable[Sample], fleet: bool = False, up: Mapping[str, bool] | None = None,
                now: float | None = None) -> str:
    """Prometheus text exposition of the samples (fleet=True: node="NAME" on every series)."""
    return families(samples, fleet, up, now).text()


FleetExtra = Callable[[Families], None]


def fleet_text(samples: Mapping[str, Sample], up: Mapping[str, bool], now: float | None = None,
               extra: Iterable[FleetExtra] = ()) -> str:
    """roost's own series for the whole fleet, node label on each (the fleet-wide /metrics)."""
    from ..health import power_draw
    now = time.time() if now is None else now
    f = Families()
    for node, is_up in up.items():
        f.add(node, "roost_node_up", "1 when roost's connection to the node is up.", {}, is_up, node_label=True)
    for node, s in samples.items():
        f.add(node, "roost_sample_age_seconds", "Seconds since roost received this node's sample.",
              {}, max(0.0, now - s.ts), node_label=True)
        watts = power_draw(s)
        if watts is not None:
            f.add(node, "roost_node_power_watts", "Power the node draws, from its power monitors.",
                  {}, watts, node_label=True)
    for add in extra:
        add(f)
    return f.text()
