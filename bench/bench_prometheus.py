"""Per-node Prometheus targets at fleet scale: what scraping 1,000 demo nodes costs roost.

    .venv/bin/python bench/bench_prometheus.py [--nodes 1000] [--scrape-interval 15] [--window 30]

The demo fleet (1,000 simulated boards on real asyncssh servers) runs in its own thread; `roost
collect --prometheus` runs as its own process on the fleet's inventory, so its CPU is read alone
from /proc. Once every node is up, two windows of the same length: without scrapes (the
collection alone), then with every /nodes/NAME/metrics scraped once per scrape interval, spread
evenly as Prometheus spreads its targets, gzip asked as Prometheus asks, plus /metrics once per
interval. The difference is the exposition's cost: CPU per node scrape. Also timed on their own:
one /metrics and one /sd at this fleet size, first-time (render) and cached per-node scrapes.
For scale, node_exporter spends 6-9 ms of its node's CPU per scrape with the same collectors
(bench_sampler.py measures it). Prints medians; no asserts.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
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

from console.demo.fleet import DemoFleet  # noqa: E402
from console.demo.inventory import render  # noqa: E402
from console.demo.runner import FleetThread  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


_CONNS: dict[str, http.client.HTTPConnection] = {}


def write_inventory(fleet: DemoFleet, path: Path) -> Path:
    """The demo's roost.toml without its power tables: at 1,000 nodes those make it larger than
    the 512 KiB a config may have, and collecting needs none of them."""
    known = path.with_name(path.stem + ".known_hosts")
    known.write_bytes(fleet.known_hosts.read_bytes())
    text = render(fleet, known.resolve())
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("power = ")))
    return path


def fetch(url: str, gz: bool = True) -> tuple[float, int]:
    """GET over a kept-alive connection, as Prometheus scrapes (one connection per target)."""
    parts = urllib.parse.urlsplit(url)
    conn = _CONNS.get(parts.netloc)
    if conn is None:
        conn = _CONNS[parts.netloc] = http.client.HTTPConnection(parts.netloc, timeout=30)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    start = time.perf_counter()
    conn.request("GET", path, headers={"Accept-Encoding": "gzip"} if gz else {})
    size = len(conn.getresponse().read())
    return time.perf_counter() - start, size


def up_count(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
            lines = r.read().decode().splitlines()
    except OSError:
        return 0
    return sum(1 for line in lines if line.startswith("roost_node_up{") and line.endswith(" 1"))


def window(pid: int, seconds: float, scrape=None) -> tuple[float, list[float], list[int]]:
    """(% of a core, per-scrape latencies, sizes) over one window."""
    latencies, sizes = [], []
    c0, t0 = cpu_seconds(pid), time.monotonic()
    while time.monotonic() - t0 < seconds:
        if scrape is None:
            time.sleep(0.2)
            continue
        lat, size = scrape()
        latencies.append(lat)
        sizes.append(size)
    wall = time.monotonic() - t0
    return (cpu_seconds(pid) - c0) / wall * 100, latencies, sizes


def paced(base: str, names: list[str], interval: float):
    """One node per call, paced so that every node is scraped once per interval."""
    state = {"i": 0, "next": time.monotonic(), "fleet_at": 0.0}
    gap = interval / len(names)

    def scrape() -> tuple[float, int]:
        now = time.monotonic()
        if now - state["fleet_at"] >= interval:
            state["fleet_at"] = now
            fetch(f"{base}/metrics")
        time.sleep(max(0.0, state["next"] - now))
        state["next"] += gap
        name = names[state["i"] % len(names)]
        state["i"] += 1
        return fetch(f"{base}/nodes/{name}/metrics")
    return scrape


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--scrape-interval", type=float, default=15.0)
    ap.add_argument("--window", type=float, default=30.0)
    args = ap.parse_args()
    return with_demo_fleet(args, run, "roost-bench-prom-")


def with_demo_fleet(args, run, prefix: str) -> int:
    """run(fleet, args, tmp) beside args.nodes steady demo nodes served from a thread."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        fleet = DemoFleet(args.nodes, seed=1, steady=True, state_dir=Path(tmp))
        runner = FleetThread(fleet)
        runner.start()
        try:
            return run(fleet, args, Path(tmp))
        finally:
            runner.stop()


def run(fleet: DemoFleet, args, tmp: Path) -> int:
    inventory = write_inventory(fleet, tmp / "roost.toml")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ROOST_STATE_DIR": str(tmp / "state")}
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "roost"), "--config", str(inventory),
                             "collect", "--interval", "1", "--prometheus", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        while (up := up_count(base)) < args.nodes:
            if proc.poll() is not None or time.monotonic() - t0 > 180:
                print(f"roost brought {up}/{args.nodes} nodes up in 180 s; RSS {rss_mb(proc.pid):.0f} MB")
                return 1
            time.sleep(1)
        connect = time.monotonic() - t0
        names = [g["labels"]["instance"] for g in json.loads(urllib.request.urlopen(f"{base}/sd").read())]
        time.sleep(5)
        quiet, _, _ = window(proc.pid, args.window)
        busy, lat, sizes = window(proc.pid, args.window, paced(base, names, args.scrape_interval))
        report(args, connect, quiet, busy, lat, sizes, base, names, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


def report(args, connect, quiet, busy, lat, sizes, base, names, pid) -> None:
    scrapes_per_s = len(lat) / args.window
    per_scrape_ms = (busy - quiet) / 100 / scrapes_per_s * 1e3 if scrapes_per_s else float("nan")
    fleet_s = statistics.median(fetch(f"{base}/metrics")[0] for _ in range(5))
    sd_s = statistics.median(fetch(f"{base}/sd", gz=False)[0] for _ in range(5))
    cold = [fetch(f"{base}/nodes/{n}/metrics", gz=False) for n in names[:50]]
    warm = [fetch(f"{base}/nodes/{n}/metrics", gz=False) for n in names[:50]]
    print(f"bench_prometheus: {args.nodes} demo nodes at 1 Hz, every node scraped every "
          f"{args.scrape_interval:g} s ({scrapes_per_s:.0f} scrapes/s, gzip), {args.window:g} s windows")
    print(f"  all nodes up after            {connect:7.1f} s")
    print(f"  roost process, no scrapes     {quiet:7.1f} % of a core   RSS {rss_mb(pid):.0f} MB")
    print(f"  roost process, with scrapes   {busy:7.1f} % of a core")
    print(f"  CPU per /nodes/NAME/metrics   {per_scrape_ms:7.2f} ms  (node_exporter: 6-9 ms on its node)")
    print(f"  scrape latency median / p95   {statistics.median(lat) * 1e3:7.1f} / "
          f"{sorted(lat)[int(0.95 * len(lat))] * 1e3:.1f} ms   body {statistics.median(sizes) / 1e3:.1f} kB gzip")
    print(f"  first render vs cached        {statistics.median(c[0] for c in cold) * 1e3:7.1f} / "
          f"{statistics.median(w[0] for w in warm) * 1e3:.1f} ms   "
          f"body {statistics.median(c[1] for c in cold) / 1e3:.0f} kB")
    print(f"  /metrics (whole fleet)        {fleet_s * 1e3:7.1f} ms")
    print(f"  /sd ({args.nodes} targets)          {sd_s * 1e3:7.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
