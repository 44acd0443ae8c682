"""SQLite history: WAL, one transaction per write(), compact rows, kept in two tiers.

Schema (fast for "metric M of node X since T": one index seek, then a range scan):
    series(id INTEGER PRIMARY KEY, node TEXT, metric TEXT, UNIQUE(node, metric))
    points(series INTEGER, ts REAL, value REAL, PRIMARY KEY(series, ts)) WITHOUT ROWID
    rollup(series INTEGER, ts REAL, value REAL, PRIMARY KEY(series, ts)) WITHOUT ROWID
    meta(key TEXT PRIMARY KEY, value)       rollup_step, rolled_until
points holds a series' value when it changed, and at least every KEEPALIVE seconds while the
node reports it (more than half of a board's series never change: MemTotal, max frequencies,
error counters; a reader carries a value forward for up to KEEPALIVE), and CLOCK, the sample's
own time, at every sample, so a reader knows each moment the node reported (an idle interface's
rate is 0 then, not unknown); rollup one point per series and
Retention.step seconds, all of a node's stamped at its last sample in the step (CLOCK's last
point): gauges averaged over the step, counters (`*_total`) their last value.
A rate over any two columns, in either tier or across both, divides by the real time between
the samples (stamped at the step's end instead, a rate was off by up to a sample interval over
the span: 12% measured where the tiers meet).
Every minute the sink rolls up the minutes that ended, drops points older than Retention.raw
and rollups older than Retention.rollup, one primary-key range per series (no index on ts:
it would cost a third of the file). A Pi's SD card holds a day of samples plus a month of
minutes, whatever the uptime.
The file (and its -wal/-shm, which SQLite creates with the file's mode) is 0600. A failed write
(a full disk) rolls back and raises; the caller holds the samples and retries (console.collect).
A failed roll-up or prune is tried again a minute later; it never fails a write.

metric is the Prometheus series string (collectors.sinks.jsonl.flatten), e.g. "node_load1" or
'node_thermal_zone_temp{type="cpu-thermal",zone="0"}'.
"""
from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from ..model import Sample
from .jsonl import flatten

SCHEMA = """
CREATE TABLE IF NOT EXISTS series(
    id INTEGER PRIMARY KEY, node TEXT NOT NULL, metric TEXT NOT NULL, UNIQUE(node, metric));
CREATE TABLE IF NOT EXISTS points(
    series INTEGER NOT NULL, ts REAL NOT NULL, value REAL NOT NULL,
    PRIMARY KEY(series, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup(
    series INTEGER NOT NULL, ts REAL NOT NULL, value REAL NOT NULL,
    PRIMARY KEY(series, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);
DROP INDEX IF EXISTS points_ts;
"""
MAINTAIN_EVERY = 60.0     # seconds between roll-up + prune passes
KEEPALIVE = 60.0          # seconds: an unchanged value is stored again this often
CLOCK = "roost_sample_timestamp_seconds"   # one point per sample: when the node reported
LATE = 5.0                # seconds a sample may arrive after its minute ended
# A counter is rolled up to its last value; everything else is averaged.
IS_COUNTER = "(metric LIKE '%\\_total' ESCAPE '\\' OR metric LIKE '%\\_total{%' ESCAPE '\\')"

Row = tuple[int, float, float]      # a points row: series, ts, value
Stored = tuple[float, float]        # a series' value and when it was stored


@dataclass(frozen=True)
class Retention:
    """How long history is kept: every sample for `raw` seconds, one point per `step` seconds for
    `rollup` seconds, then nothing. None keeps that tier forever; rollup = 0 keeps no rollups."""
    raw: float | None = 86400.0
    step: float = 60.0
    rollup: float | None = 30 * 86400.0


class SqliteSink:
    """retention: a Retention, or seconds of raw samples to keep (the older form), or None to
    keep every sample forever (and roll up nothing)."""

    def __init__(self, path: str | Path, retention: Retention | float | None = Retention()):
        self.path = Path(path)
        self.retention = _retention(retention)
        _private(self.path)
        self._db = sqlite3.connect(str(self.path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
        self._db.executescript(SCHEMA)
        self._ids: dict[tuple[str, str], int] = {}
        self._last: dict[int, Stored] = {}    # series -> (value, ts) last stored
        self._pruned = time.time()     # the first roll-up and prune a minute after opening
        try:    # readers carry a value forward this long (a full disk must not stop opening)
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('keepalive', ?)",
                             (KEEPALIVE,))
        except sqlite3.Error:
            pass

    def write(self, samples: Iterable[Sample]) -> int:
        """Store one tick's samples in one transaction; returns the number of points written."""
        flat = [(s, flatten(s)) for s in samples]
        try:
            with self._tx():  # new series rows join the same transaction as their points
                rows, stored = self._changed(flat)
                self._db.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?)", rows)
        except BaseException:
            self._ids.clear()   # series rows of a rolled-back transaction do not exist
            raise
        self._last.update(stored)   # only once committed: a retried write stores them again
        self._maybe_prune()
        return len(rows)

    def _changed(self, flat: list[tuple[Sample, dict[str, float]]]) -> tuple[list[Row], dict[int, Stored]]:
        """The rows to store: values that changed, or were last stored KEEPALIVE ago."""
        rows: list[Row] = []
        stored: dict[int, Stored] = {}
        last = self._last
        for s, values in flat:
            rows.append((self._series(s.node, CLOCK), s.ts, s.ts))
            for metric, value in values.items():
                sid = self._series(s.node, metric)
                prev = stored.get(sid) or last.get(sid)
                if prev is None or prev[0] != value or s.ts - prev[1] >= KEEPALIVE:
                    rows.append((sid, s.ts, value))
                    stored[sid] = (value, s.ts)
        return rows, stored

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def _series(self, node: str, metric: str) -> int:
        key = (node, metric)
        if key not in self._ids:
            self._db.execute("INSERT OR IGNORE INTO series(node, metric) VALUES (?, ?)", key)
            row = self._db.execute("SELECT id FROM series WHERE node=? AND metric=?", key).fetchone()
            self._ids[key] = row[0]
        return self._ids[key]

    def history(self, node: str, metric: str, since: float = 0.0) -> list[tuple[float, float]]:
        """[(ts, value)] stored for one series from since (epoch seconds) on, oldest first: its
        changes and keep-alives, not every sample (see the module's docstring)."""
        return self._db.execute(
            "SELECT p.ts, p.value FROM points p JOIN series s ON s.id = p.series "
            "WHERE s.node=? AND s.metric=? AND p.ts >= ? ORDER BY p.ts", (node, metric, since)).fetchall()

    def metrics(self, node: str) -> list[str]:
        return [r[0] for r in self._db.execute(
            "SELECT metric FROM series WHERE node=? ORDER BY metric", (node,))]

    def prune(self, before: float, table: str = "points") -> int:
        """Drop the points (or rollups) older than before: one key range per series."""
        assert table in ("points", "rollup")
        ids = [(i, before) for (i,) in self._db.execute("SELECT id FROM series")]
        with self._tx():
            cur = self._db.executemany(f"DELETE FROM {table} WHERE series = ? AND ts < ?", ids)
            return cur.rowcount

    def roll_up(self, until: float) -> int:
        """Roll up every whole step that ended by until and is not rolled up yet."""
        step = self.retention.step
        start, end = self._rolled_until(), (until // step) * step
        if end <= start:
            return 0
        with self._tx():
            cur = self._db.execute(
                "INSERT OR REPLACE INTO rollup(series, ts, value) "
                "SELECT series, MAX(at) OVER (PARTITION BY node, b),"
                " CASE WHEN counter THEN last ELSE mean END"
                " FROM ("
                f" SELECT p.series AS series, s.node AS node, CAST(p.ts / ?1 AS INTEGER) AS b,"
                f" MAX(p.ts) AS at, p.value AS last, AVG(p.value) AS mean, {IS_COUNTER} AS counter"
                " FROM series s JOIN points p ON p.series = s.id AND p.ts >= ?2 AND p.ts < ?3"
                " GROUP BY p.series, b)", (step, start, end))
            self._set_meta({"rollup_step": step, "rolled_until": end})
            return cur.rowcount

    def _rolled_until(self) -> float:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'rolled_until'").fetchone()
        if row is not None:
            return float(row[0])
        firsts = [self._db.execute("SELECT MIN(ts) FROM points WHERE series = ?", (i,)).fetchone()[0]
                  for (i,) in self._db.execute("SELECT id FROM series").fetchall()]
        first = min((f for f in firsts if f is not None), default=None)
        return (first // self.retention.step) * self.retention.step if first is not None else 0.0

    def _set_meta(self, values: dict[str, float]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                             list(values.items()))

    def maintain(self, now: float) -> None:
        """Roll up what ended, then drop what is older than its tier keeps."""
        r = self.retention
        if r.rollup != 0:
            self.roll_up(now - LATE)
        if r.raw is not None:
            self.prune(now - r.raw)
        if r.rollup is not None:
            self.prune(now - r.rollup, "rollup")

    def _maybe_prune(self) -> None:
        now = time.time()
        if now - self._pruned < MAINTAIN_EVERY:
            return
        self._pruned = now
        try:
            self.maintain(now)
        except sqlite3.Error:
            pass        # a full disk: the samples are stored; roll up and prune next minute

    def close(self) -> None:
        self._db.close()


def _retention(value: Retention | float | None) -> Retention:
    if isinstance(value, Retention):
        return value
    if value is None:
        return Retention(raw=None, rollup=0)
    return Retention(raw=float(value))


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:   # SQLite may have rolled back already (SQLITE_FULL)
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass                    # the first error is the one to report
        return False


def _private(path: Path) -> None:
    """Create the database 0600 (never through a symlink); tighten an older, wider one."""
    # Never open (and close) an existing database here: closing any fd of a file drops the
    # process's SQLite locks on it. Create it exclusively, or tighten it by path.
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        if not os.path.islink(path) and os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
    for extra in ("-wal", "-shm"):
        companion = Path(f"{path}{extra}")
        if companion.exists() and not companion.is_symlink():
            companion.chmod(0o600)
