"""What the on-demand scheduler's loop costs per step at 10,000 reported nodes (no I/O).

    .venv/bin/python bench/bench_sched_step.py [--nodes 10000] [--linked 32] [--runs 2000]

A Scheduler on a PromSource's reports of --nodes nodes (every node up, 4 cores; no
Prometheus: the source's reports are set as its ticks set them), --linked of them linked (a
stand-in agent and feed: no SSH) and busy. Times what the scheduler's loop walks:
_check_nodes (every step: 20 a second at the default tick), beside a walk of every link as
_check_nodes made before it kept the set of down links (the peer); the once-a-second
on-demand pass (reports synced, idle links parked), after a tick that moved every node's
load (Prometheus ticking once a second) and with no tick since (ticking every 5 s); the
rooms placement reads for a pending array (each placement pass: once a second, or on every
change to the queue), also the first one after a new report set; and a tick's reports
landing in the source (on the event loop, and what the tick's worker thread does for them:
compare with the tick before, order by freeness). Medians of --runs calls (a tenth of them
for the pass and rooms, a twentieth for landing). To time another checkout's code, copy
this file into its bench/ and run it there (a tree whose PromSource has no land_reports
gets its reports set as its own ticks set them; one without promsource.landing lands them
on the loop).

Measured here (2 shared cores, other developers' tests running), 10,000 nodes, 32 linked,
three rounds alternating main at e8cc489 (its own bench, its .venv), this tree, and this
file in a copy of main's tree, no other benchmark running (two earlier sets, before reports
were kept per set, agree on the rest):
  placement's rooms               0.12 ms every round (main 0.15 ms; 0.11 ms before report
                                  sets were views, 55a88a0, when a dict copy a second cost
                                  2.6-3.0 ms; a view now keeps each node's judged report
                                  until the next set, as placement reads it twice a pass)
  ... the first after a new set   0.13 ms (main 3.20-3.26 ms, 3.19-3.70 over all sets: it
                                  sorted 10,000 reports read through the view; 1.8 ms at
                                  55a88a0 from a dict copy)
  a tick's reports landing        0.37-0.40 ms on the loop (main 1.12-1.24 ms), + 1.9 ms in
                                  the worker thread (compare 10,000 with the tick before and
                                  sort them by freeness, once per tick, jobs or not)
  on-demand pass, after a tick    0.07-0.14 ms (main 0.06-0.10 ms; 0.06-0.19 ms over all sets:
                                  the same code path, noise), 0.014 ms with no tick since
  a whole step, idle queue        0.10-0.11 ms mean (main 0.09-0.11 ms)
Beside these, a real tick now makes its reports in the worker thread too: report_of for
10,000 assembled samples took 10.5-10.9 ms of the event loop per tick.
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

from collectors import promsource  # noqa: E402
from collectors.model import NodeTarget  # noqa: E402
from collectors.promql import PromClient  # noqa: E402
from collectors.promsource import NodeNames, NodeReport, PromSource  # noqa: E402
from console.jobs.core import Options  # noqa: E402
from console.jobs.ondemand import NodeSource  # noqa: E402
from console.jobs.placement import Demand  # noqa: E402
from console.jobs.scheduler import Scheduler  # noqa: E402
from console.jobs.store import Store  # noqa: E402


class Standin:
    """Where a link's agent and events feed would be (makes Link.up true; nothing to close)."""

    def close(self) -> None:
        pass


def tick_reports(nodes: int, load: float) -> dict[str, NodeReport]:
    """One tick's reports: every node sampled now, its load moved."""
    now = time.time()
    return {f"n{i}": NodeReport(True, now, 4, 3800, load) for i in range(nodes)}


def tick(source: PromSource, nodes: int, load: float) -> None:
    """One tick's reports landing in the source."""
    reports = tick_reports(nodes, load)
    if hasattr(source, "land_reports"):
        source.land_reports(reports)
        source.commit_reports()
    else:               # a tree before report sets had versions: its tick assigned them
        for name, report in reports.items():
            source.sizes[name] = report


def prom_source(nodes: int) -> PromSource:
    source = PromSource(PromClient("http://127.0.0.1:9"), NodeNames())
    source.up.update((f"n{i}", True) for i in range(nodes))
    tick(source, nodes, 0.0)
    return source


def scheduler(store: Store, nodes: int, linked: int) -> Scheduler:
    now, prom = time.time(), prom_source(nodes)
    source = NodeSource(lambda: prom.reports(30.0), lambda name: NodeTarget(name, f"{name}.lab"))
    sched = Scheduler(store, [], Options(link_idle=1e9), nodes=source)
    sched.prom = prom               # type: ignore[attr-defined]   # the bench's ticks land here
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
    once-a-second pass included, its share spread over the steps), the source ticking once a
    second (its landing not timed: it is the source's, on the same loop in the console)."""
    sched = scheduler(store, nodes, linked)
    sched.options = replace(sched.options, use_load=False)   # stand-ins have no load to read
    times, end, next_tick = [], time.monotonic() + 2.0, time.monotonic() + 1.0
    while time.monotonic() < end:
        if time.monotonic() >= next_tick:
            tick(sched.prom, nodes, 1.0)
            next_tick += 1.0
        t0 = time.perf_counter()
        await sched.step()
        times.append(time.perf_counter() - t0)
        await asyncio.sleep(sched.options.tick)
    return statistics.mean(times) * 1000


def landing_ms(nodes: int, runs: int) -> tuple[float, float | None]:
    """A tick's reports landing in the source, median ms: on the event loop, and in the
    assembly's worker thread (None: a tree that compares and orders them on the loop)."""
    source = prom_source(nodes)
    sets = [tick_reports(nodes, i % 4 / 2) for i in range(runs)]
    loop, worker = [], []
    for reports in sets:
        t0 = time.perf_counter()
        made = promsource.landing(reports, source._last_reports) \
            if hasattr(promsource, "landing") else None
        t1 = time.perf_counter()
        if made is not None:
            source.land(made)
        elif hasattr(source, "land_reports"):
            source.land_reports(reports)
        else:
            for name, report in reports.items():
                source.sizes[name] = report
        if hasattr(source, "commit_reports"):
            source.commit_reports()
        loop.append(time.perf_counter() - t1)
        worker.append(t1 - t0)
    return statistics.median(loop) * 1000, \
        statistics.median(worker) * 1000 if hasattr(promsource, "landing") else None


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
        loads = iter(range(10**9))

        def ticked_pass() -> None:
            tick(sched.prom, args.nodes, next(loads) % 4 / 2)
            t0 = time.perf_counter()
            one_pass()
            spent.append(time.perf_counter() - t0)
        spent: list[float] = []
        for _ in range(max(1, args.runs // 10)):
            ticked_pass()
        after_tick = statistics.median(spent) * 1000
        walk = median_ms(max(1, args.runs // 10), one_pass)
        wide = [Demand(1, pending=100)]
        sched._rooms(now, wide)                  # the first after a sync sorts the reports
        rooms = median_ms(max(1, args.runs // 10), lambda: sched._rooms(now, wide))

        def after_sync() -> None:
            sched._freest = None                 # as _sync_nodes leaves it (no-op before)
            sched._rooms(now, wide)
        first = median_ms(max(1, args.runs // 10), after_sync)
        steps = await mean_step_ms(store, args.nodes, args.linked)
        on_loop, in_worker = landing_ms(args.nodes, max(1, args.runs // 20))
        worker = "" if in_worker is None else f" (+ {in_worker:.2f} ms in the worker thread)"
        print(f"{args.nodes} reported nodes, {args.linked} linked (medians): _check_nodes "
              f"{check * 1000:.1f} us, a walk of every link {every * 1000:.0f} us "
              f"({every / check:.0f}x); on-demand pass {after_tick:.3f} ms after a tick, "
              f"{walk:.3f} ms with no tick since; placement's rooms for "
              f"a pending array {rooms:.2f} ms ({first:.2f} ms the first after a sync); "
              f"a whole step, idle queue, {steps:.3f} ms (mean over 2 s); a tick's reports "
              f"landing {on_loop:.2f} ms on the loop{worker}")


if __name__ == "__main__":
    asyncio.run(main())
