"""Scale benchmark: simulated fleets in shard processes, each with its serve, scraped by a real
Prometheus, and the console on the Prometheus source; then the same console on direct SSH.

    .venv/bin/python bench/bench_scale.py [--shards 3] [--nodes 1000] [--sample 5]
                                          [--scrape 15] [--refresh 5] [--seconds 60]
                                          [--ssh-nodes 1000] [--no-ssh] [--rules]
                                          [--enough 0.9] [--stalls MS] [--keys 60]

Each shard is `roost demo --headless --nodes N --steady --interval SAMPLE --prometheus
127.0.0.1:PORT` (demo boards on real SSH servers in that process, collected by roost, served as
per-node targets with /sd). Prometheus (Debian's) finds every shard through http_sd; because
every demo fleet names its boards alike (pi4-001 ...), the scrape config prefixes instance with
the shard (relabelling on __meta_url), and keeps only the series the console reads
(metric_relabel_configs), as a site would to size its TSDB. The console runs headless in this
process (RoostApp under Pilot) on [source] prometheus with a REFRESH-second tick; with --rules,
Prometheus also loads examples/prometheus/roost-rules.yml and the console runs a second time
on them (the rules file's [source.queries]), against the same shards and Prometheus.

Reported, after every node is up with CPU rates: console CPU (% of one core, this process:
the PromQL client, the assembly into FleetState, the screens), event-loop lag, fleet-table and
heatmap refresh CPU, a key -> repainted frame (p50/p95), Prometheus query time per tick (total
and per family), and the CPU of Prometheus and of the shards over the same window. Then, unless
--no-ssh, bench_console's run of the same console on direct SSH to SSH_NODES demo nodes at 1 Hz.
--stalls MS: every event-loop stall over MS ms of each console, with every thread's stack during
it and the GC passes in it (bench/stalls.py), printed after that console's figures.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psutil  # noqa: E402
from bench_console import key_to_repaint, line, live, loop_lag, pct, timed_refreshes  # noqa: E402
from stalls import StallTrace  # noqa: E402

from collectors.promsource import FAMILIES  # noqa: E402
from console.app import console_app  # noqa: E402
from console.config import load_config  # noqa: E402
from console.promfleet import open_prom_source, with_source_thresholds  # noqa: E402
from console.state import UP  # noqa: E402
from tests.helpers.rules import RULES, documented_queries  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
ROOST = ROOT / ".venv" / "bin" / "roost"
KEEP = ("up|node_cpu_seconds_total|node_load1|node_load5|node_load15|node_memory_MemTotal_bytes|"
        "node_memory_MemAvailable_bytes|node_thermal_zone_temp|node_hwmon_temp_celsius|"
        "node_hwmon_fan_rpm|node_hwmon_pwm|node_cpu_scaling_frequency_hertz|"
        "node_cpu_scaling_frequency_max_hertz|node_network_receive_bytes_total|"
        "node_network_transmit_bytes_total|node_filesystem_size_bytes|node_filesystem_free_bytes|"
        "node_filesystem_avail_bytes|node_filesystem_readonly|node_uname_info")


def free_port() -> int:
    """A free port below Linux's ephemeral range: the demo fleets' thousands of SSH servers
    take ephemeral ports, and one of them could take a port picked there first."""
    import random
    while True:
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def get(url: str, timeout: float = 5.0) -> bytes | None:
    import http.client
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read()
    except (OSError, http.client.HTTPException):
        return None


def wait(cond, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        for p in procs:
            if p.poll() is not None:
                raise SystemExit(f"{p.args[:3]} exited {p.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def niced(nice: int):
    """A Popen preexec_fn that lowers the child's priority (None for 0)."""
    return (lambda: os.nice(nice)) if nice else None


def start_shards(d: Path, shards: int, nodes: int, sample: float,
                 out: list[tuple[subprocess.Popen, int]], nice: int = 0
                 ) -> list[tuple[subprocess.Popen, int]]:
    """Start the shards into out (so they are stopped even when one fails to come up)."""
    for i in range(shards):
        port = free_port()
        with open(d / f"shard{i}.log", "wb") as log:
            proc = subprocess.Popen(
                [str(ROOST), "--state-dir", str(d / f"shard{i}"), "demo", "--headless", "--nodes",
                 str(nodes), "--seed", str(i + 1), "--steady", "--interval", str(sample),
                 "--prometheus", f"127.0.0.1:{port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "HOME": str(d)}, preexec_fn=niced(nice))
        out.append((proc, port))
    for proc, port in out:
        wait(lambda port=port: _sd_count(port) == nodes, 300, f"shard :{port} /sd", [proc])
    return out


def _sd_count(port: int) -> int:
    body = get(f"http://127.0.0.1:{port}/sd")
    return len(json.loads(body)) if body else 0


def start_prometheus(d: Path, ports: list[int], scrape: float,
                     rules: Path | None = None, nice: int = 0) -> tuple[subprocess.Popen, str]:
    port = free_port()
    urls = "".join(f"      - url: http://127.0.0.1:{p}/sd\n" for p in ports)
    (d / "prom.yml").write_text(
        (f"rule_files: [{rules}]\n" if rules else "")
        + f"global:\n  scrape_interval: {scrape:g}s\n  scrape_timeout: {min(scrape, 10):g}s\n"
        f"scrape_configs:\n  - job_name: shards\n    http_sd_configs:\n{urls}"
        "    relabel_configs:\n"
        "      - source_labels: [__meta_url]\n        regex: '.*:(\\d+)/sd'\n"
        "        target_label: shard\n        replacement: 's$1'\n"
        "      - source_labels: [shard, instance]\n        separator: '-'\n"
        "        target_label: instance\n"
        f"    metric_relabel_configs:\n      - source_labels: [__name__]\n"
        f"        regex: '{KEEP}'\n        action: keep\n")
    with open(d / "prometheus.log", "wb") as log:
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={d / 'prom.yml'}",
                                 f"--storage.tsdb.path={d / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=niced(nice))
    url = f"http://127.0.0.1:{port}"
    wait(lambda: get(f"{url}/-/ready") is not None, 60, "Prometheus ready", [proc])
    return proc, url


def query(url: str, expr: str) -> list:
    body = get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}), 30)
    return json.loads(body)["data"]["result"] if body else []


def count_of(url: str, expr: str) -> int:
    rows = query(url, f"count({expr})")
    return int(float(rows[0]["value"][1])) if rows else 0


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            for q in [p] + p.children(recursive=True):
                t = q.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


async def console_on_prometheus(d: Path, url: str, total: int, args, rules: bool) -> dict:
    (d / "roost.toml").write_text(
        f'[source]\nprometheus = "{url}"\nselector = \'job="shards"\'\n'
        f"interval = {args.refresh}\nscrape_interval = {args.scrape}\n"
        + (f"budget = {args.budget}\n" if args.budget else "")
        + (documented_queries(RULES) if rules else ""))
    config = with_source_thresholds(load_config(d / "roost.toml", state_dir=d / "console"))
    source = open_prom_source(config)
    app = console_app(config, source, refresh=args.refresh)
    trace = stall_trace(args, d, rules)
    async with app.run_test(size=(200, 50)) as pilot:
        with trace or contextlib.nullcontext():
            res = await measure(app, pilot, source, args, total, trace)
    if trace is not None:
        print(trace.report(), flush=True)
    return res


async def measure(app, pilot, source, args, total: int, trace: StallTrace | None) -> dict:
    res: dict = {}
    t0 = told = time.monotonic()
    while (up := sum(1 for n in app.state.nodes.values()
                     if n.state == UP and n.cpu is not None)) < args.enough * total:
        if time.monotonic() - t0 > 600:
            raise SystemExit(f"console: {len(app.state.nodes)} nodes seen, not all up")
        if time.monotonic() - told > 30:     # say why it waits (a tick over its budget ...)
            told, last = time.monotonic(), source.ticks[-1] if source.ticks else None
            print(f"console: {up} of {total} up; last tick "
                  f"{last.seconds if last else 0:.1f} s {last.error if last else ''}", flush=True)
        await pilot.pause(0.5)
    res["all_up_s"], res["up_at_start"] = time.monotonic() - t0, up
    if trace is not None:
        print(f"stall trace: measuring from {time.perf_counter() - trace.t0:.3f} s", flush=True)
    print(f"console: {up} of {total} nodes up with CPU after {res['all_up_s']:.0f} s", flush=True)
    refreshes: list[float] = []
    timed_refreshes(app, refreshes)
    prom = [psutil.Process(p) for p in args.prom_pids]
    shards = [psutil.Process(p) for p in args.shard_pids]
    ticks0 = len(source.ticks)
    cpu0, wall0 = time.process_time(), time.monotonic()
    prom0, shards0 = cpu_seconds(prom), cpu_seconds(shards)
    res["lag"] = await loop_lag(args.seconds)
    wall = time.monotonic() - wall0
    res["cpu_pct"] = 100 * (time.process_time() - cpu0) / wall
    res["prom_pct"] = 100 * (cpu_seconds(prom) - prom0) / wall
    res["shards_pct"] = 100 * (cpu_seconds(shards) - shards0) / wall
    res["ticks"] = list(source.ticks)[ticks0:]
    res["refresh_ms"] = refreshes
    if trace is not None:
        print(f"stall trace: keys from {time.perf_counter() - trace.t0:.3f} s", flush=True)
    res["keys_ms"] = await key_to_repaint(app, pilot, args.keys)
    if trace is not None:
        print(f"stall trace: keys {' '.join(f'{k:.0f}' for k in res['keys_ms'])} ms", flush=True)
    await pilot.press("h")
    heat: list[float] = []
    timed_refreshes(app, heat)
    await loop_lag(max(3 * args.refresh, 10))
    res["heat_refresh_ms"] = heat
    res["nodes"] = len(app.state.nodes)
    return res


def stall_trace(args, d: Path, rules: bool) -> StallTrace | None:
    """--stalls MS: every loop stall over MS with the stacks and GC passes in it (bench/stalls.py)."""
    if not args.stalls:
        return None
    return StallTrace(args.stalls, d / f"stalls{'-rules' if rules else ''}.txt")


def report_prom(res: dict, args, total: int, rules: bool) -> None:
    ticks = [t for t in res["ticks"] if not t.error]
    print(f"\n== console on [source] prometheus{' reading roost-rules.yml' if rules else ''}: "
          f"{args.shards} shards x {args.nodes} demo nodes "
          f"= {total} nodes (sampled every {args.sample:g} s, scraped every {args.scrape:g} s, "
          f"console tick {args.refresh:g} s); {res['nodes']} nodes shown, {res['up_at_start']} up "
          f"with CPU after {res['all_up_s']:.0f} s")
    print(f"console CPU                        {res['cpu_pct']:.1f} % of one core (target <= 20 %)")
    print(f"Prometheus CPU (same window)       {res['prom_pct']:.1f} % of one core")
    print(f"shards CPU ({args.shards} processes, same window) {res['shards_pct']:.1f} % of one core")
    print(line("event-loop lag (10 ms timer)", res["lag"]))
    print(line("fleet refresh (CPU)", res["refresh_ms"]))
    print(line("heatmap refresh (CPU)", res["heat_refresh_ms"]))
    print(line("key '>' to re-sorted frame", res["keys_ms"]))
    if ticks:
        print(line("tick: queries sent -> fleet assembled", [t.seconds * 1000 for t in ticks]))
        print(line("query time per tick (sum of families)",
                   [sum(t.families.values()) * 1000 for t in ticks]))
        for fam in FAMILIES:
            vals = [t.families[fam] * 1000 for t in ticks if fam in t.families]
            late = sum(1 for t in ticks if fam in t.late)
            if vals:
                print(f"    {fam:<8} p50 {statistics.median(vals):7.1f} ms   p95 "
                      f"{pct(vals, 0.95):7.1f} ms   sent in {len(vals)} of {len(ticks)} ticks, "
                      f"late in {late}")
    late = [t for t in ticks if t.late]
    print(f"failed ticks: {sum(1 for t in res['ticks'] if t.error)} of {len(res['ticks'])} "
          f"({sum(1 for t in res['ticks'] if t.slow)} slow); ticks with a family still running "
          f"at the budget (last reply kept): {len(late)} "
          f"({', '.join(sorted({f for t in late for f in t.late})) or '-'})")


def report_ssh(res: dict, nodes: int) -> None:
    print(f"\n== the same console on direct SSH: {nodes} demo nodes at 1 Hz (demo in a child "
          f"process); all up after {res['all_up_s']:.0f} s")
    print(f"console CPU                        {res['cpu_pct']:.1f} % of one core, "
          f"{res['items_per_s']:.0f} items/s")
    print(line("event-loop lag (10 ms timer)", res["lag"]))
    print(line("fleet refresh (1 Hz, CPU)", res["refresh_ms"]))
    print(line("heatmap refresh (1 Hz, CPU)", res["heat_refresh_ms"]))
    print(line("key '>' to re-sorted frame", res["keys_ms"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=1000, help="demo nodes per shard")
    ap.add_argument("--sample", type=float, default=5.0, help="shards' sampling interval, s")
    ap.add_argument("--scrape", type=float, default=15.0, help="Prometheus scrape interval, s")
    ap.add_argument("--refresh", type=float, default=5.0, help="console tick, s")
    ap.add_argument("--budget", type=float, default=None,
                    help="[source] budget, s (default 0.8 x refresh)")
    ap.add_argument("--seconds", type=float, default=60.0, help="measuring window, s")
    ap.add_argument("--ssh-nodes", type=int, default=1000)
    ap.add_argument("--no-ssh", action="store_true")
    ap.add_argument("--keys", type=int, default=60,
                    help="'>' keys timed per console, 0.2 s apart: 60 span three 5 s ticks, so "
                         "keys land while a tick is drained too (20 fit between two ticks)")
    ap.add_argument("--enough", type=float, default=1.0,
                    help="share of the nodes that must be up before measuring (0-1)")
    ap.add_argument("--rules", action="store_true",
                    help="Prometheus loads examples/prometheus/roost-rules.yml; the console runs "
                         "on the shipped queries, then again on the rules ([source.queries])")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the shards, Prometheus and the peer's simulated nodes at this "
                         "niceness: they stand in for other machines, so the console's key "
                         "figures measure the console, not its share of this one")
    ap.add_argument("--stalls", type=float, default=0.0, metavar="MS",
                    help="trace every event-loop stall over MS ms: all threads' stacks during it "
                         "and the GC passes in it (bench/stalls.py)")
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="roost-scale-"))
    procs: list[subprocess.Popen] = []
    try:
        t0 = time.monotonic()
        shards: list = []
        try:
            start_shards(d, args.shards, args.nodes, args.sample, shards, args.nice)
        finally:
            procs += [p for p, _ in shards]
        prom, url = start_prometheus(d, [port for _, port in shards], args.scrape,
                                     RULES if args.rules else None, args.nice)
        procs.append(prom)
        total = args.shards * args.nodes
        # a starved shard can miss its scrape timeout: wait for nearly all (--enough), say how many
        wait(lambda: count_of(url, 'up{job="shards"} == 1') >= args.enough * total, 600,
             "targets up", procs)
        wait(lambda: count_of(url, 'rate(node_cpu_seconds_total{job="shards",mode="idle",cpu="0"}'
                                   f'[{4 * args.scrape:g}s])') >= args.enough * total,
             600, "rates for every node", procs)
        body = get(f"{url}/api/v1/status/tsdb", 30)      # cheaper than count({job=...}) here
        series = json.loads(body)["data"]["headStats"]["numSeries"] if body else 0
        up = count_of(url, 'up{job="shards"} == 1')
        print(f"setup: {up} of {total} targets up with rates after {time.monotonic() - t0:.0f} s; "
              f"{series} series in Prometheus", flush=True)
        args.prom_pids, args.shard_pids = [prom.pid], [p.pid for p, _ in shards]
        for rules in (False, True) if args.rules else (False,):
            res = asyncio.run(console_on_prometheus(d, url, total, args, rules))
            report_prom(res, args, total, rules)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)
    if not args.no_ssh:
        report_ssh(asyncio.run(live(args.ssh_nodes, args.seconds, args.nice)), args.ssh_nodes)


if __name__ == "__main__":
    main()
