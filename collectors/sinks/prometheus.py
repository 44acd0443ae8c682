"""Prometheus text exposition of Samples with node_exporter's metric names (dashboards keep working).

render_text() is the one-shot form (`roost collect --format prometheus`); FleetCollector plugs a
live source into a CollectorRegistry for an HTTP endpoint (serve()). prometheus_client does the
escaping of label values, so hostile strings from a node cannot break the exposition.
"""
from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest, start_http_server
from prometheus_client.registry import Collector, CollectorRegistry

from ..model import CPU_MODES, Sample
from ..sysfs import clean_name

Source = Callable[[], tuple[Mapping[str, Sample], Mapping[str, bool]]]
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_PARENS = re.compile(r"\((.*)\)")
_NET = (("receive", "bytes", "rx_bytes"), ("receive", "packets", "rx_packets"),
        ("receive", "errs", "rx_errs"), ("receive", "drop", "rx_drop"),
        ("transmit", "bytes", "tx_bytes"), ("transmit", "packets", "tx_packets"),
        ("transmit", "errs", "tx_errs"), ("transmit", "drop", "tx_drop"))
_RPI = ("under_voltage", "undervoltage"), ("freq_capped", "freq_capped"), \
       ("throttled", "throttled"), ("soft_temp_limit", "soft_temp_limit")
_HWMON = {"temp": ("node_hwmon_temp_celsius", "Hardware monitor for temperature (input)"),
          "fan": ("node_hwmon_fan_rpm", "Hardware monitor for fan revolutions per minute (input)"),
          "pwm": ("node_hwmon_pwm", "Hardware monitor pwm element")}


class Families:
    """Metric families built up sample by sample; with fleet=True every series gets node="NAME"."""

    def __init__(self, fleet: bool):
        self.fleet = fleet
        self._families: dict[str, Metric] = {}
        self._seen: dict[str, set[tuple[str, ...]]] = {}

    def add(self, node: str, name: str, help_: str, labels: Mapping[str, str], value: float,
            counter: bool = False, node_label: bool = False) -> None:
        if self.fleet or node_label:
            labels = {"node": node, **labels}
        family = self._families.get(name)
        if family is None:
            kind = CounterMetricFamily if counter else GaugeMetricFamily
            family = self._families[name] = kind(name, help_, labels=list(labels))
            self._seen[name] = set()
        values = tuple(labels.values())
        seen = self._seen[name]
        if values not in seen:  # a duplicate series would poison the whole scrape
            seen.add(values)
            family.add_metric(values, float(value))

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families[n] for n in sorted(self._families))


class Flat:
    """The same sections into {series: value} for JSONL and SQLite: no prometheus_client Metric
    objects (they cost most of the time per sample, and a file sink needs none of them)."""

    def __init__(self) -> None:
        self.series: dict[str, float] = {}

    def add(self, node: str, name: str, help_: str, labels: Mapping[str, str], value: float,
            counter: bool = False, node_label: bool = False) -> None:
        key = series_key(name, tuple(labels.items())) if labels else name
        if key not in self.series:  # first wins, as Families drops duplicate series
            self.series[key] = float(value)


@lru_cache(maxsize=65536)  # a fleet repeats the same few hundred series every tick
def series_key(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    """name{k="v",...} with exposition-format escaping: the JSONL key and SQLite metric name."""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def flat_series(sample: Sample) -> dict[str, float]:
    """Every metric of one sample as {series: value} (no roost_sample_age_seconds)."""
    flat = Flat()
    for section in _SECTIONS:
        section(flat, sample)  # type: ignore[arg-type] - Flat has Families' add()
    return flat.series


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


_SECTIONS = (_cpu, _load_memory, _net, _thermal, _hwmon, _cpufreq, _rpi)


def families(samples: Iterable[Sample], fleet: bool = False, up: Mapping[str, bool] | None = None,
             now: float | None = None) -> Families:
    now = time.time() if now is None else now
    f = Families(fleet)
    for s in samples:
        for section in _SECTIONS:
            section(f, s)
        f.add(s.node, "roost_sample_age_seconds", "Seconds since roost received this node's sample.",
              {}, max(0.0, now - s.ts), node_label=True)
    for node, is_up in (up or {}).items():
        f.add(node, "roost_node_up", "1 when roost's connection to the node is up.", {}, is_up, node_label=True)
    return f


class _OneShot(Collector):
    def __init__(self, fams: Families):
        self._fams = fams

    def collect(self) -> Iterator[Metric]:
        return iter(self._fams)


def render_text(samples: Iterable[Sample], fleet: bool = False, up: Mapping[str, bool] | None = None,
                now: float | None = None) -> str:
    """Prometheus text exposition of the samples (fleet=True: node="NAME" on every series)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_OneShot(families(samples, fleet, up, now)))
    return generate_latest(registry).decode()


class FleetCollector(Collector):
    """A live collector: each scrape asks source() for (latest sample per node, up per node)."""

    def __init__(self, source: Source):
        self._source = source

    def collect(self) -> Iterator[Metric]:
        samples, up = self._source()
        return iter(families(samples.values(), fleet=True, up=up))


def serve(source: Source, host: str = "127.0.0.1", port: int = 9100):
    """Start the /metrics endpoint in a daemon thread; returns (server, thread) from prometheus_client."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(source))
    return start_http_server(port, addr=host, registry=registry)
