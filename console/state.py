"""FleetState: what the console knows about every node, UI-free.

Samples and NodeEvents go in through apply(); the screens read cheap frozen snapshots (rows(),
summary(), node()) about once a second. History lives here as bounded deques so graphs never own
data. Alerts are conditions (node, kind) that open and clear; each transition is an Event.
CPU % and network rates come from collectors.rates (32-bit wrap and reset safe); every level
(alerts, and the ok/warn/crit a Row carries for the cells' colours) from config.Thresholds.
"""
from __future__ import annotations

import functools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

from collectors import rates
from collectors.health import WRITABLE_DISK_FS, power_draw, root_filesystem, wear_level, whole_disks
from collectors.model import CpuTimes, Filesystem, Memory, MmcHealth, NodeEvent, Sample
from console.config import Thresholds
from console.hostlist import HostlistError, expand, natural_key

UP, DOWN, STALE, UNKNOWN = "up", "down", "stale", "unknown"
INFO, WARN, CRIT = "info", "warn", "crit"


@dataclass(frozen=True, slots=True)
class Event:
    ts: float
    node: str
    kind: str          # down, up, stale, temp, mem, throttle, undervoltage, fan_stalled,
                       # fs_readonly, root_readonly, fs_full, emmc_wear, io_errors
    severity: str      # info | warn | crit
    message: str
    cleared: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """One fleet-table row; every field is display-ready data (numbers or None)."""
    name: str
    state: str
    age: float | None           # seconds since the last sample (or since the state change)
    groups: tuple[str, ...]
    cpu: float | None           # percent
    cpu_level: str              # ok | warn | crit (Thresholds)
    spark: tuple[float, ...]    # last cpu percents, oldest first
    cores: int | None
    load1: float | None
    load_level: str
    mem_pct: float | None
    mem_level: str
    mem_total: float | None
    temp: float | None          # hottest
    temp_label: str
    temp_level: str             # ok | warn | crit
    fan_rpm: float | None
    fan_pwm_pct: float | None
    freq_hz: float | None       # fastest core now
    freq_max_hz: float | None
    rx_bps: float | None
    tx_bps: float | None
    flags: tuple[str, ...]      # "UV", "THR", "CAP", "SOFT" (now) / lower-case when occurred
    power: str
    jobs: int | None
    alerts: int
    disk_pct: float | None = None    # root filesystem use, percent
    disk_bps: float | None = None    # read + write bytes/s over the whole disks
    disk_level: str = "ok"           # ok | warn | crit: fill, read-only, wear
    watts: float | None = None       # power draw, from the node's power monitors
    age_from: float | None = None    # when `age` counts from: the state sort orders by it, so
                                     # a row kept between refreshes sorts as a fresh one would


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    up: int
    down: int
    stale: int
    cores_busy: float           # sum over nodes of cpu% x cores / 100
    cores: int
    hottest_node: str | None
    hottest_temp: float | None
    alerts: int
    crit_alerts: int
    watts: float | None = None  # fleet power draw, when any node reports power
    watts_nodes: int = 0        # nodes that report it
    source: str = ""            # how the fleet's source is doing ("prometheus 12 ms", "... down")
    source_level: str = "ok"    # ok | warn | crit


@dataclass(slots=True)
class NodeData:
    """Mutable per-node record. Screens read it through node(); only FleetState writes it."""
    name: str
    history: int
    groups: tuple[str, ...] = ()
    state: str = UNKNOWN
    since: float = 0.0
    reason: str = ""
    last: Sample | None = None
    prev: Sample | None = None
    facts: dict[str, object] = field(default_factory=dict)
    cpu: float | None = None
    per_core: dict[str, float] = field(default_factory=dict)
    clusters: tuple[tuple[str, ...], ...] = ()   # core ids per cpufreq policy, biggest first
    rx_bps: float | None = None
    tx_bps: float | None = None
    disk_rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # dev -> (read, write) B/s
    rw_mounts: set[str] = field(default_factory=set)    # mounts seen read-write
    io_error_at: float = 0.0                             # when the I/O error count last rose
    power: str = "—"
    jobs: int | None = None
    series: dict[str, deque[float | None]] = field(default_factory=dict)
    times: deque[float] = field(init=False)
    rev: int = 0                  # bumps on every change to this node; keys the row cache
    alerts: int = 0               # open alerts on this node
    cached: tuple[int, int, int, Row] | None = None   # (rev, alerts, spark, Row) of the last row()
    read: Reading | None = None   # what the last sample reads as (worked out once per sample)
    order: int = 0                # when it joined the fleet (ties in name order keep to it)

    def __post_init__(self) -> None:
        self.times = deque(maxlen=self.history)

    def push(self, key: str, value: float | None, n: int) -> None:
        # Series stay aligned with `times`: a gap is None, a new series is back-filled with None.
        d = self.series.get(key)
        if d is None:
            d = self.series[key] = deque([None] * (n - 1), maxlen=self.history)
        d.append(value)

    def series_of(self, prefix: str) -> dict[str, list[float | None]]:
        return {k[len(prefix):]: list(v) for k, v in self.series.items() if k.startswith(prefix)}


@dataclass(slots=True)
class Reading:
    """What one sample reads as, worked out once for its history, its alerts and its row
    (each worked it out again: a sample's temperatures three times, its fans twice)."""
    sample: Sample
    temps: dict[str, float]
    label: str                  # the hottest sensor's ("" without any)
    hot: float | None
    rpm: dict[str, float]
    pwm: dict[str, float]
    mem_pct: float | None
    root: Filesystem | None


def reading(s: Sample) -> Reading:
    """What s reads as (its temperatures, fans, memory use and root filesystem)."""
    temps = temperatures(s)
    label = max(temps, key=temps.__getitem__) if temps else ""
    rpm, pwm = fans(s)
    return Reading(s, temps, label, temps.get(label), rpm, pwm, _mem_pct(s.memory),
                   root_filesystem(s))


def history_node(name: str, times: list[float], series: dict[str, list[float | None]]) -> NodeData:
    """A NodeData holding history read elsewhere (range queries), for the node screen's graphs."""
    node = NodeData(name, max(1, len(times)))
    node.times.extend(times)
    node.series = {k: deque(v, maxlen=node.history) for k, v in series.items()}
    return node


def cpu_percent(prev: CpuTimes | None, cur: CpuTimes | None) -> float | None:
    """Busy share between two readings (collectors.rates); None without both, or on a reset."""
    if prev is None or cur is None:
        return None
    return rates.cpu_percent(prev, cur)


def _elapsed(prev: Sample, cur: Sample) -> float:
    if prev.node_clock is not None and cur.node_clock is not None:
        return cur.node_clock - prev.node_clock
    return cur.ts - prev.ts


def net_rates(prev: Sample, cur: Sample) -> tuple[float | None, float | None]:
    dt = _elapsed(prev, cur)
    before = {n.device: n for n in prev.net}
    rx = tx = 0.0
    seen = False
    for n in cur.net:
        p = before.get(n.device)
        if p is None or n.device == "lo":
            continue
        r, t = rates.rate(p.rx_bytes, n.rx_bytes, dt), rates.rate(p.tx_bytes, n.tx_bytes, dt)
        if r is None or t is None:
            continue
        rx, tx, seen = rx + r, tx + t, True
    return (rx, tx) if seen else (None, None)


def disk_rates(prev: Sample, cur: Sample) -> dict[str, tuple[float, float]]:
    """(read, write) bytes/s per whole disk between two samples."""
    dt = _elapsed(prev, cur)
    before = {d.device: d for d in prev.disks}
    out = {}
    for d in whole_disks(cur.disks):
        p = before.get(d.device)
        if p is None:
            continue
        # sectors are an unsigned long: 32 bits on a 32-bit kernel, so they wrap there
        r = rates.rate(p.counters[2], d.counters[2], dt)
        w = rates.rate(p.counters[6], d.counters[6], dt)
        if r is not None and w is not None:
            out[d.device] = (r * 512.0, w * 512.0)
    return out


def fullest(s: Sample) -> tuple[str, float] | None:
    """(mount point, percent used) of the fullest writable filesystem."""
    used = [(f.mountpoint, f.used_pct) for f in s.filesystems
            if not f.readonly and f.used_pct is not None and (f.size or 0) > 0]
    return max(used, key=lambda m: m[1]) if used else None


def temperatures(s: Sample) -> dict[str, float]:
    """Every temperature of a sample, keyed by a short readable label."""
    temps = {z.type or f"zone{z.zone}": z.temp_c for z in s.thermal}
    for h in s.hwmon:
        if h.kind == "temp":
            temps.setdefault(h.label or f"{h.chip_name}/{h.sensor}", h.value)
    return temps


def fans(s: Sample) -> tuple[dict[str, float], dict[str, float]]:
    """(rpm by sensor, pwm percent by sensor)."""
    rpm = {f"{h.chip_name}/{h.sensor}": h.value for h in s.hwmon if h.kind == "fan"}
    pwm = {f"{h.chip_name}/{h.sensor}": h.value * 100.0 / 255.0 for h in s.hwmon if h.kind == "pwm"}
    return rpm, pwm


def fan_stalled(s: Sample) -> bool:
    """A chip drives its fan (pwm > 0) but every tach on that chip reads 0 rpm."""
    chips = {h.chip for h in s.hwmon if h.kind == "pwm" and h.value > 0}
    for chip in chips:
        tachs = [h.value for h in s.hwmon if h.chip == chip and h.kind == "fan"]
        if tachs and all(v == 0 for v in tachs):
            return True
    return False


def clusters(s: Sample) -> tuple[tuple[str, ...], ...]:
    """Cores grouped by cpufreq policy (related_cpus), the fastest cluster first."""
    groups: dict[tuple[int, ...], float] = {}
    for f in s.cpufreq:
        key = f.related_cpus or ((int(f.cpu),) if f.cpu.isdigit() else ())
        if key:   # a whole node's fastest core (a metrics store's max) belongs to no cluster
            groups[key] = max(groups.get(key, 0.0), f.max_hz or 0.0)
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(tuple(str(c) for c in cores) for cores, _ in ordered)


def throttle_flags(s: Sample) -> tuple[str, ...]:
    t = s.throttle
    if t is None:
        return ()
    pairs = (("UV", t.under_voltage_now, t.under_voltage_occurred),
             ("THR", t.throttled_now, t.throttled_occurred),
             ("CAP", t.freq_capped_now, t.freq_capped_occurred),
             ("SOFT", t.soft_temp_limit_now, t.soft_temp_limit_occurred))
    return tuple(name if now else name.lower() for name, now, past in pairs if now or past)


class FleetState:
    """All nodes, their history and the alerts. Feed with apply(); read with rows()/summary()."""

    def __init__(self, nodes: Iterable[str] = (), *, thresholds: Thresholds | None = None,
                 history: int = 300, groups: dict[str, tuple[str, ...]] | None = None,
                 max_events: int = 2000) -> None:
        self.thresholds = thresholds or Thresholds()
        self.history = history
        self.nodes: dict[str, NodeData] = {}
        self.events: deque[Event] = deque(maxlen=max_events)
        self.alerts: dict[tuple[str, str], Event] = {}
        self.version = 0              # bumps on every change; views skip work when unchanged
        self.marked: set[str] = set()  # nodes marked for group actions (run, power)
        self.samples = 0              # samples applied so far (proves the console kept watching)
        self.source_note: tuple[str, str] = ("", "ok")   # (text, level) for the summary line
        self._parts: dict[str, tuple[Sample, tuple[float | None, float | None]]] = {}
        self._view: FleetView | None = None
        self._watchers: list[set[str]] = []   # each view's set of nodes it must look at again
        for name in nodes:
            self.add_node(name, (groups or {}).get(name, ()))

    # ---- input -----------------------------------------------------------------------------
    def add_node(self, name: str, groups: tuple[str, ...] = ()) -> NodeData:
        node = self.nodes.get(name)
        if node is None:
            node = self.nodes[name] = NodeData(name, self.history, tuple(groups),
                                               order=len(self.nodes))
            self._touch(node)
        return node

    def watch(self, names: set[str]) -> None:
        """Add the name of every node that changes from now on (its rev or its open alerts) to
        names: a view looks at those, not at every node (FleetView)."""
        self._watchers.append(names)

    def _touch(self, node: NodeData) -> None:
        """The node changed: bump its rev and tell the views."""
        node.rev += 1
        for names in self._watchers:
            names.add(node.name)

    def apply(self, item: Sample | NodeEvent) -> list[Event]:
        """Take one item from the fleet stream; return the events it raised."""
        self.version += 1
        if isinstance(item, NodeEvent):
            return self._apply_event(item)
        return self._apply_sample(item)

    def tick(self, now: float | None = None) -> list[Event]:
        """Mark up nodes stale when their samples stop; call about once a second."""
        now = time.time() if now is None else now
        out: list[Event] = []
        for node in self.nodes.values():
            if node.state == UP and node.last and now - node.last.ts > self.thresholds.stale_after:
                node.state, node.since = STALE, node.last.ts
                self._touch(node)
                out += self._open(node.name, "stale", WARN, now, "no data for "
                                  f"{now - node.last.ts:.0f} s")
        if out:
            self.version += 1
        return out

    def set_source(self, text: str, level: str = "ok") -> None:
        """What the fleet's source says about itself (a Prometheus source: query time, or down)."""
        if (text, level) != self.source_note:
            self.source_note = (text, level)
            self.version += 1

    def toggle_mark(self, name: str) -> bool:
        if name in self.marked:
            self.marked.discard(name)
            return False
        self.marked.add(name)
        return True

    def set_power(self, name: str, state: str) -> None:
        node = self.add_node(name)
        node.power = state
        self._touch(node)
        self.version += 1

    def set_jobs(self, name: str, count: int | None) -> None:
        node = self.add_node(name)
        node.jobs = count
        self._touch(node)
        self.version += 1

    def set_job_counts(self, counts: dict[str, int]) -> None:
        """Running tasks per node from the job queue; a node not named runs none."""
        for name, node in self.nodes.items():
            if node.jobs != counts.get(name, 0):
                self.set_jobs(name, counts.get(name, 0))

    def _apply_event(self, ev: NodeEvent) -> list[Event]:
        node = self.add_node(ev.node, ev.groups)
        self._touch(node)
        if ev.groups and not node.groups:
            node.groups = ev.groups
        if ev.kind == "down":
            node.state, node.since, node.reason = DOWN, ev.ts, ev.reason
            node.prev = node.last = None   # rates must not span an outage
            node.cpu, node.per_core, node.rx_bps, node.tx_bps = None, {}, None, None
            node.disk_rates = {}
            out = self._clear(ev.node, "stale", ev.ts)
            return out + self._open(ev.node, "down", CRIT, ev.ts, ev.reason or "unreachable")
        if ev.kind == "up":
            node.state, node.since, node.reason = UP, ev.ts, ev.reason
            return self._clear(ev.node, "down", ev.ts)
        return []

    def _apply_sample(self, s: Sample) -> list[Event]:
        self.samples += 1
        node = self.add_node(s.node)
        self._touch(node)
        out: list[Event] = []
        if node.state != UP:
            out += self._clear(s.node, "down", s.ts) + self._clear(s.node, "stale", s.ts)
            node.state, node.since = UP, s.ts
        node.prev, node.last = node.last, s
        if s.facts is not None:
            node.facts = {k: getattr(s.facts, k) for k in s.facts.__slots__}
        if s.cpufreq:
            node.clusters = clusters(s)
        read = node.read = reading(s)
        self._derive(node)
        self._record(node, s, read)
        return out + self._check_alerts(node, s, read)

    # ---- derived values --------------------------------------------------------------------
    def _derive(self, node: NodeData) -> None:
        prev, cur = node.prev, node.last
        if cur is not None and cur.rates is not None:   # ready-made (PromQL rate())
            r = cur.rates
            node.cpu, node.per_core, node.rx_bps, node.tx_bps = r.cpu, dict(r.per_core), r.rx_bps, r.tx_bps
            node.disk_rates = {}
            return
        if prev is None or cur is None:
            node.cpu, node.per_core, node.rx_bps, node.tx_bps = None, {}, None, None
            node.disk_rates = {}
            return
        node.cpu = cpu_percent(prev.cpu_total, cur.cpu_total)
        before = {c.cpu: c for c in prev.cpus}
        node.per_core = {c.cpu: p for c in cur.cpus if (b := before.get(c.cpu)) is not None
                         and (p := rates.cpu_percent(b, c)) is not None}
        node.rx_bps, node.tx_bps = net_rates(prev, cur)
        node.disk_rates = disk_rates(prev, cur)

    def _record(self, node: NodeData, s: Sample, read: Reading) -> None:
        node.times.append(s.ts)
        n = len(node.times)
        node.push("cpu", node.cpu, n)
        for core, pct in node.per_core.items():
            node.push(f"core:{core}", pct, n)
        for label, temp in read.temps.items():
            node.push(f"temp:{label}", temp, n)
        for label, v in read.rpm.items():
            node.push(f"fan:{label}", v, n)
        for label, v in read.pwm.items():
            node.push(f"pwm:{label}", v, n)
        for f in s.cpufreq:
            node.push(f"freq:{f.cpu}", None if f.cur_hz is None else f.cur_hz / 1e6, n)
        node.push("rx", node.rx_bps, n)
        node.push("tx", node.tx_bps, n)
        if node.disk_rates:
            node.push("disk_r", sum(r for r, _ in node.disk_rates.values()), n)
            node.push("disk_w", sum(w for _, w in node.disk_rates.values()), n)
        self._pad(node, n)

    @staticmethod
    def _pad(node: NodeData, n: int) -> None:
        # A series that got nothing this sample gets a gap so every series stays time-aligned.
        for d in node.series.values():
            if len(d) < n:
                d.append(None)

    # ---- alerts ----------------------------------------------------------------------------
    def _check_alerts(self, node: NodeData, s: Sample, read: Reading) -> list[Event]:
        label, hot, mem = read.label, read.hot, read.mem_pct
        t, limits = s.throttle, self.thresholds
        out = self._level(node.name, "temp", limits.temp_level(hot), s.ts, "{} {:.1f} °C",
                          label, hot)
        out += self._level(node.name, "mem", limits.mem_level(mem), s.ts, "memory {:.0f}% used",
                           mem)
        out += self._cond(node.name, "undervoltage", bool(t and t.under_voltage_now), CRIT, s.ts,
                          "under-voltage now")
        out += self._cond(node.name, "throttle", bool(t and (t.throttled_now or t.freq_capped_now)),
                          WARN, s.ts, "throttled / frequency capped")
        out += self._cond(node.name, "fan_stalled", fan_stalled(s), CRIT, s.ts,
                          "fan driven (pwm > 0) but 0 rpm")
        return out + self._storage_alerts(node, s, read.root)

    def _storage_alerts(self, node: NodeData, s: Sample, root: Filesystem | None) -> list[Event]:
        """Read-only remounts (the failing SD card), full filesystems, eMMC wear, I/O errors."""
        out = self._readonly_alerts(node, s, root)
        mount, pct = fullest(s) or ("", None)
        out += self._level(node.name, "fs_full", self.thresholds.disk_level(pct), s.ts,
                           "{} {:.0f}% full", mount, pct)
        worn = [(c, wear_level(c)) for c in s.mmc if wear_level(c) != "ok"]
        if worn:
            card, lvl = max(worn, key=lambda cw: cw[1] == "crit")
            out += self._open(node.name, "emmc_wear", CRIT if lvl == "crit" else WARN, s.ts,
                              f"eMMC {card.block or card.card} worn: life {_life(card)}, "
                              f"pre-EOL {card.pre_eol}", update=True)
        else:
            out += self._clear(node.name, "emmc_wear", s.ts)
        return out + self._io_error_alerts(node, s)

    def _readonly_alerts(self, node: NodeData, s: Sample, root: Filesystem | None) -> list[Event]:
        went_ro = [f.mountpoint for f in s.filesystems if f.readonly and f.mountpoint in node.rw_mounts]
        node.rw_mounts |= {f.mountpoint for f in s.filesystems if not f.readonly}
        out = self._cond(node.name, "fs_readonly", bool(went_ro), CRIT, s.ts,
                         f"{', '.join(went_ro)} remounted read-only (was read-write)")
        # a disk root that was read-only before roost ever saw it read-write: the same failure
        # (errors=remount-ro, then a reboot) or a read-only root on purpose; a warning either way
        root_ro = bool(root and root.readonly and root.fstype in WRITABLE_DISK_FS and not went_ro)
        return out + self._cond(node.name, "root_readonly", root_ro, WARN, s.ts,
                                f"root filesystem {root.device if root else ''} is read-only")

    def _io_error_alerts(self, node: NodeData, s: Sample) -> list[Event]:
        prev = node.prev.io_errors if node.prev is not None else {}
        new = {d: n - prev[d] for d, n in s.io_errors.items() if d in prev and n > prev[d]}
        if new:
            node.io_error_at = s.ts
            text = ", ".join(f"{d} +{n} (total {s.io_errors[d]})" for d, n in sorted(new.items()))
            return self._open(node.name, "io_errors", WARN, s.ts, f"disk I/O errors: {text}",
                              update=True)
        if node.io_error_at and s.ts - node.io_error_at > self.thresholds.io_error_hold:
            node.io_error_at = 0.0
            return self._clear(node.name, "io_errors", s.ts)
        return []

    def _level(self, node: str, kind: str, level: str, ts: float, fmt: str,
               *values: object) -> list[Event]:
        """An alert that follows a Thresholds level: opens at warn, escalates, clears at ok."""
        if level == "ok":
            return self._clear(node, kind, ts) if (node, kind) in self.alerts else []
        return self._open(node, kind, CRIT if level == "crit" else WARN, ts, fmt.format(*values),
                          update=True)

    def _cond(self, node: str, kind: str, active: bool, sev: str, ts: float, msg: str) -> list[Event]:
        return self._open(node, kind, sev, ts, msg) if active else self._clear(node, kind, ts)

    def _open(self, node: str, kind: str, sev: str, ts: float, msg: str,
              update: bool = False) -> list[Event]:
        cur = self.alerts.get((node, kind))
        if cur is not None and (cur.severity == sev or not update):
            return []
        ev = Event(ts, node, kind, sev, msg)
        if cur is None:
            self._alerts_moved(self.add_node(node), 1)
        self.alerts[(node, kind)] = ev
        self.events.append(ev)
        return [ev]

    def _clear(self, node: str, kind: str, ts: float) -> list[Event]:
        cur = self.alerts.pop((node, kind), None)
        if cur is None:
            return []
        self._alerts_moved(self.add_node(node), -1)
        ev = Event(ts, node, kind, INFO, f"{kind} cleared" if kind != "down" else "node up",
                   cleared=True)
        self.events.append(ev)
        return [ev]

    def _alerts_moved(self, node: NodeData, step: int) -> None:
        node.alerts += step       # a row shows its node's open alerts: the views look again
        for names in self._watchers:
            names.add(node.name)

    # ---- output ----------------------------------------------------------------------------
    def node(self, name: str) -> NodeData | None:
        return self.nodes.get(name)

    def view(self) -> FleetView:
        """The fleet's rows kept for the screens (the fleet table and the heatmap share them,
        so switching between them rebuilds nothing)."""
        if self._view is None:
            self._view = FleetView(self)
        return self._view

    def node_events(self, name: str, limit: int = 50) -> list[Event]:
        return [e for e in self.events if e.node == name][-limit:]

    def rows(self, now: float | None = None, spark: int = 20) -> list[Row]:
        now = time.time() if now is None else now
        return [self.row(n, now, spark) for n in self.nodes.values()]

    def row(self, node: NodeData, now: float, spark: int = 20) -> Row:
        """The node's table row; rebuilt only when the node changed, else only its age moves."""
        c = node.cached
        if c is not None and c[0] == node.rev and c[1] == node.alerts and c[2] == spark:
            return _with_age(c[3], self._age(node, now))
        row = self._build_row(node, now, spark)
        node.cached = (node.rev, node.alerts, spark, row)
        return row

    @staticmethod
    def _age(node: NodeData, now: float) -> float | None:
        start = FleetState._age_from(node)
        return None if start is None else now - start

    @staticmethod
    def _age_from(node: NodeData) -> float | None:
        s = node.last
        if s is not None and node.state != DOWN:
            return s.ts
        return node.since or None

    def _build_row(self, node: NodeData, now: float, spark: int) -> Row:
        s, limits = node.last, self.thresholds
        read = self._reading(node)
        label, hot = (read.label, read.hot) if read else ("", None)
        rpm, pwm = (read.rpm, read.pwm) if read else ({}, {})
        freqs = [f for f in s.cpufreq if f.cur_hz] if s else []
        mem = s.memory if s else None
        mem_pct, cores, cpu = read.mem_pct if read else None, _cores(node), node.cpu
        load1 = s.load.load1 if s and s.load else None
        cpu_hist = node.series.get("cpu", ())
        recent = [cpu_hist[i] for i in range(max(0, len(cpu_hist) - spark), len(cpu_hist))]
        disk_pct, disk_bps, disk_level, watts = self._disk_fields(node, s, read)
        if s is not None:       # the summary's (watts, hottest) of this sample: worked out once
            self._parts[node.name] = (s, (watts, hot))
        return _make_row((
            node.name, node.state, self._age(node, now), node.groups,
            cpu, limits.cpu_level(cpu), tuple(v for v in recent if v is not None), cores,
            load1, limits.load_level(load1, cores),
            mem_pct, limits.mem_level(mem_pct), mem.total if mem else None,
            hot, label, limits.temp_level(hot),
            max(rpm.values()) if rpm else None, max(pwm.values()) if pwm else None,
            max(f.cur_hz or 0.0 for f in freqs) if freqs else None,
            max((f.max_hz or 0.0 for f in freqs), default=None) or None,
            node.rx_bps, node.tx_bps, throttle_flags(s) if s else (), node.power, node.jobs,
            node.alerts, disk_pct, disk_bps, disk_level, watts, self._age_from(node)))

    @staticmethod
    def _reading(node: NodeData) -> Reading | None:
        """What the node's last sample reads as (kept from when it was applied)."""
        s, read = node.last, node.read
        if s is None:
            return None
        if read is None or read.sample is not s:
            read = node.read = reading(s)
        return read

    def _disk_fields(self, node: NodeData, s: Sample | None, read: Reading | None) -> DiskFields:
        """(disk_pct, disk_bps, disk_level, watts) of a Row."""
        if s is None or read is None:
            return None, None, "ok", None
        root = read.root
        alerts, name = self.alerts, node.name
        worst = max((alerts[(name, k)].severity for k in _STORAGE_ALERTS if (name, k) in alerts),
                    key=_SEVERITY.__getitem__, default=INFO) if node.alerts else INFO
        return (root.used_pct if root else None,
                sum(r + w for r, w in node.disk_rates.values()) if node.disk_rates else None,
                {CRIT: "crit", WARN: "warn"}.get(worst, "ok"), power_draw(s))

    def summary(self, now: float | None = None) -> Summary:
        now = time.time() if now is None else now
        states = [n.state for n in self.nodes.values()]
        busy, cores, hot_node, hot = 0.0, 0, None, None
        watts, powered = 0.0, 0
        for node in self.nodes.values():
            s = node.last
            if s is None or node.state != UP:
                continue
            w, t = self._part(node.name, s)
            if w is not None:
                watts, powered = watts + w, powered + 1
            n = _cores(node) or 0
            cores += n
            busy += (node.cpu or 0.0) * n / 100.0
            if t is not None and (hot is None or t > hot):
                hot_node, hot = node.name, t
        crit = sum(1 for e in self.alerts.values() if e.severity == CRIT)
        return Summary(len(states), states.count(UP), states.count(DOWN), states.count(STALE),
                       busy, cores, hot_node, hot, len(self.alerts), crit,
                       watts if powered else None, powered, *self.source_note)

    def _part(self, name: str, s: Sample) -> tuple[float | None, float | None]:
        """A node's (watts, hottest °C) for the summary, kept until its next sample."""
        kept = self._parts.get(name)
        if kept is not None and kept[0] is s:
            return kept[1]
        part = (power_draw(s), max(temperatures(s).values(), default=None))
        self._parts[name] = (s, part)
        return part


DiskFields = tuple[float | None, float | None, str, float | None]


_STORAGE_ALERTS = ("fs_readonly", "root_readonly", "fs_full", "emmc_wear", "io_errors")
_SEVERITY = {INFO: 0, WARN: 1, CRIT: 2}


def _life(card: MmcHealth) -> str:
    if not card.life_time:
        return "–"
    return "/".join(f"{min(100, 10 * v)}%" if v <= 10 else "exceeded" for v in card.life_time)


def _cores(node: NodeData) -> int | None:
    """The node's core count: its /proc/stat lines, or the cores a metrics store gave rates for."""
    s = node.last
    if s is None:
        return None
    return len(s.cpus) or (s.rates.cores if s.rates else None) or len(node.per_core) or None


def _mem_pct(mem: Memory | None) -> float | None:
    if mem is None or not mem.total or mem.available is None:
        return None
    return 100.0 * (1.0 - mem.available / mem.total)


# ---- selection (filter + sort) for the fleet views ----------------------------------------------
_STATE_ORDER = {DOWN: 0, STALE: 1, UNKNOWN: 2, UP: 3}
SORT_KEYS: dict[str, Callable[[Row], Any]] = {
    # longest in its state first: the oldest start of its age (no age: last), the same order
    # as the biggest age at any one moment, and no age needed (a kept up row's is not fresh)
    "state": lambda r: (_STATE_ORDER.get(r.state, 9),
                        r.age_from if r.age_from is not None else math.inf),
    "name": lambda r: _name_key(r.name),
    "cpu": lambda r: r.cpu, "load": lambda r: r.load1, "mem": lambda r: r.mem_pct,
    "temp": lambda r: r.temp, "fan": lambda r: r.fan_rpm if r.fan_rpm is not None else r.fan_pwm_pct,
    "freq": lambda r: r.freq_hz,
    "net": lambda r: None if r.rx_bps is None else r.rx_bps + (r.tx_bps or 0.0),
    "disk": lambda r: r.disk_pct,
    "flags": lambda r: len(r.flags) + 10 * r.alerts, "power": lambda r: r.power,
    "jobs": lambda r: r.jobs,
}
# Sorted biggest first unless reversed, as top and btop do: the busiest, hottest, fullest node
# is the one to look at. Name, state (down first), power sort ascending.
BUSIEST_FIRST = frozenset({"cpu", "load", "mem", "temp", "disk", "fan", "freq", "net", "flags", "jobs"})


def descending(sort: str, reverse: bool = False) -> bool:
    """Whether the fleet sorted by `sort` runs biggest first (`reverse` flips the default)."""
    return (sort in BUSIEST_FIRST) != reverse


def matches(row: Row, query: str) -> bool:
    """Every word must match: `state:down`, `group:rack1`, `name:n1`, a hostlist (`n[1-4]`), or a
    bare word that is a state, a group, or part of the name."""
    for word in query.lower().split():
        key, sep, value = word.partition(":")
        if "[" in word and not sep:
            ok = row.name.lower() in _hostlist(word)
        elif sep and key == "state":
            ok = row.state == value
        elif sep and key == "group":
            ok = value in (g.lower() for g in row.groups)
        elif sep and key == "name":
            ok = value in row.name.lower()
        else:
            ok = (word == row.state or word in (g.lower() for g in row.groups)
                  or word in row.name.lower())
        if not ok:
            return False
    return True


@functools.lru_cache(maxsize=64)
def _hostlist(text: str) -> frozenset[str]:
    try:
        return frozenset(n.lower() for n in expand(text))
    except HostlistError:  # half-typed "n[1-" (or a huge range) while filtering: matches nothing
        return frozenset()


_ROW_FIELDS = attrgetter(*(f.name for f in fields(Row)))   # every field of a Row, in order
_AGE = [f.name for f in fields(Row)].index("age")


# each Row slot's setter, in field order: a frozen dataclass's __init__ sets its 31 fields with
# object.__setattr__ one by one (9 us a Row, a third of building one); these fill them directly
_ROW_SLOTS = tuple(getattr(Row, f.name).__set__ for f in fields(Row))


def _make_row(values: tuple[object, ...]) -> Row:
    """A Row from every field's value in Row's own order (the same frozen Row as Row(...))."""
    row = object.__new__(Row)
    for put, value in zip(_ROW_SLOTS, values, strict=True):
        put(row, value)
    return row


def _with_age(row: Row, age: float | None) -> Row:
    """row with a new age: dataclasses.replace's cost without its checks (10,000 rows a tick)."""
    values: tuple[object, ...] = _ROW_FIELDS(row)
    return _make_row(values[:_AGE] + (age,) + values[_AGE + 1:])


# natural_key of a name, kept: every refresh sorts every row by name first (10,000 at scale)
_name_key: Callable[[str], tuple[tuple[int, int, str], ...]] = functools.lru_cache(
    maxsize=1 << 16)(natural_key)


def select_rows(rows: list[Row], query: str = "", sort: str = "name",
                reverse: bool = False) -> list[Row]:
    """Filter by query and sort by a SORT_KEYS column in its default direction (BUSIEST_FIRST),
    or the other way with reverse; ties keep node-name order, rows without a value sort last."""
    picked = [r for r in rows if matches(r, query)] if query.strip() else list(rows)
    picked.sort(key=lambda r: _name_key(r.name))
    return sort_rows(picked, sort, reverse)


def sort_rows(rows: list[Row], sort: str = "name", reverse: bool = False) -> list[Row]:
    """Rows already in node-name order, sorted as select_rows does (ties stay by name)."""
    keyf = SORT_KEYS.get(sort, SORT_KEYS["name"])
    if keyf is SORT_KEYS["name"] and not descending(sort, reverse):
        return list(rows)     # already in that order
    keyed: list[tuple[Any, Row]] = []
    missing: list[Row] = []
    for r in rows:          # one key per row (a second pass for the rows without one cost as much)
        k = keyf(r)
        if k is None:
            missing.append(r)
        else:
            keyed.append((k, r))
    keyed.sort(key=_first, reverse=descending(sort, reverse))
    return [r for _, r in keyed] + missing


def _ages(node: NodeData) -> bool:
    """Whether the node's row has an age that moves (not a node never heard from)."""
    return node.last is not None or bool(node.since)


_JOINED = attrgetter("order")     # nodes in the order they joined the fleet


def _first(pair: tuple[Any, Row]) -> Any:
    return pair[0]


class FleetView:
    """The rows a fleet view shows, kept between refreshes so that a refresh costs what changed.

    refresh() rebuilds the rows of the nodes that changed (their rev or alert count: FleetState
    tells the view which, so a look costs what changed, not a pass over every node) and re-ages
    the rows whose age is shown (nodes not up); an up node's row keeps the age it was built
    with (the table does not show it; the state sort orders by age_from). steps() does the same
    a slice at a time, so a caller on an event loop lets key presses in between slices.
    select() filters and sorts the kept rows: names are ordered once, a re-sort sorts one key
    per row (about 5 ms at 10,000 rows) and builds nothing.
    """

    def __init__(self, state: FleetState, spark: int = 20) -> None:
        self.state, self.spark = state, spark
        self.rows: dict[str, Row] = {}
        self._seen: dict[str, tuple[int, int]] = {}     # node -> (rev, alerts) of its kept row
        self._names: list[str] = []                     # every kept row's node, by name
        self.version = 0                                # bumps when any kept row changes
        self._dirty: set[str] = set(state.nodes)        # nodes changed since their row was kept
        self._aging: set[str] = set()                   # kept rows whose shown age moves
        state.watch(self._dirty)

    def pending(self) -> list[NodeData]:
        """The nodes whose kept row is out of date (or not shown with its current age)."""
        nodes, seen, dirty = self.state.nodes, self._seen, self._dirty
        names = dirty | self._aging
        if 4 * len(names) > len(nodes):     # a tick's worth: a pass in order beats a sort
            looks = [n for n in nodes.values() if n.name in names]
        else:
            looks = sorted([nodes[name] for name in names], key=_JOINED)
        out = []
        for n in looks:
            if seen.get(n.name) != (n.rev, n.alerts) or (n.state != UP and _ages(n)):
                out.append(n)
            else:
                dirty.discard(n.name)   # changed and back (an alert opened and cleared)
        return out

    @property
    def changed(self) -> int:
        """At most how many rows pending() would name (cheap: no node is looked at)."""
        return len(self._dirty) + len(self._aging)

    def refresh(self, now: float) -> int:
        """Bring every row up to date; returns how many were rebuilt or re-aged."""
        return self.take(self.pending(), now)

    def steps(self, now: float, slice_: int = 100) -> Iterable[int]:
        """refresh() a slice of nodes per step; yields how many rows each step took."""
        todo = self.pending()
        for i in range(0, len(todo), slice_):
            yield self.take(todo[i:i + slice_], now)

    def take(self, nodes: list[NodeData], now: float) -> int:
        """Rebuild (or re-age) these nodes' rows; returns how many."""
        row, rows, seen = self.state.row, self.rows, self._seen
        new = False
        dirty, aging = self._dirty, self._aging
        for node in nodes:
            name = node.name
            new = new or name not in rows
            rows[name] = row(node, now, self.spark)
            seen[name] = (node.rev, node.alerts)
            dirty.discard(name)
            if node.state != UP and _ages(node):
                aging.add(name)
            else:
                aging.discard(name)
        if new:     # by name; nodes of one natural name (n1, n01) as they joined, as rows() are
            order = self.state.nodes
            self._names = sorted(rows, key=lambda name: (_name_key(name), order[name].order))
        self.version += bool(nodes)
        return len(nodes)

    def select(self, query: str = "", sort: str = "name", reverse: bool = False) -> list[Row]:
        """The kept rows matching `query`, sorted as select_rows sorts them."""
        rows = [self.rows[n] for n in self._names]
        if query.strip():
            rows = [r for r in rows if matches(r, query)]
        return sort_rows(rows, sort, reverse)


