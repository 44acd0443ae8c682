"""1,000 simulated nodes and roost headless in one process: connect-all time, CPU share, RSS.

    .venv/bin/python bench/bench_demo.py [--nodes 1000] [--windows 3] [--window 10]
                                         [--client roost|raw] [--sink jsonl|prometheus]

The simulator (console.demo: 1,000 asyncssh servers, one ticker) runs on its own loop in a thread,
exactly as `roost demo --headless` runs it; the main thread runs roost's real headless collection
(console.collect.run_collect: transport, Fleet, sampler frames, build_sample, a sink). The figures:
connect-all (until every node's sampler channel streams), then over a few steady windows the whole
process's CPU as % of one core, split into the simulator thread and the rest (roost), and RSS.
--client raw swaps roost for bare asyncssh clients that only read the sampler channel: the floor
roost's overhead is measured against (LAB.md: ~12% of a core per side for 1,000 nodes).
Targets: connect-all <= 5 s, whole process <= 35% of a core, <= 400 MB RSS. Prints medians.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.demo.fleet import DemoFleet  # noqa: E402
from console.demo.runner import FleetThread  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def process_cpu() -> float:
    t = os.times()
    return t.user + t.system


class Monitor(threading.Thread):
    """Waits for every node to stream, then measures steady windows; then ends the client."""

    def __init__(self, runner: FleetThread, args, stop):
        super().__init__(name="bench-monitor", daemon=True)
        self.runner, self.args, self.stop_client = runner, args, stop
        self.connect_s: float | None = None
        self.windows: list[tuple[float, float, float]] = []   # (total %, simulator %, rss MB)
        self.t0 = time.monotonic()

    def streaming(self) -> int:
        return sum(1 for n in self.runner.fleet._nodes if n.sessions)

    def run(self) -> None:
        deadline = self.t0 + 120
        while self.streaming() < self.args.nodes and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.streaming() == self.args.nodes:
            self.connect_s = time.monotonic() - self.t0
        time.sleep(self.args.warmup)
        for _ in range(self.args.windows):
            self.windows.append(self._window())
        self.stop_client()

    def _window(self) -> tuple[float, float, float]:
        w0, p0, s0 = time.monotonic(), process_cpu(), self.runner.cpu_seconds()
        time.sleep(self.args.window)
        wall = time.monotonic() - w0
        total = (process_cpu() - p0) / wall * 100
        sim = (self.runner.cpu_seconds() - s0) / wall * 100
        return total, sim, rss_mb()


def run_roost(targets, args, monitor_stop_holder) -> int:
    from console.collect import run_collect
    out = {"jsonl": dict(jsonl=os.devnull, prometheus=None),
           "prometheus": dict(jsonl=None, prometheus=("127.0.0.1", 0))}[args.sink]
    ns = argparse.Namespace(once=False, interval=None, count=None, duration=None, db=None,
                            retention=None, format=None, local=False, procfs=None, sysfs=None,
                            state_dir=None, **out)
    monitor_stop_holder.append(lambda: os.kill(os.getpid(), signal.SIGINT))
    return run_collect(targets, ns)


async def _raw_node(target, stop: asyncio.Event, slots: asyncio.Semaphore) -> None:
    import asyncssh
    from collectors.probe import sampler_command
    async with slots:  # the same handshake concurrency as roost's Fleet
        conn = await asyncssh.connect(target.host, target.port, username=target.user,
                                      client_keys=list(target.identity_files),
                                      known_hosts=target.known_hosts[0])
    async with conn:
        proc = await conn.create_process(sampler_command(target), encoding=None)
        reader = asyncio.ensure_future(_drain(proc))
        await stop.wait()
        reader.cancel()


async def _drain(proc) -> None:
    while await proc.stdout.read(1 << 16):
        pass


def run_raw(targets, args, monitor_stop_holder) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        monitor_stop_holder.append(lambda: loop.call_soon_threadsafe(stop.set))
        slots = asyncio.Semaphore(64)
        await asyncio.gather(*(_raw_node(t, stop, slots) for t in targets),
                             return_exceptions=True)
    asyncio.run(main())
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--window", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--client", choices=("roost", "raw"), default="roost")
    p.add_argument("--sink", choices=("jsonl", "prometheus"), default="jsonl")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="roost-bench-") as tmp:
        t0 = time.monotonic()
        runner = FleetThread(DemoFleet(args.nodes, seed=1, steady=True, state_dir=Path(tmp)))
        runner.start()
        started = time.monotonic() - t0
        holder: list = []
        monitor = Monitor(runner, args, lambda: holder[0]())
        monitor.start()
        try:
            (run_roost if args.client == "roost" else run_raw)(runner.fleet.targets(), args, holder)
        finally:
            runner.stop()
        monitor.join(5)
    report(args, started, monitor)
    return 0


def report(args, started: float, m: Monitor) -> None:
    med = lambda i: statistics.median(w[i] for w in m.windows)  # noqa: E731
    total, sim, rss = med(0), med(1), med(2)
    connect = f"{m.connect_s:.2f} s" if m.connect_s is not None else "NOT ALL CONNECTED"
    client = "roost headless" if args.client == "roost" else "raw asyncssh readers"
    print(f"bench_demo: {args.nodes} nodes, 1 Hz, client = {client}"
          f"{' (' + args.sink + ' sink)' if args.client == 'roost' else ''}; "
          f"medians of {len(m.windows)} x {args.window:g} s windows")
    print(f"  fleet start (keys + listeners):  {started:6.2f} s")
    print(f"  connect-all:                     {connect:>8}   (target <= 5 s)")
    print(f"  whole process CPU:               {total:6.1f} % of one core   (target <= 35 %)")
    print(f"    simulator thread:              {sim:6.1f} %")
    print(f"    {'roost (console) side:' if args.client == 'roost' else 'raw client side:':31}"
          f"{total - sim:6.1f} %   (LAB.md raw asyncssh floor ~12 % per side)")
    print(f"  RSS:                             {rss:6.0f} MB   (target <= 400 MB)")
    print("  windows (total %, sim %, RSS MB): "
          + "; ".join(f"{t:.1f}, {s:.1f}, {r:.0f}" for t, s, r in m.windows))


if __name__ == "__main__":
    sys.exit(main())
