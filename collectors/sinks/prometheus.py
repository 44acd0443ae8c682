"""Prometheus text exposition of Samples with node_exporter's names, HELP and TYPE.

Three shapes, one writer:
- node_text(sample): one node as its own target (the multi-target exporter pattern): exactly the
  series node_exporter would serve for that host, no node label. Built on scrape from the latest
  sample and cached per sample, so a thousand targets cost a render each only when scraped; with
  the node's SectionCache the sections whose inputs did not change are replayed, not rebuilt.
- fleet_text(...): roost's own series for every node (roost_node_up, sample age, power draw)
  plus what the caller adds (job queue, power state), with a node label.
- render_text(samples): the one-shot dump (`roost collect --format prometheus`), node_exporter
  series for each sample (node label with fleet=True).

The text itself is written by collectors.sinks.writer; node_exporter's other collectors are
sections in collectors.sinks.node_sections. flat_series() gives the same series as
{series: value} for the JSONL and SQLite sinks (the core and health sections only: history does
not need netstat's counters every second).
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from functools import lru_cache
from operator import attrgetter

from ..model import CPU_MODES, Sample
from ..sysfs import clean_name
from .node_sections import HEALTH_SECTIONS, KEYS, NODE_SECTIONS, SWITCHED_BY, Section, scrape_sections
from .section_cache import Key, SectionCache, objects_key as _objects
from .writer import (
    CONTENT_TYPE as CONTENT_TYPE,
    Families,
    Flat,
    Recorder,
    format_value as format_value,
    heads,
    series_key as series_key,  # re-exported: the writer moved out of this module
)

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


# ---------------------------------------------------------------- core sections

_CPU_NAMES = ("node_cpu_seconds_total",) * len(CPU_MODES) + ("node_cpu_guest_seconds_total",) * 2
_CPU_HELP = ("Seconds the CPUs spent in each mode.",) * len(CPU_MODES) \
    + ("Seconds the CPUs spent in guests (VMs) for each mode.",) * 2
_CPU_VALUES = attrgetter(*CPU_MODES, "guest", "guest_nice")


@lru_cache(maxsize=4096)
def _cpu_heads(cpu: str) -> tuple[str, ...]:
    modes = CPU_MODES + ("user", "nice")   # the guest series' modes
    return tuple(series_key(name, (("cpu", cpu), ("mode", mode))) for name, mode in zip(_CPU_NAMES, modes))


def _cpu(f: Families, s: Sample) -> None:
    for t in s.cpus:
        for name, help_, head, value in zip(_CPU_NAMES, _CPU_HELP, _cpu_heads(t.cpu), _CPU_VALUES(t)):
            f.put(s.node, name, help_, head, value, "counter")


@lru_cache(maxsize=4096)  # the same few dozen kernel names, every sample of every node
def memory_metric_name(field: str) -> str | None:
    """node_exporter's name for a meminfo field: Active(anon) -> node_memory_Active_anon_bytes;
    unitless counts (HugePages_*) get no _bytes. None when the kernel name is not usable."""
    base = _PARENS.sub(r"_\1", field)
    name = f"node_memory_{base}" + ("" if field.startswith("HugePages_") else "_bytes")
    return name if _METRIC_NAME.fullmatch(name) else None


@lru_cache(maxsize=4096)
def _memory_help(name: str) -> str:
    return f"Memory information field {name[12:]}."


def _loadavg(f: Families, s: Sample) -> None:
    if s.load is not None:
        for minutes, value in (("1", s.load.load1), ("5", s.load.load5), ("15", s.load.load15)):
            f.add(s.node, f"node_load{minutes}", f"{minutes}m load average.", {}, value)


def _meminfo(f: Families, s: Sample) -> None:
    for field, value in (s.memory.fields.items() if s.memory else ()):
        name = memory_metric_name(field)
        if name:
            f.put(s.node, name, _memory_help(name), name, value)


def _boot_time(f: Families, s: Sample) -> None:
    if s.boot_time is not None:
        f.add(s.node, "node_boot_time_seconds", "Node boot time, in unixtime.", {}, s.boot_time)


_NET_NAMES = tuple(f"node_network_{direction}_{what}_total" for direction, what, _ in _NET)
_NET_HELP = tuple(f"Network device statistic {direction}_{what}." for direction, what, _ in _NET)
_NET_VALUES = attrgetter(*(attr for _, _, attr in _NET))


def _net(f: Families, s: Sample) -> None:
    for n in s.net:
        for name, help_, head, value in zip(_NET_NAMES, _NET_HELP, heads(_NET_NAMES, (("device", n.device),)),
                                            _NET_VALUES(n)):
            f.put(s.node, name, help_, head, value, "counter")


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


CORE_SECTIONS = (_cpu, _loadavg, _meminfo, _boot_time, _net, _thermal, _hwmon, _cpufreq, _rpi)
# what a node's SectionCache may replay: the core sections the Memo hands back unchanged
_KEYS: dict[Section, Key] = {**KEYS, _thermal: _objects("thermal", "cooling"),
                             _hwmon: _objects("hwmon"), _cpufreq: _objects("cpufreq"),
                             _rpi: _objects("throttle")}


def _sections() -> tuple[Callable[[Families, Sample], None], ...]:
    return CORE_SECTIONS + HEALTH_SECTIONS


# what a node's target serves: the core and health sections, then node_exporter's lazy ones
SCRAPED: tuple[Section, ...] = CORE_SECTIONS + HEALTH_SECTIONS + NODE_SECTIONS
COLLECTORS = frozenset(SWITCHED_BY[s.__name__] for s in SCRAPED)   # what [serve] collectors names


# what the console on [source] prometheus reads (collectors.promsource's families): a shard
# that serves only the console can serve only these ([serve] collectors)
CONSOLE_COLLECTORS = ("cpu", "loadavg", "meminfo", "netdev", "thermal_zone", "hwmon", "cpufreq",
                      "filesystem", "uname")


def chosen_collectors(only: Collection[str] | None = None, disabled: Collection[str] = ()) -> frozenset[str]:
    """only these (None: all), less the disabled: node_exporter's --collector.NAME and
    --no-collector.NAME."""
    return frozenset(COLLECTORS if only is None else only) - frozenset(disabled)


def select_sections(only: Collection[str] | None = None, disabled: Collection[str] = ()) -> tuple[Section, ...]:
    """The sections of the chosen collectors, in serving order."""
    chosen = chosen_collectors(only, disabled)
    return tuple(s for s in SCRAPED if SWITCHED_BY[s.__name__] in chosen)


def flat_series(sample: Sample) -> dict[str, float]:
    """The core and health series of one sample as {series: value} (what history keeps)."""
    flat = Flat()
    for section in _sections():
        section(flat, sample)  # type: ignore[arg-type]  # Flat has Families' add()
    return flat.series


# ---------------------------------------------------------------- the three shapes

def node_families(sample: Sample, fleet: bool = False) -> Families:
    """Every node_exporter series roost has for one sample (node_exporter's collectors included)."""
    f = Families(fleet)
    scrape_sections(f, sample, SCRAPED)
    return f


def node_text(sample: Sample, cache: SectionCache | None = None,
              sections: tuple[Section, ...] = SCRAPED) -> str:
    """One node as its own Prometheus target: node_exporter's series, no node label (only the
    given sections': select_sections). With the node's cache, the series are recorded and laid
    out where the last scrape's went."""
    if cache is None:
        f = Families()
        scrape_sections(f, sample, sections)
        return f.text()
    recorder = Recorder()    # the node's cache replays the sections whose inputs did not change
    scrape_sections(recorder, sample, sections, cache, _KEYS)
    return cache.layout.text(recorder.records)


def families(samples: Iterable[Sample], fleet: bool = False, up: Mapping[str, bool] | None = None,
             now: float | None = None) -> Families:
    now = time.time() if now is None else now
    f = Families(fleet)
    for s in samples:
        scrape_sections(f, s, SCRAPED)
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
