"""The SQLite queue and the scheduler lock: real files, real processes."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

from console.jobs.directives import build_spec, parse_submit_argv
from console.jobs.lock import SchedulerLock
from console.jobs.model import State
from console.jobs.store import Store


def spec(*argv, script="#!/bin/sh\ntrue\n"):
    return build_spec(parse_submit_argv(list(argv)), script, "job.sh", submit_dir="/w")


def test_submit_assigns_id_blocks_and_round_trips(tmp_path):
    store = Store(tmp_path / "q.db")
    a = store.submit(spec("-a", "1-5:2", "-J", "arr"))
    b = store.submit(spec())
    assert (a, b) == (1, 4)          # the array reserved ids 1..3, one per task
    row = store.job(a)
    assert row.spec.array == (1, 3, 5) and row.name == "arr" and row.ntasks == 3
    assert [t.index for t in store.tasks(a)] == [1, 3, 5]
    assert [t.task_job_id for t in store.tasks(a)] == [1, 2, 3]
    assert store.job(b).spec.array is None and store.tasks(b)[0].index is None
    assert store.pending_counts() == {1: 3, 4: 1}
    mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_ten_thousand_task_array_submits_fast(tmp_path):
    store = Store(tmp_path / "q.db")
    t0 = time.process_time()         # this process's CPU: a loaded machine's wait is not ours
    job = store.submit(spec("--array", "1-10000"))
    assert time.process_time() - t0 < 0.5
    assert store.pending_counts() == {job: 10000}


def test_cancel_races_launch_and_only_one_wins(tmp_path):
    store = Store(tmp_path / "q.db")
    job = store.submit(spec("-a", "0-3"))
    tasks = store.tasks(job)
    other = Store(tmp_path / "q.db")     # a CLI client on its own connection
    assert other.request(job, [0, 1], "cancel") == 2
    started = [store.start(t, "n1", 1.0) for t in tasks]
    assert started == [False, False, True, True]
    assert other.request(job, None, "cancel") == 2      # running: the scheduler must kill
    assert {t.want for t in store.wants()} == {"cancel"}
    assert store.finish(tasks[2], State.CANCELLED, None, 2.0)
    assert not store.finish(tasks[2], State.COMPLETED, 0, 2.0)   # no double finish
    assert store.state_counts(job) == {State.CANCELLED: 3, State.RUNNING: 1}


def test_requeue_counts_attempts(tmp_path):
    store = Store(tmp_path / "q.db")
    job = store.submit(spec("--requeue"))
    task, = store.tasks(job)
    store.start(task, "n1", 1.0)
    store.finish(task, State.NODE_FAIL, None, 2.0)
    assert store.requeue(task, "NodeFail")
    again, = store.tasks(job)
    assert (again.state, again.attempt, again.node, again.reason) == (
        State.PENDING, 1, None, "NodeFail")


def test_version_sees_other_writers(tmp_path):
    store, other = Store(tmp_path / "q.db"), Store(tmp_path / "q.db")
    before = store.version()
    other.submit(spec())
    assert store.version() != before


HOLD = "import sys,time; from console.jobs.lock import SchedulerLock as L; " \
       "l=L(sys.argv[1]); print(l.acquire(), flush=True); time.sleep(60)"


def test_lock_is_exclusive_and_dies_with_holder(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "True"
        lock = SchedulerLock(tmp_path)
        assert not lock.acquire() and lock.holder() == proc.pid
        proc.kill()          # kill -9: the kernel drops the flock
        proc.wait()
        assert lock.acquire() and lock.holder() is not None
        lock.release()
        assert lock.holder() is None
    finally:
        proc.kill()
        proc.wait()


def test_version_sees_client_calls_on_the_same_connection(tmp_path):
    store = Store(tmp_path / "q.db")       # the console may submit through its own store
    before = store.version()
    job = store.submit(spec())
    middle = store.version()
    store.request(job, None, "cancel")
    assert len({before, middle, store.version()}) == 3


OLD_TASKS = """CREATE TABLE tasks (
    job_id INTEGER, pos INTEGER, idx INTEGER, state TEXT, node TEXT, start REAL, end REAL,
    exit_code INTEGER, attempt INTEGER DEFAULT 0, pid INTEGER, want TEXT, kill_reason TEXT,
    reason TEXT, suspended REAL DEFAULT 0, suspended_at REAL,
    PRIMARY KEY (job_id, pos)) WITHOUT ROWID"""


def test_an_older_queue_file_gains_the_new_columns_once(tmp_path, monkeypatch):
    """A file from before alloc/cpuset (user_version 0) is brought up to date on its first open;
    every later open (each line of a bsub loop) checks user_version and runs no schema."""

    from console.jobs import store as store_module
    path = tmp_path / "q.db"
    old = sqlite3.connect(path)
    old.executescript(f"{OLD_TASKS}; CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT, "
                      "user TEXT, submit REAL, ntasks INTEGER, spec TEXT, reason TEXT);")
    old.close()
    with Store(path) as store:
        columns = {r[1] for r in store.db.execute("PRAGMA table_info(tasks)")}
        assert {"alloc", "cpuset"} <= columns
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION
        job = store.submit(spec("-a", "1-3"))
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        db = connect(*args, **kwargs)
        db.set_trace_callback(statements.append)
        return db
    monkeypatch.setattr(store_module.sqlite3, "connect", traced)
    with Store(path) as store:
        assert [t.index for t in store.tasks(job)] == [1, 2, 3]
    assert not [s for s in statements if "CREATE" in s or "table_info" in s or "ALTER" in s]
    assert len(statements) <= 5, statements
