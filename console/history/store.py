"""The read-only side of the history database (collectors.sinks.sqlite writes it).

Opened read-only (a `roost history` can never change or lock out the collector writing it), and
every query is bucketed by a step in SQL, so a day of 1 s points of a node is a few hundred rows
by the time it reaches Python:
    gauges   -> the average of each bucket, at the bucket's last sample time
    counters -> the bucket's last value (SQLite takes the bare column from the MAX(ts) row)
The sink stores a value when it changes (and every `keepalive` seconds): hold() says how long
a reader may carry a value forward over buckets that have none.

Two tiers are read as one: a step of at least the rollup step reads the rollups up to where
they were made (rolled_until) and samples after that; a finer step reads samples where they
are kept and rollups only before the oldest sample. A database from before rollups has none.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from console.errors import RoostError

Bucket = tuple[int, float, float]                # (bucket index, time, value)
_BUCKETED = ("SELECT CAST(ts / ? AS INTEGER) AS b, MAX(ts), {value} FROM {table} "
             "WHERE series = ? AND ts >= ? AND ts < ? GROUP BY b ORDER BY b")


class HistoryError(RoostError):
    """The database cannot be read: one line naming it."""


@dataclass(frozen=True)
class SeriesRow:
    id: int
    node: str
    metric: str


class HistoryStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise HistoryError(f"no history database at {self.path} (`roost serve`, or "
                               "`roost collect --db PATH`, writes one)")
        try:
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                       check_same_thread=False)
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot read history database {self.path}: {exc}") from None
        if not {"series", "points"} <= tables:
            raise HistoryError(f"{self.path} is not a roost history database")
        meta = dict(self._db.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        step = meta.get("rollup_step") if "rollup" in tables else None
        self.rollup_step = float(step) if step else None
        self.rolled_until = float(meta.get("rolled_until") or 0.0)
        self.keepalive = float(meta.get("keepalive") or 0.0)   # 0: every sample was stored

    def hold(self, step: float) -> float:
        """Seconds a value may be carried forward at this step (see the module docstring)."""
        return self.keepalive + step if self.keepalive else 0.0

    def close(self) -> None:
        self._db.close()

    def nodes(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT node FROM series ORDER BY node")]

    def series(self, nodes: Sequence[str], names: Iterable[str]) -> list[SeriesRow]:
        """The stored series of nodes whose metric name is one of names (with any labels)."""
        rows: list[SeriesRow] = []
        for node in nodes:
            for name in names:
                # name, or name{...}: a range on the UNIQUE(node, metric) index ('|' follows '{')
                rows += [SeriesRow(*r) for r in self._db.execute(
                    "SELECT id, node, metric FROM series WHERE node = ? AND "
                    "(metric = ? OR (metric >= ? AND metric < ?))",
                    (node, name, name + "{", name + "|"))]
        return rows

    def gauges(self, ids: Sequence[int], since: float, until: float, step: float) -> dict[int, list[Bucket]]:
        return {i: self._bucketed("AVG(value)", i, since, until, step) for i in ids}

    def counters(self, ids: Sequence[int], since: float, until: float, step: float) -> dict[int, list[Bucket]]:
        return {i: self._bucketed("value", i, since, until, step) for i in ids}

    def seeds(self, ids: Sequence[int], since: float) -> dict[int, tuple[float, float]]:
        """The last value stored before since, per series (what an unchanged series still
        holds when a window opens): one key seek per series and tier."""
        out: dict[int, tuple[float, float]] = {}
        for i in ids:
            for table in ("points", "rollup") if self.rollup_step is not None else ("points",):
                row = self._db.execute(f"SELECT ts, value FROM {table} WHERE series = ? AND "
                                       "ts < ? ORDER BY ts DESC LIMIT 1", (i, since)).fetchone()
                if row is not None and (i not in out or row[0] > out[i][0]):
                    out[i] = (row[0], row[1])
        return out

    def _bucketed(self, value: str, i: int, since: float, until: float, step: float) -> list[Bucket]:
        # MAX(ts) makes the bare `value` column come from the bucket's last row (SQLite)
        out: list[Bucket] = []
        for table, lo, hi in self._ranges(i, since, until, step):
            if hi > lo:
                out += self._db.execute(_BUCKETED.format(value=value, table=table),
                                        (step, i, lo, hi)).fetchall()
        return out

    def _ranges(self, i: int, since: float, until: float, step: float) -> list[tuple[str, float, float]]:
        """Which tier answers which part of [since, until) for series i."""
        if self.rollup_step is None:
            return [("points", since, until)]
        if step >= self.rollup_step:
            cut = min(max(self.rolled_until, since), until)
        else:
            first = self._db.execute("SELECT MIN(ts) FROM points WHERE series = ?", (i,)).fetchone()[0]
            cut = until if first is None else min(max(first, since), until)
        return [("rollup", since, cut), ("points", cut, until)]

    def span(self, nodes: Sequence[str]) -> tuple[float, float] | None:
        """(first, last) time either tier holds for these nodes, or None when it holds none."""
        ids = [i for (i,) in self._db.execute(
            f"SELECT id FROM series WHERE node IN ({','.join('?' * len(nodes))})", list(nodes))]
        tables = ("rollup", "points") if self.rollup_step is not None else ("points",)
        ends = [self._db.execute(f"SELECT {end}(ts) FROM {table} WHERE series = ?", (i,)).fetchone()[0]
                for i in ids for table in tables for end in ("MIN", "MAX")]  # one key seek each
        ends = [t for t in ends if t is not None]
        return (min(ends), max(ends)) if ends else None
