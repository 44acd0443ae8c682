"""The job queue in SQLite (WAL) in the state dir: jobs, their tasks, and client requests.

Clients (submit, cancel, suspend ...) and the one scheduler share the file. Every state change
is a single UPDATE guarded by the state it expects (`WHERE state = 'PENDING'`), so a client's
cancel and the scheduler's launch cannot both win. A whole array is inserted in one transaction.
"""
from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from console.jobs.model import REASON_PRIORITY, JobSpec, State, Task
from console.paths import private_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, name TEXT, user TEXT, submit REAL, ntasks INTEGER,
    spec TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS tasks (
    job_id INTEGER, pos INTEGER, idx INTEGER, state TEXT, node TEXT, start REAL, end REAL,
    exit_code INTEGER, attempt INTEGER DEFAULT 0, pid INTEGER, want TEXT, kill_reason TEXT,
    reason TEXT, suspended REAL DEFAULT 0, suspended_at REAL, alloc TEXT, cpuset TEXT,
    PRIMARY KEY (job_id, pos)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stale (node TEXT, key TEXT, pid INTEGER, PRIMARY KEY (node, key));
CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, cores INTEGER, mem_mb INTEGER, seen REAL);
CREATE INDEX IF NOT EXISTS tasks_live ON tasks (state, job_id, pos)
    WHERE state IN ('PENDING', 'RUNNING', 'SUSPENDED');
"""
FIRST_JOB_ID = 1
LIVE = ("PENDING", "RUNNING", "SUSPENDED")
_TASK_COLS = ("job_id, pos, idx, state, node, start, end, exit_code, attempt, pid, want, "
              "kill_reason, reason, suspended, suspended_at, alloc, cpuset")
# columns later versions added to a table: (table, column, type); added to older files on open
_ADDED = (("tasks", "alloc", "TEXT"), ("tasks", "cpuset", "TEXT"))
# PRAGMA user_version of a file that has SCHEMA and every _ADDED column (a checksum of both: it
# changes with them by itself), so an open (each bsub line) checks one number instead of running
# the schema again; another roost version finding another number just runs its idempotent schema
SCHEMA_VERSION = zlib.crc32(f"{SCHEMA}{_ADDED}".encode()) & 0x7FFF_FFFF


@dataclass(frozen=True, slots=True)
class JobRow:
    id: int
    name: str
    user: str
    submit: float
    ntasks: int
    spec: JobSpec
    reason: str | None


def _task(row: Sequence[Any]) -> Task:
    (job_id, pos, idx, state, node, start, end, code, attempt, pid, want, kill, reason,
     suspended, suspended_at, alloc, cpuset) = row
    return Task(job_id, pos, idx, State(state), reason or REASON_PRIORITY, node, start, end,
                code, attempt, pid, want, kill, suspended or 0.0, suspended_at,
                decode_alloc(alloc), cpuset)


def encode_alloc(alloc: Sequence[tuple[str, int]]) -> str | None:
    return json.dumps([[n, c] for n, c in alloc], separators=(",", ":")) if alloc else None


def decode_alloc(text: str | None) -> tuple[tuple[str, int], ...]:
    return tuple((n, int(c)) for n, c in json.loads(text)) if text else ()


class Store:
    def __init__(self, path: str | Path):
        self.path = private_db(path)   # 0600, and so are -wal and -shm
        self.db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")   # WAL + NORMAL: durable across crashes
        if self.db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            self._create()
        self._client_writes = 0

    def _create(self) -> None:
        """A new file gets the schema; an older one the tables and columns added since."""
        self.db.executescript(SCHEMA)
        self._add_columns()
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _add_columns(self) -> None:
        """A queue file written by an older roost gains the columns added since."""
        for table, column, kind in _ADDED:
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                try:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError:   # another process added it just now
                    pass

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def queue_id(self) -> str:
        """A random name for this queue, made once: it names the task directories on nodes."""
        with self.transaction():
            row = self.db.execute("SELECT value FROM meta WHERE key='queue_id'").fetchone()
            if row:
                return str(row[0])
            import secrets
            value = secrets.token_hex(4)
            self.db.execute("INSERT INTO meta VALUES ('queue_id', ?)", (value,))
            return value

    # --- writes ---------------------------------------------------------------------------

    def transaction(self) -> _Tx:
        """BEGIN IMMEDIATE ... COMMIT around several writes (the scheduler's batched starts)."""
        return _Tx(self.db)

    def submit(self, spec: JobSpec, now: float | None = None) -> int:
        """Insert the job and all its tasks in one transaction; returns the job id."""
        now = time.time() if now is None else now
        indices = spec.array if spec.array is not None else (None,)
        with self.transaction():
            row = self.db.execute("SELECT value FROM meta WHERE key='next_id'").fetchone()
            job_id = row[0] if row else FIRST_JOB_ID
            self.db.execute("INSERT INTO jobs VALUES (?,?,?,?,?,?,?)",
                            (job_id, spec.name, spec.user, now, len(indices), spec.to_json(),
                             REASON_PRIORITY))
            self.db.executemany(
                "INSERT INTO tasks (job_id, pos, idx, state) VALUES (?,?,?,'PENDING')",
                ((job_id, pos, idx) for pos, idx in enumerate(indices)))
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('next_id', ?)",
                            (job_id + len(indices),))   # each task owns one SLURM_JOB_ID
        self._client_writes += 1
        return job_id

    def start(self, task: Task, node: str, now: float,
              alloc: Sequence[tuple[str, int]] = (), cpuset: str | None = None) -> bool:
        """PENDING -> RUNNING on node (the first of alloc, for a multi-node allocation); False
        when a client got there first (cancelled)."""
        cur = self.db.execute(
            "UPDATE tasks SET state='RUNNING', node=?, start=?, pid=NULL, kill_reason=NULL, "
            "end=NULL, exit_code=NULL, alloc=?, cpuset=? WHERE job_id=? AND pos=? "
            "AND state='PENDING'",
            (node, now, encode_alloc(alloc), cpuset, task.job_id, task.pos))
        return cur.rowcount == 1

    def unstart(self, task: Task) -> bool:
        """RUNNING -> PENDING for a launch that never reached the node (no pid file there)."""
        cur = self.db.execute(
            "UPDATE tasks SET state='PENDING', node=NULL, start=NULL, pid=NULL, alloc=NULL, "
            "cpuset=NULL WHERE job_id=? AND pos=? AND state='RUNNING' AND attempt=?",
            (task.job_id, task.pos, task.attempt))
        return cur.rowcount == 1

    def clear_want(self, task: Task) -> None:
        self.db.execute("UPDATE tasks SET want=NULL WHERE job_id=? AND pos=?",
                        (task.job_id, task.pos))

    def set_reason(self, task: Task, reason: str | None) -> None:
        self.db.execute("UPDATE tasks SET reason=? WHERE job_id=? AND pos=?",
                        (reason, task.job_id, task.pos))

    def set_pid(self, task: Task, pid: int | None) -> None:
        self.db.execute("UPDATE tasks SET pid=? WHERE job_id=? AND pos=?",
                        (pid, task.job_id, task.pos))

    def finish(self, task: Task, state: State, exit_code: int | None, now: float) -> bool:
        cur = self.db.execute(
            "UPDATE tasks SET state=?, exit_code=?, end=?, want=NULL WHERE job_id=? AND pos=? "
            "AND state IN ('RUNNING','SUSPENDED')",
            (state.value, exit_code, now, task.job_id, task.pos))
        return cur.rowcount == 1

    def finish_many(self, done: Iterable[tuple[Task, State, int | None]], now: float) -> int:
        with self.transaction():
            return sum(self.finish(t, s, c, now) for t, s, c in done)

    def requeue(self, task: Task, reason: str) -> bool:
        cur = self.db.execute(
            "UPDATE tasks SET state='PENDING', node=NULL, pid=NULL, start=NULL, want=NULL, "
            "kill_reason=NULL, alloc=NULL, cpuset=NULL, attempt=attempt+1, reason=? "
            "WHERE job_id=? AND pos=? "
            "AND state IN ('RUNNING','SUSPENDED','NODE_FAIL')",
            (reason, task.job_id, task.pos))
        return cur.rowcount == 1

    def set_state(self, task: Task, old: State, new: State) -> bool:
        cur = self.db.execute("UPDATE tasks SET state=?, want=NULL WHERE job_id=? AND pos=? "
                              "AND state=?", (new.value, task.job_id, task.pos, old.value))
        return cur.rowcount == 1

    def suspend(self, task: Task, now: float) -> bool:
        cur = self.db.execute(
            "UPDATE tasks SET state='SUSPENDED', want=NULL, suspended_at=? WHERE job_id=? "
            "AND pos=? AND state='RUNNING'", (now, task.job_id, task.pos))
        if cur.rowcount == 1:
            task.state, task.suspended_at = State.SUSPENDED, now
        return cur.rowcount == 1

    def resume(self, task: Task, now: float) -> bool:
        """SUSPENDED -> RUNNING; the time spent stopped does not count against --time."""
        cur = self.db.execute(
            "UPDATE tasks SET state='RUNNING', want=NULL, suspended=suspended+(?-suspended_at), "
            "suspended_at=NULL WHERE job_id=? AND pos=? AND state='SUSPENDED'",
            (now, task.job_id, task.pos))
        if cur.rowcount == 1:
            task.state = State.RUNNING
            task.suspended += now - (task.suspended_at or now)
            task.suspended_at = None
        return cur.rowcount == 1

    def add_stale(self, node: str, key: str, pid: int | None) -> None:
        """A task roost gave up on (NODE_FAIL) that may still run there: kill it on return."""
        self.db.execute("INSERT OR REPLACE INTO stale VALUES (?,?,?)", (node, key, pid))

    def stale_nodes(self) -> set[str]:
        """The nodes where tasks given up as NODE_FAIL may still run."""
        return {r[0] for r in self.db.execute("SELECT DISTINCT node FROM stale")}

    def stale(self, node: str) -> list[tuple[str, int | None]]:
        return list(self.db.execute("SELECT key, pid FROM stale WHERE node=?", (node,)))

    def drop_stale(self, node: str, keys: list[str]) -> None:
        self.db.executemany("DELETE FROM stale WHERE node=? AND key=?", [(node, k) for k in keys])

    def record_node(self, name: str, cores: int, mem_mb: int | None, now: float) -> None:
        """A node's size as the scheduler last saw it (submit refuses jobs no node can hold)."""
        self.db.execute("INSERT OR REPLACE INTO nodes VALUES (?,?,?,?)",
                        (name, cores, mem_mb, now))

    def nodes_used(self) -> set[str]:
        """Every node any task of this queue ran on."""
        return {r[0] for r in self.db.execute("SELECT DISTINCT node FROM tasks WHERE node "
                                              "IS NOT NULL")}

    def node_sizes(self) -> dict[str, tuple[int, int | None]]:
        """node -> (cores, memory MB or None) as last seen by a scheduler."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute(
            "SELECT name, cores, mem_mb FROM nodes")}

    def set_kill_reason(self, task: Task, reason: str) -> None:
        self.db.execute("UPDATE tasks SET kill_reason=? WHERE job_id=? AND pos=?",
                        (reason, task.job_id, task.pos))

    def set_job_reason(self, job_id: int, reason: str) -> None:
        self.db.execute("UPDATE jobs SET reason=? WHERE id=? AND reason IS NOT ?",
                        (reason, job_id, reason))

    def cancel_pending(self, job_id: int, reason: str, now: float) -> int:
        cur = self.db.execute(
            "UPDATE tasks SET state='CANCELLED', end=?, reason=? WHERE job_id=? "
            "AND state='PENDING'", (now, reason, job_id))
        return cur.rowcount

    def request(self, job_id: int, indices: Sequence[int] | None, want: str,
                now: float | None = None) -> int:
        """A client's cancel/suspend/resume. Pending tasks are cancelled right here; running
        ones get `want` set for the scheduler. Returns how many tasks were affected."""
        now = time.time() if now is None else now
        where, args = "job_id=?", [job_id]
        if indices is not None:
            where += f" AND idx IN ({','.join('?' * len(indices))})"
            args += list(indices)
        with self.transaction():
            n = 0
            if want == "cancel":
                n += self.db.execute(
                    f"UPDATE tasks SET state='CANCELLED', end=? WHERE {where} "
                    "AND state='PENDING'", [now, *args]).rowcount
            live = "('RUNNING','SUSPENDED')"
            n += self.db.execute(f"UPDATE tasks SET want=? WHERE {where} AND state IN {live}",
                                 [want, *args]).rowcount
        self._client_writes += 1
        return n

    # --- reads ----------------------------------------------------------------------------

    def version(self) -> tuple[int, int]:
        """Changes when another connection wrote, or a client call (submit, request) on this
        one did: the scheduler's cheap "look again" signal."""
        return self.db.execute("PRAGMA data_version").fetchone()[0], self._client_writes

    def job(self, job_id: int) -> JobRow | None:
        row = self.db.execute("SELECT id, name, user, submit, ntasks, spec, reason FROM jobs "
                              "WHERE id=?", (job_id,)).fetchone()
        if row is None:
            return None
        indices = None
        spec_probe = JobSpec.from_json(row[5])
        if row[4] > 1 or self._is_array(job_id):
            indices = tuple(r[0] for r in self.db.execute(
                "SELECT idx FROM tasks WHERE job_id=? ORDER BY pos", (job_id,)))
        spec = spec_probe if indices is None else JobSpec.from_json(row[5], indices)
        return JobRow(row[0], row[1], row[2], row[3], row[4], spec, row[6])

    def _is_array(self, job_id: int) -> bool:
        row = self.db.execute("SELECT idx FROM tasks WHERE job_id=? AND pos=0",
                              (job_id,)).fetchone()
        return row is not None and row[0] is not None

    def spec_only(self, job_id: int) -> JobSpec:
        """The spec without its array indices (cheap; the scheduler's per-job cache)."""
        row = self.db.execute("SELECT spec FROM jobs WHERE id=?", (job_id,)).fetchone()
        return JobSpec.from_json(row[0])

    def job_ids(self, live_only: bool = False) -> list[int]:
        if live_only:
            sql = ("SELECT DISTINCT job_id FROM tasks WHERE state IN "
                   "('PENDING','RUNNING','SUSPENDED') ORDER BY job_id")
        else:
            sql = "SELECT id FROM jobs ORDER BY id"
        return [r[0] for r in self.db.execute(sql)]

    def tasks(self, job_id: int, states: Sequence[State] | None = None,
              limit: int | None = None) -> list[Task]:
        sql = f"SELECT {_TASK_COLS} FROM tasks WHERE job_id=?"
        args: list[int | str] = [job_id]
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += [s.value for s in states]
        sql += " ORDER BY pos" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [_task(r) for r in self.db.execute(sql, args)]

    def active(self) -> list[Task]:
        """Every RUNNING or SUSPENDED task."""
        return [_task(r) for r in self.db.execute(
            f"SELECT {_TASK_COLS} FROM tasks WHERE state IN ('RUNNING','SUSPENDED')")]

    def pending_counts(self) -> dict[int, int]:
        """job id -> pending tasks, in FIFO (job id) order."""
        return dict(self.db.execute(
            "SELECT job_id, count(*) FROM tasks WHERE state='PENDING' GROUP BY job_id "
            "ORDER BY job_id"))

    def has_live(self, job_id: int) -> bool:
        """Any task of the job PENDING, RUNNING or SUSPENDED? (index lookup, not a count)"""
        return self.db.execute(
            "SELECT 1 FROM tasks WHERE state IN ('PENDING','RUNNING','SUSPENDED') AND job_id=? "
            "LIMIT 1", (job_id,)).fetchone() is not None

    def state_counts(self, job_id: int, index: int | None = None) -> dict[State, int]:
        sql, args = "SELECT state, count(*) FROM tasks WHERE job_id=?", [job_id]
        if index is not None:
            sql += " AND idx=?"
            args.append(index)
        return {State(s): n for s, n in self.db.execute(sql + " GROUP BY state", args)}

    def ntasks(self, job_id: int) -> int:
        return int(self.db.execute("SELECT ntasks FROM jobs WHERE id=?",
                                   (job_id,)).fetchone()[0])

    def array_task(self, task_job_id: int) -> tuple[int, int] | None:
        """(job id, index) of the array task whose own SLURM_JOB_ID is task_job_id."""
        row = self.db.execute(
            "SELECT t.job_id, t.idx FROM jobs j JOIN tasks t ON t.job_id = j.id "
            "WHERE j.id < ? AND j.id + j.ntasks > ? AND t.pos = ? - j.id",
            (task_job_id, task_job_id, task_job_id)).fetchone()
        return None if row is None else (row[0], row[1])

    # --- the queue view's aggregates (a few queries, whatever the array sizes) -------------

    def shown_job_ids(self, recent: int) -> list[int]:
        """Every job with a live task and the `recent` newest, newest first."""
        live = {r[0] for r in self.db.execute(
            "SELECT DISTINCT job_id FROM tasks WHERE state IN ('PENDING','RUNNING','SUSPENDED')")}
        last = [r[0] for r in self.db.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT ?",
                                              (recent,))]
        return sorted(live.union(last), reverse=True)

    def job_heads(self, ids: Sequence[int]) -> dict[int, tuple[str, str, int, str | None]]:
        """job id -> (name, user, ntasks, reason)."""
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in self.db.execute(
            f"SELECT id, name, user, ntasks, reason FROM jobs WHERE id IN ({_marks(ids)})", ids)}

    def job_state_counts(self, ids: Sequence[int]
                         ) -> tuple[dict[int, dict[str, int]], dict[int, int | None]]:
        """({job id: {state: n}}, {job id: highest exit code})."""
        counts: dict[int, dict[str, int]] = {}
        codes: dict[int, int | None] = {}
        for job_id, state, n, code in self.db.execute(
                f"SELECT job_id, state, count(*), max(exit_code) FROM tasks WHERE job_id IN "
                f"({_marks(ids)}) GROUP BY job_id, state", ids):
            counts.setdefault(job_id, {})[state] = n
            if code is not None:
                codes[job_id] = max(code, codes.get(job_id) or 0)
        return counts, codes

    def first_pending(self, ids: Sequence[int]) -> dict[int, tuple[str | None, int]]:
        """job id -> (reason, attempt) of its first pending task."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute(
            f"SELECT job_id, reason, attempt, min(pos) FROM tasks WHERE state='PENDING' "
            f"AND job_id IN ({_marks(ids)}) GROUP BY job_id", ids)}

    def job_nodes(self, ids: Sequence[int]) -> dict[int, list[str]]:
        """job id -> every node its tasks ran (or run) on, finished ones included: a
        multi-node allocation's nodes too, not only the one its script ran on (as sacct's
        NodeList)."""
        out: dict[int, set[str]] = {}
        for job_id, node, alloc in self.db.execute(
                f"SELECT DISTINCT job_id, node, alloc FROM tasks WHERE job_id IN ({_marks(ids)}) "
                "AND node IS NOT NULL", ids):
            names = out.setdefault(job_id, set())
            names.add(node)
            names.update(name for name, _ in decode_alloc(alloc))
        return {job_id: sorted(names) for job_id, names in sorted(out.items())}

    def spans(self, ids: Sequence[int]) -> dict[int, float]:
        """job id -> last end - first start of its started tasks."""
        return dict(self.db.execute(
            f"SELECT job_id, max(end) - min(start) FROM tasks WHERE job_id IN ({_marks(ids)}) "
            "AND start IS NOT NULL GROUP BY job_id", ids))

    def wants(self) -> list[Task]:
        return [_task(r) for r in self.db.execute(
            f"SELECT {_TASK_COLS} FROM tasks WHERE want IS NOT NULL "
            "AND state IN ('RUNNING','SUSPENDED')")]

    # --- names, accounting and history --------------------------------------------------------

    def job_ids_named(self, name: str, user: str | None = None) -> list[int]:
        sql, args = "SELECT id FROM jobs WHERE name=?", [name]
        if user is not None:
            sql += " AND user=?"
            args.append(user)
        return [r[0] for r in self.db.execute(sql + " ORDER BY id", args)]

    def live_namesake(self, job_id: int, name: str, user: str) -> bool:
        """Does an earlier job of this name and user still have a live task? (singleton)"""
        return self.db.execute(
            "SELECT 1 FROM jobs j JOIN tasks t ON t.job_id = j.id WHERE j.name=? AND j.user=? "
            "AND j.id < ? AND t.state IN ('PENDING','RUNNING','SUSPENDED') LIMIT 1",
            (name, user, job_id)).fetchone() is not None

    def accounting(self, since: float, until: float,
                   job_ids: Sequence[int] | None = None) -> list[tuple[JobRow, Task]]:
        """(job, task) of every task that was queued, running or ended in [since, until]
        (sacct's window: submitted before until and not ended before since), by job id."""
        sql = (f"SELECT j.id, j.name, j.user, j.submit, j.ntasks, j.spec, j.reason, "
               f"{', '.join('t.' + c for c in _TASK_COLS.split(', '))} FROM jobs j "
               "JOIN tasks t ON t.job_id = j.id WHERE j.submit <= ? "
               "AND (t.end IS NULL OR t.end >= ?)")
        args: list[float] = [until, since]
        if job_ids:
            sql += f" AND j.id IN ({_marks(job_ids)})"
            args += list(job_ids)
        out: list[tuple[JobRow, Task]] = []
        specs: dict[int, JobSpec] = {}
        for row in self.db.execute(sql + " ORDER BY j.id, t.pos", args):
            spec = specs.get(row[0]) or specs.setdefault(row[0], JobSpec.from_json(row[5]))
            out.append((JobRow(row[0], row[1], row[2], row[3], row[4], spec, row[6]),
                        _task(row[7:])))
        return out

    def purge(self, before: float) -> int:
        """Forget jobs whose every task ended before `before` (the history's retention);
        returns how many jobs went."""
        with self.transaction():
            old = [r[0] for r in self.db.execute(
                "SELECT job_id FROM tasks GROUP BY job_id HAVING "
                "sum(state IN ('PENDING','RUNNING','SUSPENDED')) = 0 AND max(end) < ?",
                (before,))]
            for chunk in range(0, len(old), 500):
                part = old[chunk:chunk + 500]
                self.db.execute(f"DELETE FROM tasks WHERE job_id IN ({_marks(part)})", part)
                self.db.execute(f"DELETE FROM jobs WHERE id IN ({_marks(part)})", part)
        return len(old)


def _marks(ids: Sequence[int]) -> str:
    return ",".join("?" * len(ids))


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): writers queue instead of deadlocking."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")
