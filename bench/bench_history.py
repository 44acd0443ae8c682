"""History database growth per node-day, before and after downsampling, and chart read time.

    .venv/bin/python bench/bench_history.py [--hours 2] [--profile rpi4] [--interval 1]

One simulated board (console.demo's BoardSim, the same files a real Pi shows) is sampled every
--interval seconds for --hours of simulated time, offline (no SSH), through the real parser and
the real SqliteSink. Sizes come from SQLite's dbstat table, scaled to a day (growth is linear):
  before  what main stored: every value of every sample, plus an index on points(ts)
  raw     what the sink keeps for [history] keep_raw: a value when it changed (and once a
          minute), no ts index
  rollup  one point per minute per series (what it keeps for keep_rollup)
and the steady state of the default [history] (a day of samples + 30 days of minutes) per node.
Also: the CPU time of the roll-up and of a `roost history` read of the whole span from either
tier. Prints medians of --reads reads.
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import collectors.sinks.sqlite as sqlite_sink  # noqa: E402
from collectors.model import Snapshot  # noqa: E402
from collectors.sinks.sqlite import Retention, SqliteSink  # noqa: E402
from collectors.snapshot import build_sample  # noqa: E402
from console.demo.boards import PROFILES  # noqa: E402
from console.demo.layout import build_layout  # noqa: E402
from console.demo.sim import BoardSim  # noqa: E402

DAY = 86400.0


def samples(profile: str, hours: float, interval: float, t0: float):
    """(ts, Sample) of one board every interval seconds, simulated time."""
    layout = build_layout(PROFILES[profile], "bench1")
    sim = BoardSim(layout, random.Random(1), 22.0, t0)
    sim.boot(t0 - 3600, t0)
    n = int(hours * 3600 / interval)
    for i in range(n):
        ts = t0 + i * interval
        files = {**layout.static, **sim.files(ts)}
        yield build_sample("bench1", Snapshot(files, layout.links), ts, seq=i, node_clock=ts)


def table_bytes(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return dict(con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
    finally:
        con.close()


def write(path: Path, args, t0: float, every_sample: bool = False) -> tuple[int, float]:
    """(points stored, CPU seconds) for the simulated span; every_sample: as main did."""
    keepalive = sqlite_sink.KEEPALIVE
    sqlite_sink.KEEPALIVE = 0.0 if every_sample else keepalive
    try:
        sink = SqliteSink(path, Retention(raw=None, rollup=0))
        batch, points, cpu = [], 0, time.process_time()
        for s in samples(args.profile, args.hours, args.interval, t0):
            batch.append(s)
            if len(batch) == 60:             # a minute of ticks per transaction keeps it quick
                points += sink.write(batch)
                batch = []
        points += sink.write(batch) if batch else 0
        sink.close()
    finally:
        sqlite_sink.KEEPALIVE = keepalive
    return points, time.process_time() - cpu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument("--profile", choices=sorted(PROFILES), default="rpi4")
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--reads", type=int, default=5)
    args = p.parse_args()
    span = args.hours * 3600
    with tempfile.TemporaryDirectory(prefix="roost-bench-history-") as tmp:
        t0 = time.time() - span - 120
        old = Path(tmp) / "before.db"
        every, old_cpu = write(old, args, t0, every_sample=True)
        con = sqlite3.connect(old)
        con.execute("CREATE INDEX points_ts ON points(ts)")      # the layout before this change
        con.commit()
        con.close()
        before = table_bytes(old)
        db = Path(tmp) / "h.db"
        points, write_cpu = write(db, args, t0)
        raw = table_bytes(db)
        sink = SqliteSink(db, Retention(raw=None, step=60, rollup=None))
        cpu = time.process_time()
        minutes = sink.roll_up(time.time())
        rollup_cpu = time.process_time() - cpu
        sink.close()
        after = table_bytes(db)
        reads = read_times(db, t0, span, args.reads)
    report(args, (every, points), (old_cpu, write_cpu), before, raw, after, minutes, rollup_cpu,
           reads)
    return 0


def read_times(db: Path, t0: float, span: float, n: int) -> dict[str, float]:
    """Median seconds to read cpu over the whole span at a chart's step, per tier."""
    from console.history import service
    from console.history.store import HistoryStore
    out = {}
    for tier, step in (("samples", 59.0), ("minutes", 60.0)):   # below the rollup step: samples
        runs = []
        for _ in range(n):
            c = time.perf_counter()
            service.read(db, "cpu", ["bench1"], t0, t0 + span, step)
            runs.append(time.perf_counter() - c)
        out[tier] = statistics.median(runs)
    store = HistoryStore(db)
    store.close()
    return out


def mb(size: float) -> str:
    return f"{size / 1e6:8.1f} MB"


def report(args, points, cpu, before, raw, after, minutes, rollup_cpu, reads) -> None:
    scale = DAY / (args.hours * 3600)
    n = args.hours * 3600 / args.interval
    base = sum(v for k, v in raw.items() if k not in ("rollup", "meta"))
    old = sum(v for k, v in before.items() if k not in ("rollup", "meta"))
    roll = after.get("rollup", 0)
    print(f"bench_history: one {args.profile} node, a sample every {args.interval:g} s, "
          f"{args.hours:g} h simulated ({points[0] / n:.0f} values per sample, {points[1] / n:.0f} "
          "of them stored); sizes scaled to a node-day")
    print(f"  before (every value, index on ts):  {mb(old * scale)} per node-day")
    print(f"  raw tier (changes, no ts index):    {mb(base * scale)} per node-day")
    print(f"  rollup tier (1-minute points):      {mb(roll * scale)} per node-day ({minutes} points)")
    print(f"  steady state per node, default [history] (1 day raw + 30 days of minutes): "
          f"{(base + 30 * roll) * scale / 1e6:.0f} MB; before: {old * scale / 1e6:.0f} MB for "
          "the one day it kept by default, growing by that much a day with a longer --retention")
    print(f"  CPU writing: {cpu[0] / n * 1e3:.2f} ms per sample before, {cpu[1] / n * 1e3:.2f} ms "
          f"now; roll-up {rollup_cpu / (args.hours * 60) * 1e3:.2f} ms per node-minute")
    print(f"  reading cpu over {args.hours:g} h (median of {args.reads}): from samples "
          f"{reads['samples'] * 1e3:.0f} ms, from minutes {reads['minutes'] * 1e3:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
