"""What each --metric reads from the history database and how its values are derived.

Every metric gives Lines: (node, label, [(time, value)]). A node's series are first put on one
time grid (grid(): one column per bucket in which the node reported, from its sample clock
series; a value carried forward while the database says it is unchanged), so derived values
line up: counters become rates between
consecutive columns (a counter that fell, a reboot, gives no value for that step), cpu % comes
from every mode of a core at the same column, memory % from total and available. Labels are the
ones the console shows (thermal zone type, hwmon label or chip/sensor, core number, interface).
fold() turns one node's lines into one (for charts of many nodes): cpu and load pick their
overall line, temperatures, fans, frequency and filesystem fill take the highest, net and disk
add their two directions.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from collectors.health import MMC_PARTITION, PARTITION_OR_VIRTUAL
from collectors.rates import counter_delta, rate
from console.history.series import parse_series
from console.history.store import Bucket, HistoryStore, SeriesRow

BUSY = ("user", "nice", "system", "irq", "softirq", "steal")
CLOCK = "roost_sample_timestamp_seconds"    # collectors.sinks.sqlite.CLOCK: one point a sample
IDLE = ("idle", "iowait")
Point = tuple[float, "float | None"]
Column = list["float | None"]
K = TypeVar("K", bound=Hashable)     # what names a series' column in a node's Grid


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


@dataclass(frozen=True)
class Grid(Generic[K]):
    """A node's series on one time grid: the time of each column, each series' value there."""
    times: list[float]
    cols: dict[K, Column]


def grid(buckets: Mapping[K, list[Bucket]], hold: float,
         seeds: Mapping[K, tuple[float, float]] | None = None, clock: Sequence[Bucket] = ()) -> Grid[K]:
    """Columns are the buckets any series (or the clock: every moment the node reported) has; a
    series without a point in a column keeps its last value (or its seed, the value stored before
    the window) while that is at most `hold` seconds old (it was unchanged), else None."""
    when: dict[int, float] = {}
    for points in (clock, *buckets.values()):
        for b, t, _ in points:
            when[b] = max(when.get(b, t), t)
    order = sorted(when)
    times = [when[b] for b in order]
    seeds = seeds or {}
    return Grid(times, {key: _column(points, order, times, hold, seeds.get(key))
                        for key, points in buckets.items()})


def _column(points: list[Bucket], order: list[int], times: list[float], hold: float,
            last: tuple[float, float] | None) -> Column:
    at = {b: (t, v) for b, t, v in points}
    col: Column = []
    for b, t in zip(order, times):
        if b in at:
            last = at[b]
            col.append(last[1])
        else:
            col.append(last[1] if last is not None and t - last[0] <= hold else None)
    return col


# ---------------------------------------------------------------- readers

def _labelled(rows: list[SeriesRow]) -> list[tuple[SeriesRow, dict[str, str]]]:
    out = []
    for row in rows:
        try:
            out.append((row, parse_series(row.metric)[1]))
        except ValueError:
            continue        # a name this version cannot read is skipped, never fatal
    return out


def _node_grids(store: HistoryStore, nodes: Sequence[str], w: Window, names: Sequence[str],
                key: Callable[[SeriesRow, dict[str, str]], K | None], counters: bool) -> dict[str, Grid[K]]:
    """node -> Grid of its series named `names`, keyed by key(row, labels) (None skips one); the
    columns are every moment the node reported (its sample clock series)."""
    labelled = _labelled(store.series(nodes, [*names, CLOCK]))
    clocks = [r for r, _ in labelled if r.metric == CLOCK]
    rows = [(r, k) for r, lb in labelled if r.metric != CLOCK and (k := key(r, lb)) is not None]
    read = store.counters if counters else store.gauges
    buckets = read([r.id for r in clocks] + [r.id for r, _ in rows], w.since, w.until, w.step)
    seeds = store.seeds([r.id for r, _ in rows], w.since) if store.keepalive else {}
    per_node: dict[str, dict[K, list[Bucket]]] = {}
    seeded: dict[str, dict[K, tuple[float, float]]] = {}
    for row, k in rows:
        if k not in per_node.setdefault(row.node, {}):          # first wins
            per_node[row.node][k] = buckets[row.id]
            if row.id in seeds:
                seeded.setdefault(row.node, {})[k] = seeds[row.id]
    clock = {r.node: buckets[r.id] for r in clocks}
    hold = store.hold(w.step)
    return {n: grid(b, hold, seeded.get(n), clock.get(n, ())) for n, b in per_node.items()}


def read_cpu(store: HistoryStore, nodes: Sequence[str], w: Window) -> list[Line]:
    grids = _node_grids(store, nodes, w, ["node_cpu_seconds_total"],
                        lambda r, lb: (lb["cpu"], lb["mode"]) if {"cpu", "mode"} <= lb.keys() else None,
                        counters=True)
    return [ln for node in nodes if node in grids for ln in _cpu_lines(node, grids[node])]


def _cpu_lines(node: str, g: Grid[tuple[str, str]]) -> list[Line]:
    """Per core and overall busy %, from the change of every mode between columns."""
    cores = sorted({core for core, _ in g.cols}, key=lambda c: (len(c), c))
    per_core: dict[str, list[Point]] = {c: [] for c in cores}
    overall: list[Point] = []
    for i in range(1, len(g.times)):
        deltas = {c: _cpu_delta(g, c, i) for c in cores}
        for c, d in deltas.items():
            per_core[c].append((g.times[i], None if d is None else _pct(*d)))
        known = [d for d in deltas.values() if d is not None]
        whole = len(known) == len(deltas)
        overall.append((g.times[i], _pct(sum(b for b, _ in known), sum(t for _, t in known)) if whole else None))
    return [Line(node, "all", overall)] + [Line(node, c, per_core[c]) for c in cores]


def _cpu_delta(g: Grid[tuple[str, str]], core: str, i: int) -> tuple[float, float] | None:
    busy = total = 0.0
    for (c, mode), col in g.cols.items():
        if c != core or mode not in BUSY + IDLE:
            continue
        a, b = col[i - 1], col[i]
        step = None if a is None or b is None else counter_delta(a, b, wrap=False)
        if step is None:
            return None             # no value, or a counter fell: the node rebooted in between
        total += step
        busy += step if mode in BUSY else 0.0
    return busy, total


def _pct(busy: float, total: float) -> float | None:
    return round(100.0 * busy / total, 2) if total > 0 else None


def gauge_reader(names: Sequence[str], label: Callable, scale: float = 1.0):
    """A reader of gauges: label(row, labels, context) names each line (None skips it)."""
    def read(store: HistoryStore, nodes: Sequence[str], w: Window) -> list[Line]:
        context = _hwmon_names(store, nodes) if any("hwmon" in n for n in names) else {}
        grids = _node_grids(store, nodes, w, names, lambda r, lb: label(r, lb, context),
                            counters=False)
        return [Line(node, str(lbl), [(t, None if v is None else round(v * scale, 3))
                                      for t, v in zip(g.times, col)])
                for node in nodes if (g := grids.get(node)) for lbl, col in g.cols.items()]
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
    grids = _node_grids(store, nodes, w, ["node_memory_MemTotal_bytes",
                                          "node_memory_MemAvailable_bytes"],
                        lambda r, lb: r.metric, counters=False)
    lines = []
    for node in nodes:
        g = grids.get(node)
        if g is None or len(g.cols) < 2:
            continue
        total, avail = g.cols["node_memory_MemTotal_bytes"], g.cols["node_memory_MemAvailable_bytes"]
        lines.append(Line(node, "used %", [(t, round(100.0 * (1 - a / m), 2) if m and a is not None
                                                else None) for t, m, a in zip(g.times, total, avail)]))
    return lines


def read_net(store: HistoryStore, nodes: Sequence[str], w: Window) -> list[Line]:
    """rx and tx in kB/s over every interface but lo (as the node screen shows them)."""
    names = {"node_network_receive_bytes_total": "rx", "node_network_transmit_bytes_total": "tx",
             "node_boot_time_seconds": "boot"}
    grids = _node_grids(store, nodes, w, list(names),
                        lambda r, lb: None if lb.get("device") == "lo" else
                        (names[r.metric.partition("{")[0]], lb.get("device")), counters=True)
    return _rate_lines(nodes, grids, ("rx", "tx"))


def read_disk(store: HistoryStore, nodes: Sequence[str], w: Window) -> list[Line]:
    """read and write in kB/s summed over whole disks (a partition's I/O is inside its disk)."""
    names = {"node_disk_read_bytes_total": "read", "node_disk_written_bytes_total": "write",
             "node_boot_time_seconds": "boot"}

    def key(r: SeriesRow, lb: dict[str, str]) -> tuple[str, str | None] | None:
        name, dev = r.metric.partition("{")[0], lb.get("device", "")
        if name != "node_boot_time_seconds" and (PARTITION_OR_VIRTUAL.match(dev) or
                                                 MMC_PARTITION.match(dev)):
            return None
        return names[name], dev or None
    grids = _node_grids(store, nodes, w, list(names), key, counters=True)
    return _rate_lines(nodes, grids, ("read", "write"))


def _rate_lines(nodes: Sequence[str], grids: dict[str, Grid[tuple[str, str | None]]],
                ways: Sequence[str]) -> list[Line]:
    """One line per node and way: the summed rate of that way's counters (("boot", None) is
    the boot time, whose change marks a reboot)."""
    lines = []
    for node in nodes:
        g = grids.get(node)
        if g is None:
            continue
        boot = g.cols.get(("boot", None))
        for way in ways:
            cols = [col for (d, _), col in g.cols.items() if d == way]
            if cols:
                lines.append(Line(node, way, _rate_sum(g.times, cols, boot)))
    return lines


def read_fs(store: HistoryStore, nodes: Sequence[str], w: Window) -> list[Line]:
    """Percent used of each mounted filesystem, as df computes it: used / (used + avail)."""
    names = {"node_filesystem_size_bytes": "size", "node_filesystem_free_bytes": "free",
             "node_filesystem_avail_bytes": "avail"}
    grids = _node_grids(store, nodes, w, list(names),
                        lambda r, lb: (lb.get("mountpoint", "?"), names[r.metric.partition("{")[0]]),
                        counters=False)
    lines = []
    for node in nodes:
        g = grids.get(node)
        if g is None:
            continue
        for m in sorted({m for m, _ in g.cols}):
            size, free, avail = (g.cols.get((m, k)) for k in ("size", "free", "avail"))
            if size and free and avail:
                lines.append(Line(node, m, [(t, _used(a, b, c)) for t, a, b, c
                                            in zip(g.times, size, free, avail)]))
    return lines


def _used(size: float | None, free: float | None, avail: float | None) -> float | None:
    if size is None or free is None or avail is None or size - free + avail <= 0:
        return None
    return round(100.0 * (size - free) / (size - free + avail), 2)


def _rate_sum(times: list[float], cols: list[Column], boot: Column | None = None) -> list[Point]:
    """Per-second rate in kilo-units summed over counters, between consecutive columns
    (collectors.rates: a 32-bit wrap unwrapped); a column where a counter is missing or was
    reset has no value."""
    out: list[Point] = []
    for i in range(1, len(times)):
        if boot is not None and boot[i] != boot[i - 1]:
            out.append((times[i], None))        # the node rebooted: its counters restarted
            continue
        rates = [_step_rate(col[i - 1], col[i], times[i] - times[i - 1]) for col in cols]
        known = [r for r in rates if r is not None]
        out.append((times[i], round(sum(known) / 1e3, 3) if len(known) == len(rates) else None))
    return out


def _step_rate(a: float | None, b: float | None, dt: float) -> float | None:
    return None if a is None or b is None else rate(a, b, dt)


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
    Metric("disk", "Disk I/O", "kB/s", read_disk, combine(sum, "read+write")),
    Metric("fs", "Filesystem used", "%", read_fs, combine(max, "fullest")),
)}
