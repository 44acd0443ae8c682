"""What each --metric reads from the history database and how its values are derived.

Every metric gives Lines: (node, label, [(time, value)]). Counters become rates between
consecutive buckets (a counter that fell, a reboot, gives no value for that step); labels are the
ones the console shows (thermal zone type, hwmon label or chip/sensor, core number, interface).
fold() turns one node's lines into one (for charts of many nodes): cpu and load pick their
overall line, temperatures, fans and frequency take the highest, net adds rx and tx.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from console.history.series import parse_series
from console.history.store import Bucket, HistoryStore, SeriesRow

BUSY = ("user", "nice", "system", "irq", "softirq", "steal")
IDLE = ("idle", "iowait")
Point = tuple[float, "float | None"]


@dataclass(frozen=True)
class Line:
    node: str
    label: str
    points: list[Point]


@dataclass(frozen=True)
class Window:
    since: float
    until: float
    step: float


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    unit: str
    read: Callable[[HistoryStore, Sequence[str], Window], list[Line]]
    fold: Callable[[list[Line]], Line | None]


# ---------------------------------------------------------------- readers

def _labelled(rows: list[SeriesRow]) -> list[tuple[SeriesRow, dict[str, str]]]:
    out = []
    for row in rows:
        try:
            out.append((row, parse_series(row.metric)[1]))
        except ValueError:
            continue        # a name this version cannot read is skipped, never fatal
    return out


def read_cpu(store: HistoryStore, nodes: Sequence[str], w: Window) -> list[Line]:
    rows = _labelled(store.series(nodes, ["node_cpu_seconds_total"]))
    buckets = store.counters([r.id for r, _ in rows], w.since, w.until, w.step)
    lines = []
    for node in nodes:
        cores: dict[str, dict[str, list[Bucket]]] = {}
        for row, labels in rows:
            if row.node == node and "cpu" in labels and "mode" in labels:
                cores.setdefault(labels["cpu"], {})[labels["mode"]] = buckets[row.id]
        if cores:
            lines += _cpu_lines(node, cores)
    return lines


def _cpu_lines(node: str, cores: dict[str, dict[str, list[Bucket]]]) -> list[Line]:
    """Per core and overall busy %, from the change of every mode between buckets."""
    times = sorted({t for modes in cores.values() for b in modes.values() for t, _ in b})
    table = {core: {mode: dict(b) for mode, b in modes.items()} for core, modes in cores.items()}
    per_core = {core: [] for core in table}
    overall: list[Point] = []
    for prev, cur in zip(times, times[1:]):
        busy_all = total_all = 0.0
        whole = True
        for core, modes in table.items():
            delta = _cpu_delta(modes, prev, cur)
            per_core[core].append((cur, None if delta is None else _pct(*delta)))
            if delta is None:
                whole = False
            else:
                busy_all, total_all = busy_all + delta[0], total_all + delta[1]
        overall.append((cur, _pct(busy_all, total_all) if whole else None))
    ordered = sorted(per_core, key=lambda c: (len(c), c))
    return [Line(node, "all", overall)] + [Line(node, core, per_core[core]) for core in ordered]


def _cpu_delta(modes: dict[str, dict[float, float]], prev: float, cur: float):
    busy = total = 0.0
    for mode, values in modes.items():
        if prev not in values or cur not in values:
            return None
        step = values[cur] - values[prev]
        if step < 0:
            return None             # a counter fell: the node rebooted in between
        total += step if mode in BUSY or mode in IDLE else 0.0
        busy += step if mode in BUSY else 0.0
    return busy, total


def _pct(busy: float, total: float) -> float | None:
    return round(100.0 * busy / total, 2) if total > 0 else None


def gauge_reader(names: Sequence[str], label: Callable, scale: float = 1.0):
    """A reader of gauges: label(row, labels, context) names each line (None skips it)."""
    def read(store: HistoryStore, nodes: Sequence[str], w: Window) -> list[Line]:
        rows = _labelled(store.series(nodes, names))
        context = _hwmon_names(store, nodes) if any("hwmon" in n for n in names) else {}
        wanted = [(r, lb, label(r, lb, context)) for r, lb in rows]
        wanted = [(r, name) for r, _, name in wanted if name is not None]
        buckets = store.gauges([r.id for r, _ in wanted], w.since, w.until, w.step)
        merged: dict[tuple[str, str], list[Point]] = {}
        for row, name in wanted:   # first wins, as the console's labels do
            merged.setdefault((row.node, name), [(t, v * scale) for t, v in buckets[row.id]])
        return [Line(n, lbl, pts) for (n, lbl), pts in merged.items()]
    return read


def _hwmon_names(store: HistoryStore, nodes: Sequence[str]) -> dict:
    """{(node, chip): chip_name} and {(node, chip, sensor): label} from the annotation series."""
    names: dict = {}
    for row, labels in _labelled(store.series(nodes, ["node_hwmon_chip_names",
                                                      "node_hwmon_sensor_label"])):
        if "chip_name" in labels:
            names[(row.node, labels.get("chip"))] = labels["chip_name"]
        elif "label" in labels:
            names[(row.node, labels.get("chip"), labels.get("sensor"))] = labels["label"]
    return names


def _chip_sensor(row: SeriesRow, labels: dict, names: dict) -> str:
    chip, sensor = labels.get("chip", "?"), labels.get("sensor", "?")
    return f"{names.get((row.node, chip), chip)}/{sensor}"


def _temp_label(row: SeriesRow, labels: dict, names: dict) -> str:
    if row.metric.startswith("node_thermal_zone_temp"):
        return labels.get("type") or f"zone{labels.get('zone', '?')}"
    return names.get((row.node, labels.get("chip"), labels.get("sensor"))) or \
        _chip_sensor(row, labels, names)


def read_mem(store: HistoryStore, nodes: Sequence[str], w: Window) -> list[Line]:
    parts = gauge_reader(["node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes"],
                         lambda r, lb, c: r.metric)(store, nodes, w)
    lines = []
    for node in nodes:
        total = dict(next((ln.points for ln in parts if ln.node == node and "Total" in ln.label), []))
        avail = next((ln.points for ln in parts if ln.node == node and "Available" in ln.label), [])
        pts = [(t, round(100.0 * (1 - a / total[t]), 2) if total.get(t) else None) for t, a in avail]
        if pts:
            lines.append(Line(node, "used %", pts))
    return lines


def read_net(store: HistoryStore, nodes: Sequence[str], w: Window) -> list[Line]:
    """rx and tx in kB/s over every interface but lo (as the node screen shows them)."""
    names = ("node_network_receive_bytes_total", "node_network_transmit_bytes_total")
    rows = [(r, lb) for r, lb in _labelled(store.series(nodes, names)) if lb.get("device") != "lo"]
    buckets = store.counters([r.id for r, _ in rows], w.since, w.until, w.step)
    lines = []
    for node in nodes:
        for way, name in zip(("rx", "tx"), names):
            mine = [buckets[r.id] for r, _ in rows if r.node == node and r.metric.startswith(name)]
            if mine:
                lines.append(Line(node, way, _summed(rate(b) for b in mine)))
    return lines


def rate(buckets: list[Bucket]) -> list[Point]:
    """Per-second rate between consecutive buckets of a counter, in kilo-units; None on a fall."""
    out: list[Point] = []
    for (t0, v0), (t1, v1) in zip(buckets, buckets[1:]):
        ok = t1 > t0 and v1 >= v0
        out.append((t1, round((v1 - v0) / (t1 - t0) / 1e3, 3) if ok else None))
    return out


def _summed(lines: Iterable[list[Point]]) -> list[Point]:
    """Point-wise sum of lines; a time where any line has no value has none."""
    total: dict[float, float] = {}
    broken: set[float] = set()
    for points in lines:
        for t, v in points:
            if v is None:
                broken.add(t)
            else:
                total[t] = total.get(t, 0.0) + v
    return [(t, None if t in broken else round(total[t], 3)) for t in sorted(set(total) | broken)]


# ---------------------------------------------------------------- folding one node's lines

def pick(label: str) -> Callable[[list[Line]], Line | None]:
    return lambda lines: next((ln for ln in lines if ln.label == label), None)


def combine(fn: Callable[[list[float]], float], label: str) -> Callable[[list[Line]], Line | None]:
    def fold(lines: list[Line]) -> Line | None:
        if not lines:
            return None
        at: dict[float, list[float]] = {}
        for ln in lines:
            for t, v in ln.points:
                if v is not None:
                    at.setdefault(t, []).append(v)
        return Line(lines[0].node, label, [(t, round(fn(vs), 3)) for t, vs in sorted(at.items())])
    return fold


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("cpu", "CPU busy", "%", read_cpu, pick("all")),
    Metric("load", "Load average", "", gauge_reader(
        ["node_load1", "node_load5", "node_load15"], lambda r, lb, c: r.metric[5:]), pick("load1")),
    Metric("mem", "Memory used", "%", read_mem, pick("used %")),
    Metric("temp", "Temperature", "°C", gauge_reader(
        ["node_thermal_zone_temp", "node_hwmon_temp_celsius"], _temp_label), combine(max, "hottest")),
    Metric("fan", "Fan speed", "rpm", gauge_reader(["node_hwmon_fan_rpm"], _chip_sensor),
           combine(max, "fastest")),
    Metric("pwm", "Fan drive", "pwm %", gauge_reader(["node_hwmon_pwm"], _chip_sensor, 100 / 255),
           combine(max, "highest")),
    Metric("freq", "CPU frequency", "MHz", gauge_reader(
        ["node_cpu_scaling_frequency_hertz"], lambda r, lb, c: lb.get("cpu"), 1e-6),
        combine(max, "highest")),
    Metric("net", "Network", "kB/s", read_net, combine(sum, "rx+tx")),
)}
