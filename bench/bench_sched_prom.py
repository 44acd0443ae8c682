"""The built-in scheduler on the Prometheus source (links on demand, through the SSH pool) vs
the held-links scheduler (a connection to every node at start), side by side in one run.

    .venv/bin/python bench/bench_sched_prom.py [--nodes 12] [--tasks 200] [--cores 2] [--runs 3]

A lab of real sshd nodes (each reading a procfs with --cores cores and no load) behind one
`roost serve` shard that a real Prometheus scrapes every second (tests/lab/prometheus.py). Each
round runs an array of --tasks trivial tasks (`true`, output to /dev/null) three ways, in turn:
held links, on demand (max_links 64), and on demand with max_links 4. The time counts from the
scheduler's start (its connections included) to the array's end. Prints per way the median
tasks/s and the SSH connections it opened. Needs root, sshd, prometheus.

Measured here (2 shared cores, load average 5-7 from other work): 200 tasks on 12 nodes x 2
cores, held links 226 tasks/s with 12 connections, on demand 211 tasks/s with 12, max_links 4
241 tasks/s with 4; --tasks 2: held links 12 connections, on demand 2.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.transport import connect as transport_connect  # noqa: E402
from console.config import load_config  # noqa: E402
from console.jobs.core import Options  # noqa: E402
from console.jobs.directives import build_spec, parse_submit_argv, wrap_script  # noqa: E402
from console.jobs.ondemand import NodeSource, pool_connect  # noqa: E402
from console.jobs.scheduler import Scheduler  # noqa: E402
from console.jobs.store import Store  # noqa: E402
from console.promfleet import open_prom_source, with_source_thresholds  # noqa: E402
from tests.helpers.sched_fleet import fake_proc, nodes_toml, serve_shard  # noqa: E402
from tests.lab.prometheus import NamedLab, PromLab  # noqa: E402
from tests.lab.sshd import ensure_user  # noqa: E402

JOB = "bench"


def submit(store: Store, tasks: int, work: Path) -> int:
    cli = parse_submit_argv(["--array", f"1-{tasks}", "-o", "/dev/null"])
    return store.submit(build_spec(cli, wrap_script("true"), "--wrap", submit_dir=str(work)))


async def run_held(config, store: Store, options: Options, tasks: int, work: Path) -> tuple[float, int]:
    opened = 0

    async def counting(target):
        nonlocal opened
        opened += 1
        return await transport_connect(target)
    targets = [t for t in config.targets() if not t.local]
    t0 = time.perf_counter()
    sched = Scheduler(store, targets, options, counting)
    await sched.start()
    job = submit(store, tasks, work)
    await sched.run(until_job=job)
    wall = time.perf_counter() - t0
    await sched.close()
    return tasks / wall, opened


async def run_on_demand(config, store: Store, options: Options, tasks: int,
                        work: Path) -> tuple[float, int]:
    source = open_prom_source(config)
    await source.start()
    try:
        names = {t.name for t in config.targets()}
        while not all(r.up and r.cores for n, r in source.reports(30.0).items() if n in names) \
                or not names <= source.reports(30.0).keys():
            await asyncio.sleep(0.1)        # the first tick: every node's size known
        assert source.pool is not None
        stale = config.thresholds.stale_after
        nodes = NodeSource(lambda: source.reports(stale), source.target_of)
        targets = [t for t in config.targets() if not t.local]
        t0 = time.perf_counter()
        sched = Scheduler(store, targets, options, pool_connect(source.pool), nodes=nodes)
        await sched.start()
        job = submit(store, tasks, work)
        await sched.run(until_job=job)
        wall = time.perf_counter() - t0
        await sched.close()
        return tasks / wall, source.pool.opened
    finally:
        await source.stop()


async def rounds(config, args, work: Path) -> dict[str, list[tuple[float, int]]]:
    base = dataclasses.replace(Options.from_config(config.jobs), tick=0.02)
    ways = {"held links": (run_held, base),
            "on demand": (run_on_demand, base),
            "on demand, max_links 4": (run_on_demand, dataclasses.replace(base, max_links=4))}
    out: dict[str, list[tuple[float, int]]] = {w: [] for w in ways}
    for i in range(args.runs):
        for way, (fn, options) in ways.items():
            with Store(work / f"{i}-{len(out[way])}-{way[:4]}.db") as store:
                out[way].append(await fn(config, store, options, args.tasks, work))
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=12)
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    ensure_user()
    work = Path(tempfile.mkdtemp(prefix="roost-bench-sched-"))
    lab = PromLab(work / "prom", NamedLab())
    (work / "prom").mkdir()
    try:
        lab.start()
        nodes = lab.ssh.start(args.nodes)
        procs = [fake_proc(work / n.name, args.cores, "0.00") for n in nodes]
        with serve_shard(lab, lab.ssh, nodes, procs, work, JOB):
            extra = (f'[source]\nprometheus = "{lab.url}"\nselector = \'job="{JOB}"\'\n'
                     'interval = 1\nscrape_interval = 1\n\n[jobs]\nlimits = "off"\n')
            (work / "roost.toml").write_text(nodes_toml(lab.ssh, nodes, procs, extra))
            config = with_source_thresholds(load_config(work / "roost.toml",
                                                        state_dir=work / "state"))
            results = asyncio.run(rounds(config, args, work))
        print(f"{args.tasks} tasks (`true`) on {args.nodes} lab sshd nodes x {args.cores} cores "
              f"(behind one roost serve shard, Prometheus scraping 1 s), {args.runs} runs, medians:")
        for way, runs in results.items():
            rate = statistics.median(r for r, _ in runs)
            conns = statistics.median(c for _, c in runs)
            each = ", ".join(f"{r:.0f}" for r, _ in runs)
            print(f"  {way:24s} {rate:7.1f} tasks/s   {conns:4.0f} SSH connections opened"
                  f"   (runs: {each})")
        held = statistics.median(r for r, _ in results["held links"])
        ondemand = statistics.median(r for r, _ in results["on demand"])
        print(f"  on demand / held links: {ondemand / held:.2f}x")
    finally:
        lab.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
