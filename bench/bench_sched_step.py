"""What the on-demand scheduler's loop costs per step at 10,000 reported nodes (no I/O).

    .venv/bin/python bench/bench_sched_step.py [--nodes 10000] [--linked 32] [--runs 2000]

A Scheduler on a NodeSource of --nodes reports (every node up, 4 cores), --linked of them
linked (a stand-in agent and feed: no SSH) and busy. Times what the scheduler's loop walks:
_check_nodes (every step: 20 a second at the default tick), beside a walk of every link as
_check_nodes made before it kept the set of down links (the peer); the once-a-second
on-demand pass (reports synced, idle links parked); and the rooms placement reads for a
pending array (each placement pass: once a second, or on every change to the queue), also the
first one after a sync (which sorts the reports by free cores). Medians of --runs calls (a
tenth of them for the last three). To time another checkout's code, copy this file into its
bench/ and run it there.

Measured here (2 shared cores, other developers' tests running), 10,000 nodes, 32 linked,
three runs each, alternating with main at fd8e325 (the file copied there):
  _check_nodes        0.3-0.4 us  (main 552-579 us; the walk of every link 548-600 us)
  on-demand pass      1.14-1.16 ms (main 1.78-1.89 ms: it walked every link to park idle ones)
  placement's rooms   0.11 ms, 1.83-1.85 ms the first after a sync (main 7.2-11.8 ms, each)
  a whole step        0.18-0.22 ms mean, idle queue (main 1.07-1.23 ms: ~20 ms of CPU a second)
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.model import NodeTarget  # noqa: E402
from collectors.promsource import NodeReport  # noqa: E402
from console.jobs.core import Options  # noqa: E402
from console.jobs.ondemand import NodeSource  # noqa: E402
from console.jobs.placement import Demand  # noqa: E402
from console.jobs.scheduler import Scheduler  # noqa: E402
from console.jobs.store import Store  # noqa: E402


class Standin:
    """Where a link's agent and events feed would be (makes Link.up true; nothing to close)."""

    def close(self) -> None:
        pass


def scheduler(store: Store, nodes: int, linked: int) -> Scheduler:
    now = time.time()
    reports = {f"n{i}": NodeReport(True, now, 4, 3800, 0.0) for i in range(nodes)}
    source = NodeSource(lambda: reports, lambda name: NodeTarget(name, f"{name}.lab"))
    sched = Scheduler(store, [], Options(link_idle=1e9), nodes=source)
    sched._sync_nodes()
    for i in range(linked):
        link = sched.links[f"n{i}"]
        link.agent = link.events = Standin()  # type: ignore[assignment]
        link.busy_at = now
    return sched


def walk_every_link(sched: Scheduler, now: float) -> None:
    """The peer: what _check_nodes cost when it looked at every link each step."""
    busy = sched._task_nodes()
    for link in sched.links.values():
        if link.up or link.down_since is None:
            continue
        if link.target.name not in busy:
            link.down_since = None
            continue
        if not link.connecting and now >= link.next_try:
            link.next_try = now + 1.0


def run_through(coro) -> None:
    """Run a coroutine that never waits (_check_nodes only spawns its I/O) to its end."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("the coroutine waited")


def median_ms(calls: int, fn) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def mean_step_ms(store: Store, nodes: int, linked: int) -> float:
    """Scheduler.step on an idle queue, mean over 2 s of steps at the default tick (the
    once-a-second pass included, its share spread over the steps)."""
    sched = scheduler(store, nodes, linked)
    sched.options = replace(sched.options, use_load=False)   # stand-ins have no load to read
    times, end = [], time.monotonic() + 2.0
    while time.monotonic() < end:
        t0 = time.perf_counter()
        await sched.step()
        times.append(time.perf_counter() - t0)
        await asyncio.sleep(sched.options.tick)
    return statistics.mean(times) * 1000


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--linked", type=int, default=32)
    ap.add_argument("--runs", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "jobs.db") as store:
        sched = scheduler(store, args.nodes, args.linked)
        now = time.time()
        check = median_ms(args.runs, lambda: run_through(sched._check_nodes(now)))
        every = median_ms(args.runs, lambda: walk_every_link(sched, now))

        def one_pass() -> None:
            sched._last_sync = 0.0
            sched._on_demand_pass(now)
        walk = median_ms(max(1, args.runs // 10), one_pass)
        wide = [Demand(1, pending=100)]
        sched._rooms(now, wide)                  # the first after a sync sorts the reports
        rooms = median_ms(max(1, args.runs // 10), lambda: sched._rooms(now, wide))

        def after_sync() -> None:
            sched._freest = None                 # as _sync_nodes leaves it (no-op before)
            sched._rooms(now, wide)
        first = median_ms(max(1, args.runs // 10), after_sync)
        steps = await mean_step_ms(store, args.nodes, args.linked)
        print(f"{args.nodes} reported nodes, {args.linked} linked (medians): _check_nodes "
              f"{check * 1000:.1f} us, a walk of every link {every * 1000:.0f} us "
              f"({every / check:.0f}x); on-demand pass {walk:.2f} ms; placement's rooms for "
              f"a pending array {rooms:.2f} ms ({first:.2f} ms the first after a sync); "
              f"a whole step, idle queue, {steps:.3f} ms (mean over 2 s)")


if __name__ == "__main__":
    asyncio.run(main())
