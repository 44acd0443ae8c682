"""1,000 simulated nodes and roost headless in one process: connect-all time, CPU share, RSS.

    .venv/bin/python bench/bench_demo.py [--nodes 1000] [--windows 3] [--window 10]
                                         [--layout loop|thread] [--client roost|raw]
                                         [--sink jsonl|jsonl-series|prometheus] [--scrape S]
                                         [--compare [--runs N]]

--layout loop (default) is what `roost demo --headless` does: the simulator (console.demo: 1,000
asyncssh servers, one ticker) serves inside roost's own collection loop (run_collect's companion).
--layout thread runs the simulator on its own loop in a thread instead, so its CPU time can be
read apart from roost's (the "console share"). The client is roost's real headless collection
(console.collect.run_collect: transport, Fleet, sampler frames, build_sample, a sink), or with
--client raw bare asyncssh readers of the sampler channel: the floor roost's overhead is measured
against (LAB.md: ~12% of a core per side for 1,000 nodes).
Figures: connect-all (until every node's sampler channel streams), then over steady windows the
whole process's CPU as % of one core (thread layout: split simulator / roost), and RSS.
Targets: connect-all <= 5 s, whole process <= 35% of a core, <= 400 MB RSS. Prints medians.

Sink cost, apart from the rest (roost client only): the CPU time of the thread running each
sink's own work (the JSONL/SQLite write per tick, with the parse of the tick's frames; for
Prometheus, the parse and rendering of each scrape of a node's target), as % of one core.
`--scrape S` scrapes every node's /nodes/NAME/metrics every S s, each node at its own offset in
the interval as a Prometheus server spreads its targets (default: no scrape, so Prometheus costs
only the view), from a process of its own (--scraper), or a thread whose own CPU (the HTTP
client's side) is not counted in the process figure.
A thread's CPU time does not count other processes, so it holds on a busy machine.

--compare: the shard-cost figure (issue 13: one serve shard <= 1.5x bare readers). roost (with
--sink/--scrape as given) and the bare asyncssh readers run side by side, at the same time, each
in its own process with its own simulator thread (so each sees the same machine load); the
client sides are compared, per run and as medians over --runs runs.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.sinks.prometheus import CONSOLE_COLLECTORS  # noqa: E402
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


class SinkClock:
    """CPU seconds spent inside the sinks (thread CPU time, so other processes do not count)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def wrap(self, fn):
        def timed(*a, **kw):
            t0 = time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                with self._lock:
                    self.seconds += time.thread_time() - t0
        return timed

    def __call__(self) -> float:
        return self.seconds


SINK = SinkClock()
SCRAPER_CPU = [0.0]   # the scraper thread's own CPU seconds: Prometheus's cost, not roost's


def instrument_sinks(args) -> list:
    """Time Sinks.write and the rendering of every Prometheus scrape (a node target or the fleet
    page); returns where the server lands."""
    import collectors.sinks.prom_http as http
    import console.collect as collect
    collect.Sinks.write = SINK.wrap(collect.Sinks.write)
    http.Exposition.node = SINK.wrap(http.Exposition.node)
    http.Exposition.fleet = SINK.wrap(http.Exposition.fleet)
    servers: list = []
    if not hasattr(http, "start"):      # a tree from before the endpoint ran on the loop
        serve = http.serve
        http.serve = lambda *a, **kw: servers.append(serve(*a, **kw)[0]) or (servers[-1], None)
        return servers
    start = http.start

    async def started(*a, **kw):
        endpoint = await start(*a, **kw)
        servers.append(endpoint)
        return endpoint
    http.start = started
    return servers


def scraper(servers: list, names: list[str], every: float, stop: threading.Event,
            separate: bool = False) -> threading.Thread:
    """What a Prometheus server does with roost's targets: each node's /nodes/NAME/metrics once
    every `every` seconds, spread over the interval, over one keep-alive connection, gzip asked
    for as Prometheus asks. separate: from a process of its own (as Prometheus is), so the
    client's work neither counts nor holds roost's interpreter lock."""
    import http.client
    if separate:
        return _scraper_process(servers, names, every, stop)

    def loop() -> None:
        while not servers and not stop.wait(0.05):
            pass
        if not servers:
            return
        conn = http.client.HTTPConnection("127.0.0.1", servers[0].server_port, timeout=30)
        for due, name in spread(names, every):
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            conn.request("GET", f"/nodes/{name}/metrics", headers=PROMETHEUS_HEADERS)
            conn.getresponse().read()
            SCRAPER_CPU[0] = time.thread_time()
    thread = threading.Thread(target=loop, name="bench-scraper", daemon=True)
    thread.start()
    return thread


# what Prometheus 2.x sends with each scrape (a gzip body costs the target ~0.1 ms to make)
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip", "User-Agent": "Prometheus/2.42.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10"}


def spread(names: list[str], every: float) -> Iterator[tuple[float, str]]:
    """(when, node) for ever: each node once every `every` s at its own offset in the interval,
    as Prometheus spreads its targets' scrapes (a burst of all targets at once would put a
    whole round in some measuring windows and none in others)."""
    start, step = time.monotonic(), every / max(1, len(names))
    for round_ in itertools.count():
        for i, name in enumerate(names):
            yield start + round_ * every + i * step, name


_SCRAPER = """
import http.client, sys, time
sys.path.insert(0, sys.argv[1])
from bench_demo import PROMETHEUS_HEADERS, spread
port, every, names = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for due, name in spread(names, every):
    time.sleep(max(0.0, due - time.monotonic()))
    conn.request("GET", f"/nodes/{name}/metrics", headers=PROMETHEUS_HEADERS)
    conn.getresponse().read()
"""


def _scraper_process(servers: list, names: list[str], every: float,
                     stop: threading.Event) -> threading.Thread:
    """Start the scraper process once the endpoint listens; stop it with stop."""
    def run() -> None:
        while not servers and not stop.wait(0.05):
            pass
        if not servers:
            return
        proc = subprocess.Popen([sys.executable, "-c", _SCRAPER, str(Path(__file__).parent),
                                 str(servers[0].server_port),
                                 str(every), *names])
        stop.wait()
        proc.kill()
        proc.wait()
    thread = threading.Thread(target=run, name="bench-scraper-process", daemon=True)
    thread.start()
    return thread


class Monitor(threading.Thread):
    """Waits for every node to stream, then measures steady windows; then ends the client."""

    def __init__(self, fleet: DemoFleet, args, stop, sim_cpu=None):
        super().__init__(name="bench-monitor", daemon=True)
        self.fleet, self.args, self.stop_client, self.sim_cpu = fleet, args, stop, sim_cpu
        self.connect_s: float | None = None
        self.windows: list[tuple[float, float, float, float]] = []  # (total %, sim %, RSS MB, sinks %)
        self.streaming_after = 0    # nodes streaming when the windows ended
        self.t0 = time.monotonic()

    def streaming(self) -> int:
        return sum(1 for n in self.fleet._nodes if n.sessions)

    def run(self) -> None:
        deadline = self.t0 + 120
        while self.streaming() < self.args.nodes and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.streaming() == self.args.nodes:
            self.connect_s = time.monotonic() - self.t0
        time.sleep(self.args.warmup)
        for _ in range(self.args.windows):
            self.windows.append(self._window())
        self.streaming_after = self.streaming()
        self.stop_client()

    def _window(self) -> tuple[float, float, float, float]:
        clock = self.sim_cpu or (lambda: 0.0)
        w0, p0, s0, k0, c0 = time.monotonic(), process_cpu(), clock(), SINK(), SCRAPER_CPU[0]
        time.sleep(self.args.window)
        wall = time.monotonic() - w0
        # the process less the bench's own scraper (a Prometheus server's side of the scrapes)
        total = (process_cpu() - p0 - (SCRAPER_CPU[0] - c0)) / wall * 100
        sim = (clock() - s0) / wall * 100 if self.sim_cpu else float("nan")
        return total, sim, rss_mb(), (SINK() - k0) / wall * 100


def run_roost(fleet: DemoFleet, args, holder, same_loop: bool) -> int:
    from console.collect import CollectOptions, run_collect
    from console.demo.source import companion
    out = {"jsonl": dict(jsonl=os.devnull, prometheus=None, jsonl_format="plain"),
           "jsonl-series": dict(jsonl=os.devnull, prometheus=None, jsonl_format="series"),
           "prometheus": dict(jsonl=None, prometheus=("127.0.0.1", 0)),
           # what `roost serve` runs: the endpoint and the history DB
           "serve": dict(jsonl=None, prometheus=("127.0.0.1", 0),
                         db=str(Path(args.tmp) / "history.db"))}[args.sink]
    opts = CollectOptions(**out, collectors=tuple(args.collectors.split(",")) if args.collectors else None)
    holder.append(lambda: os.kill(os.getpid(), signal.SIGINT))
    servers = instrument_sinks(args)
    stop = threading.Event()
    if args.scrape and args.sink in ("prometheus", "serve"):
        scraper(servers, [t.name for t in fleet.targets()], args.scrape, stop,
                separate=args.scraper == "process")
    try:
        return run_collect(fleet.targets(), opts, companion=companion(fleet) if same_loop else None)
    finally:
        stop.set()


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


def run_raw(fleet: DemoFleet, args, holder, same_loop: bool) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        holder.append(lambda: loop.call_soon_threadsafe(stop.set))
        if same_loop:
            await fleet.start()
        slots = asyncio.Semaphore(64)
        await asyncio.gather(*(_raw_node(t, stop, slots) for t in fleet.targets()),
                             return_exceptions=True)
        if same_loop:
            await fleet.stop()
    asyncio.run(main())
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--window", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=None, metavar="S",
                   help="seconds from all nodes streaming to the first window (default 5; with "
                        "--scrape, the scrape interval + 5: the first round of scrapes makes "
                        "each node's caches, a shard's once in its life, and is not measured)")
    p.add_argument("--client", choices=("roost", "raw"), default="roost")
    p.add_argument("--sink", choices=("jsonl", "jsonl-series", "prometheus", "serve"),
                   default="jsonl", help="jsonl: the plain format (default); jsonl-series: "
                   "Prometheus series keys; serve: Prometheus and the SQLite history, as roost serve")
    p.add_argument("--scrape", type=float, default=0.0, metavar="S",
                   help="with --sink prometheus: scrape /metrics every S seconds (default: never)")
    p.add_argument("--scraper", choices=("thread", "process"), default="process",
                   help="with --scrape: scrape from a process of its own, as Prometheus does "
                        "(default), or from a thread of roost's process (its CPU not counted, "
                        "but it takes roost's interpreter lock)")
    p.add_argument("--collectors", default="", metavar="LIST",
                   help="a node target's collectors, comma-separated, as [serve] collectors "
                        "(default: all); e.g. the console's: " + ",".join(CONSOLE_COLLECTORS))
    p.add_argument("--layout", choices=("loop", "thread"), default="loop")
    p.add_argument("--compare", action="store_true",
                   help="roost and bare readers side by side (thread layout); prints the ratio")
    p.add_argument("--runs", type=int, default=3, help="with --compare: how many side-by-side runs")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # --compare's children
    args = p.parse_args()
    if args.warmup is None:
        args.warmup = 5.0 + (args.scrape if args.sink in ("prometheus", "serve") else 0.0)
    if args.compare:
        return compare(args)
    with tempfile.TemporaryDirectory(prefix="roost-bench-") as tmp:
        args.tmp = tmp
        t0 = time.monotonic()
        fleet = DemoFleet(args.nodes, seed=1, steady=True, state_dir=Path(tmp))
        runner = None
        if args.layout == "thread":
            runner = FleetThread(fleet)
            runner.start()
        else:
            fleet.prepare()
        started = time.monotonic() - t0
        holder: list = []
        monitor = Monitor(fleet, args, lambda: holder[0](),
                          runner.cpu_seconds if runner else None)
        monitor.start()
        client = run_roost if args.client == "roost" else run_raw
        try:
            client(fleet, args, holder, same_loop=runner is None)
        finally:
            if runner:
                runner.stop()
            else:
                fleet.cleanup()
        monitor.join(5)
    report(args, started, monitor)
    return 0


def report(args, started: float, m: Monitor) -> None:
    med = lambda i: statistics.median(w[i] for w in m.windows)  # noqa: E731
    total, sim, rss, sinks = med(0), med(1), med(2), med(3)
    if args.json:
        print(json.dumps({"total": total, "sim": sim, "side": total - sim, "rss": rss,
                          "sinks": sinks, "connect": m.connect_s, "streaming": m.streaming_after}))
        return
    connect = f"{m.connect_s:.2f} s" if m.connect_s is not None else "NOT ALL CONNECTED"
    scrape = f", scraped every {args.scrape:g} s" if args.scrape and args.sink in ("prometheus", "serve") else ""
    client = ("roost headless (" + args.sink + " sink" + scrape + ")" if args.client == "roost"
              else "raw asyncssh readers")
    layout = "one loop" if args.layout == "loop" else "simulator in its own thread"
    print(f"bench_demo: {args.nodes} nodes, 1 Hz, client = {client}, {layout}; "
          f"medians of {len(m.windows)} x {args.window:g} s windows")
    print(f"  fleet prepare/start (keys, ports):  {started:6.2f} s")
    print(f"  connect-all:                        {connect:>8}   (target <= 5 s)")
    print(f"  whole process CPU:                  {total:6.1f} % of one core   (target <= 35 %)")
    if args.layout == "thread":
        side = "roost (console) side:" if args.client == "roost" else "raw client side:"
        print(f"    simulator thread:                 {sim:6.1f} %")
        print(f"    {side:34}{total - sim:6.1f} %   (LAB.md raw asyncssh ~12 % per side)")
    if args.client == "roost":
        mean = statistics.fmean(w[3] for w in m.windows)
        print(f"  sink CPU (write / scrape render):   {sinks:6.2f} % of one core "
              f"(mean of the windows {mean:.2f} %: a scrape lands in some windows only)")
    print(f"  RSS:                                {rss:6.0f} MB   (target <= 400 MB)")
    print("  windows (total %, sim %, RSS MB, sink %): "
          + "; ".join(f"{t:.1f}, {s:.1f}, {r:.0f}, {k:.2f}" for t, s, r, k in m.windows))


def compare(args) -> int:
    """roost and the bare readers at the same time, each in its own process, args.runs times."""
    common = [sys.executable, __file__, "--layout", "thread", "--json", "--nodes", str(args.nodes),
              "--windows", str(args.windows), "--window", str(args.window),
              "--warmup", str(args.warmup)]
    roost_args = ["--client", "roost", "--sink", args.sink, "--scrape", str(args.scrape),
                  "--scraper", args.scraper, "--collectors", args.collectors]
    rows = []
    for run in range(args.runs):
        load = os.getloadavg()[0]
        procs = {c: subprocess.Popen(common + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
                 for c, extra in (("roost", roost_args), ("raw", ["--client", "raw"]))}
        out = {c: _child(p) for c, p in procs.items()}
        roost, raw = out["roost"], out["raw"]
        # on a loaded machine some handshakes time out: compare per streaming node too
        per_node = (roost["side"] / max(1, roost["streaming"])) / (raw["side"] / max(1, raw["streaming"]))
        row = (roost["side"], raw["side"], roost["side"] / raw["side"], load, os.getloadavg()[0],
               roost["downs"], roost["rss"], roost["streaming"], raw["streaming"], per_node)
        rows.append(row)
        print(f"  run {run + 1}: roost {row[0]:5.1f} %, bare readers {row[1]:5.1f} % of a core: "
              f"{row[2]:.2f}x, per streaming node {per_node:.2f}x  (load {row[3]:.1f} -> "
              f"{row[4]:.1f}; nodes streaming at the end {row[7]} / {row[8]}; roost: {row[5]} "
              f"down notes, RSS {row[6]:.0f} MB)", flush=True)
    scrape = f", scraped every {args.scrape:g} s" if args.scrape and args.sink in ("prometheus", "serve") else ""
    med = lambda i: statistics.median(r[i] for r in rows)  # noqa: E731
    print(f"bench_demo --compare: {args.nodes} nodes, 1 Hz, roost headless ({args.sink} sink"
          f"{scrape}) beside bare asyncssh readers, simulators in their own threads; medians of "
          f"{len(rows)} runs x {args.windows} x {args.window:g} s windows")
    print(f"  roost side {med(0):.1f} %, bare readers {med(1):.1f} % of one core: "
          f"ratio {med(2):.2f}x, per streaming node {med(9):.2f}x (medians of the per-run "
          f"ratios; target <= 1.5x)")
    return 0


def _child(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"bench_demo child failed (status {proc.returncode}): {stderr[-500:]}")
    result = json.loads(lines[-1])
    result["downs"] = sum(" down: " in line for line in stderr.splitlines())
    return result


if __name__ == "__main__":
    sys.exit(main())
