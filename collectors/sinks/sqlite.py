"""SQLite history: WAL, one transaction per write(), compact rows, optional retention.

Schema (fast for "metric M of node X since T": one index seek, then a range scan):
    series(id INTEGER PRIMARY KEY, node TEXT, metric TEXT, UNIQUE(node, metric))
    points(series INTEGER, ts REAL, value REAL, PRIMARY KEY(series, ts)) WITHOUT ROWID
The file (and its -wal/-shm, which SQLite creates with the file's mode) is 0600. A failed write
(a full disk) rolls back and raises; the caller holds the samples and retries (console.collect).

metric is the Prometheus series string (collectors.sinks.jsonl.flatten), e.g. "node_load1" or
'node_thermal_zone_temp{type="cpu-thermal",zone="0"}'.
"""
from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
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
CREATE INDEX IF NOT EXISTS points_ts ON points(ts);
"""


class SqliteSink:
    """retention: seconds of history to keep (None: forever); pruned at most once a minute."""

    def __init__(self, path: str | Path, retention: float | None = None):
        self.path = Path(path)
        self.retention = retention
        _private(self.path)
        self._db = sqlite3.connect(str(self.path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
        self._db.executescript(SCHEMA)
        self._ids: dict[tuple[str, str], int] = {}
        self._pruned = 0.0

    def write(self, samples: Iterable[Sample]) -> int:
        """Store one tick's samples in one transaction; returns the number of points written."""
        flat = [(s, flatten(s)) for s in samples]
        try:
            with self._tx():  # new series rows join the same transaction as their points
                rows = [(self._series(s.node, m), s.ts, v) for s, f in flat for m, v in f.items()]
                self._db.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?)", rows)
        except BaseException:
            self._ids.clear()   # series rows of a rolled-back transaction do not exist
            raise
        self._maybe_prune()
        return len(rows)

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
        """[(ts, value)] of one series from since (epoch seconds) on, oldest first."""
        return self._db.execute(
            "SELECT p.ts, p.value FROM points p JOIN series s ON s.id = p.series "
            "WHERE s.node=? AND s.metric=? AND p.ts >= ? ORDER BY p.ts", (node, metric, since)).fetchall()

    def metrics(self, node: str) -> list[str]:
        return [r[0] for r in self._db.execute(
            "SELECT metric FROM series WHERE node=? ORDER BY metric", (node,))]

    def prune(self, before: float) -> int:
        with self._tx():
            return self._db.execute("DELETE FROM points WHERE ts < ?", (before,)).rowcount

    def _maybe_prune(self) -> None:
        now = time.time()
        if self.retention is not None and now - self._pruned >= 60:
            self._pruned = now
            self.prune(now - self.retention)

    def close(self) -> None:
        self._db.close()


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
