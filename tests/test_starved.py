"""A collector that gets less CPU than its nodes need holds them back through SSH flow control:
its memory levels off instead of growing with every frame it has not read yet (a `roost
collect` on 1,000 nodes at load 11 once reached 7.5 GB). bench/bench_starve.py measures the same
at 1,000 nodes under a cgroup CPU quota."""
from __future__ import annotations

import gc
import json
import threading
import time
import tracemalloc

import pytest

from console.collect import CollectOptions, Run, run_collect
from console.demo.fleet import DemoFleet
from console.demo.runner import FleetThread

pytestmark = pytest.mark.timeout(180)
NODES, INTERVAL, SECONDS = 30, 0.05, 24.0


SINK_COST = 0.003   # seconds a sample costs the consumer: ~330 a second against 600 offered


def slow_consumer(monkeypatch) -> None:
    """Collection's consumer spends SINK_COST per sample (a slow disk under the history DB, a
    busy console): time.sleep holds the loop but not the GIL, so the demo's thread keeps sending
    and the frames outrun what is taken."""
    take = Run.take

    def slow_take(self, item) -> None:
        time.sleep(SINK_COST)
        take(self, item)
    monkeypatch.setattr(Run, "take", slow_take)


def backlog(demo: DemoFleet) -> int:
    """Bytes the simulated nodes hold queued on their sampler channels (frames the collector
    has not taken): up to console.demo.node.MAX_BACKLOG a node, filling slowly while starved.
    A real node keeps them in its kernel pipe (its sampler blocks in write), not in the
    collector's process."""
    while True:
        try:
            return sum(s.process.channel.get_write_buffer_size()
                       for info in demo.nodes for s in list(demo.node(info.name).sessions))
        except RuntimeError:    # the demo's thread changed a set meanwhile: read again
            continue


class Meter(threading.Thread):
    """The collector's live Python heap, read every 0.25 s while collection runs: tracemalloc
    after a full collection (garbage a later one frees is not growth; the collector freezes
    what survives its ticks, so a plain collect would not reach it), less the simulated nodes'
    queued frames (in this process here, not the collector's)."""

    def __init__(self, demo: DemoFleet) -> None:
        super().__init__(daemon=True)
        self.demo = demo
        self.readings: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.done.wait(0.25):
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            heap = tracemalloc.get_traced_memory()[0] - backlog(self.demo)
            self.readings.append((time.monotonic() - t0, heap))

    def peak(self, since: float, until: float) -> int:
        return max(m for t, m in self.readings if since <= t < until)


def test_a_starved_collector_levels_off_and_keeps_every_node_up(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("console.collect.QUEUE_BOUND", 8)   # full in seconds, not minutes
    slow_consumer(monkeypatch)
    demo = DemoFleet(NODES, seed=3, steady=True, state_dir=tmp_path / "demo", interval=INTERVAL)
    runner = FleetThread(demo)
    runner.start()
    out = tmp_path / "samples.jsonl"
    meter = Meter(demo)
    tracemalloc.start()
    try:
        meter.start()
        opts = CollectOptions(jsonl=str(out), duration=SECONDS)
        status = run_collect(demo.targets(), opts)
    finally:
        meter.done.set()
        tracemalloc.stop()
        runner.stop()
    assert status == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    offered = NODES * SECONDS / INTERVAL
    assert 0.02 * offered < len(rows) < 0.9 * offered      # it kept up with only part of it
    assert {r["node"] for r in rows} == {n.name for n in demo.nodes}
    assert "down" not in capsys.readouterr().err            # held back is not stale
    # once every queue and window is full the collector's heap stops growing: the last third
    # holds no more than the middle third plus 1.5 MB, where an unbounded queue grows ~1 MB a
    # second and asyncssh's new window on every resume grew it ~2.5 MB a third
    middle, last = meter.peak(SECONDS / 3, 2 * SECONDS / 3), meter.peak(2 * SECONDS / 3, SECONDS)
    print(f"collector heap: middle third {middle / 2**20:.1f} MB, last third {last / 2**20:.1f} MB")
    assert last - middle < 1.5 * 2**20, \
        f"heap still growing: {middle / 2**20:.1f} -> {last / 2**20:.1f} MB"
