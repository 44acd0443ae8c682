"""One call for the CLI and the node screen: a metric of some nodes over a window, as Lines.

The step is chosen so a chart gets about `points` values (1 s at least, rounded to a step a
person reads: 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, 1 d).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from console.history.metrics import METRICS, Line, Metric, Window
from console.history.store import HistoryStore

NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
              43200, 86400)


def nice_step(span: float, points: int) -> float:
    """The smallest readable step giving at most `points` buckets over span seconds."""
    want = span / max(points, 1)
    return float(next((s for s in NICE_STEPS if s >= want), NICE_STEPS[-1]))


@dataclass
class History:
    metric: Metric
    window: Window
    lines: list[Line]
    missing: list[str] = field(default_factory=list)   # asked for, but no stored points
    asked: tuple[float, float] = (0.0, 0.0)            # the window asked for (window: clipped)

    def folded(self) -> list[Line]:
        """One line per node (the metric's fold), for charts of several nodes."""
        nodes = list(dict.fromkeys(ln.node for ln in self.lines))
        out = [self.metric.fold([ln for ln in self.lines if ln.node == n]) for n in nodes]
        return [ln for ln in out if ln is not None and ln.points]


def read(db: str | Path, metric: str, nodes: Sequence[str], since: float, until: float,
         step: float | None = None, points: int = 200) -> History:
    """metric of nodes between since and until from the database at db (HistoryError if none)."""
    chosen = METRICS[metric]
    asked = (since, until)
    store = HistoryStore(db)
    try:
        since, until = _clipped(store, list(nodes), since, until)
        window = Window(since, until, step or nice_step(until - since, points))
        lines = [ln for ln in chosen.read(store, list(nodes), window)
                 if any(v is not None for _, v in ln.points)]
    finally:
        store.close()
    have = {ln.node for ln in lines}
    return History(chosen, window, lines, [n for n in nodes if n not in have], asked)


def _clipped(store: HistoryStore, nodes: list[str], since: float,
             until: float) -> tuple[float, float]:
    """The window narrowed to where the database has points, so two minutes of data asked for
    over a day still fill the chart (and pick a step to match)."""
    span = store.span(nodes) if nodes else None
    if span is None or span[0] >= until or span[1] < since:
        return since, until
    first, last = span
    return max(since, first), min(until, last + 1.0)


# metric -> (FleetState series key for a line label, factor): the node screen's own names
NODE_SERIES = {
    "cpu": (lambda label: "cpu" if label == "all" else f"core:{label}", 1.0),
    "temp": (lambda label: f"temp:{label}", 1.0),
    "fan": (lambda label: f"fan:{label}", 1.0),
    "pwm": (lambda label: f"pwm:{label}", 1.0),
    "freq": (lambda label: f"freq:{label}", 1.0),
    "net": (lambda label: label, 1e3),              # kB/s here, bytes/s in FleetState
}


@dataclass
class NodeSeries:
    """A node's stored history in the shape of FleetState's NodeData (times, series keyed as it
    keys them, clusters): what the node screen draws from when it shows the last hour or day."""
    times: list[float]
    series: dict[str, list]
    clusters: tuple = ()

    def series_of(self, prefix: str) -> dict[str, list]:
        return {k[len(prefix):]: v for k, v in self.series.items() if k.startswith(prefix)}


def node_series(db: str | Path, node: str, seconds: float, now: float,
                points: int = 120) -> NodeSeries:
    """The last `seconds` of a node from the database, on one time axis (HistoryError when
    there is no database)."""
    values: dict[str, dict[float, float | None]] = {}
    for metric, (key, factor) in NODE_SERIES.items():
        for ln in read(db, metric, [node], now - seconds, now, points=points).lines:
            values[key(ln.label)] = {t: None if v is None else v * factor for t, v in ln.points}
    times = sorted({t for by_time in values.values() for t in by_time})
    return NodeSeries(times, {k: [v.get(t) for t in times] for k, v in values.items()})


def describe_db(config) -> str:
    """One line for `roost check`: where the history database is, its size, what it keeps."""
    from console import paths
    from console.history.since import format_duration
    db = paths.default_db(config.state_dir)
    h = config.history
    keeps = (f"every sample for {_forever(h.keep_raw, format_duration)}, "
             + (f"{format_duration(h.rollup)} points for {_forever(h.keep_rollup, format_duration)}"
                if h.keep_rollup != 0 else "no rollups"))
    if not db.is_file():
        return f"{db}: none yet (`roost serve` writes it); keeps {keeps}"
    wal = Path(f"{db}-wal")
    extra = f" + {human_size(wal.stat().st_size)} WAL" if wal.is_file() else ""
    return f"{db}: {human_size(db.stat().st_size)}{extra}; keeps {keeps}"


def _forever(seconds: float | None, fmt) -> str:
    return "ever" if seconds is None else fmt(seconds)


def human_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def stored_nodes(db: str | Path) -> list[str]:
    store = HistoryStore(db)
    try:
        return store.nodes()
    finally:
        store.close()
