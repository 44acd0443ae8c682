"""The read-only side of the history database (collectors.sinks.sqlite writes it).

Opened read-only (a `roost history` can never change or lock out the collector writing it), and
every query is bucketed by a step in SQL, so a day of 1 s points of a node is a few hundred rows
by the time it reaches Python:
    gauges   -> the average of each bucket, at the bucket's last sample time
    counters -> the bucket's last value (SQLite takes the bare column from the MAX(ts) row)
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

Bucket = tuple[float, float]                     # (time, value)


class HistoryError(Exception):
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
            self._db.execute("SELECT 1 FROM series LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot read history database {self.path}: {exc}") from None

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
        return self._bucketed("AVG(value)", ids, since, until, step)

    def counters(self, ids: Sequence[int], since: float, until: float, step: float) -> dict[int, list[Bucket]]:
        return self._bucketed("value", ids, since, until, step)

    def _bucketed(self, value: str, ids: Sequence[int], since: float, until: float,
                  step: float) -> dict[int, list[Bucket]]:
        out: dict[int, list[Bucket]] = {i: [] for i in ids}
        for i in ids:
            # MAX(ts) makes the bare `value` column come from the bucket's last row (SQLite)
            for _, ts, v in self._db.execute(
                    f"SELECT CAST(ts / ? AS INTEGER) AS b, MAX(ts), {value} FROM points "
                    "WHERE series = ? AND ts >= ? AND ts < ? GROUP BY b ORDER BY b",
                    (step, i, since, until)):
                out[i].append((ts, v))
        return out

    def span(self) -> tuple[float, float] | None:
        """(first, last) sample time in the database, or None when it holds no points."""
        row = self._db.execute("SELECT MIN(ts), MAX(ts) FROM points").fetchone()
        return None if row is None or row[0] is None else (row[0], row[1])
