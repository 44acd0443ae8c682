"""RSS of `roost collect --prometheus` when it gets less CPU than 1,000 nodes need.

    .venv/bin/python bench/bench_starve.py [--nodes 1000] [--quota 25] [--seconds 300]
                                           [--every 10] [--extra "--db PATH" ...]

The demo fleet (1,000 simulated boards on real asyncssh servers) runs in a thread of this process,
unconstrained; `roost collect --prometheus` runs as its own process inside a cgroup whose CPU
quota is --quota % of one core (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us; needs root), so its
event loop cannot keep up with the frames: the load-11 case where one collector once reached
7.5 GB. Every --every seconds: its RSS, CPU share, and how many nodes /metrics says are up.
A bounded collector's RSS levels off; the last line compares the second half's growth with the
first's. With --quota 0 no cgroup is used (the unstarved baseline). Prints; no asserts.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_prometheus import (  # noqa: E402
    cpu_seconds,
    free_port,
    rss_mb,
    with_demo_fleet,
    write_inventory,
)
from console.demo.fleet import DemoFleet  # noqa: E402

Row = tuple[float, float, float, int]


class CpuQuota:
    """A throw-away cgroup limiting its processes to `percent` of one core."""

    def __init__(self, percent: float):
        self.percent, self.path, self.procs = percent, None, None
        v2, v1 = Path("/sys/fs/cgroup/cgroup.controllers"), Path("/sys/fs/cgroup/cpu")
        name = f"roost-bench-{os.getpid()}"
        if v2.exists():
            self.path = v2.parent / name
            self.path.mkdir()
            (self.path / "cpu.max").write_text(f"{int(percent * 1000)} 100000\n")
        elif (v1 / "cpu.cfs_quota_us").exists():
            self.path = v1 / name
            self.path.mkdir()
            (self.path / "cpu.cfs_period_us").write_text("100000\n")
            (self.path / "cpu.cfs_quota_us").write_text(f"{int(percent * 1000)}\n")
        else:
            raise SystemExit("bench_starve: no cgroup cpu controller here (try --quota 0)")
        self.procs = self.path / "cgroup.procs"

    def add(self, pid: int) -> None:
        self.procs.write_text(f"{pid}\n")

    def remove(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.rmdir()


def up_count(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=20) as r:
            lines = r.read().decode().splitlines()
    except OSError:
        return -1
    return sum(1 for line in lines if line.startswith("roost_node_up{") and line.endswith(" 1"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--quota", type=float, default=25.0, help="%% of one core (0: no limit)")
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--extra", action="append", default=[], help="more `roost collect` options")
    args = ap.parse_args()
    return with_demo_fleet(args, run, "roost-bench-starve-")


def run(fleet: DemoFleet, args, tmp: Path) -> int:
    inventory = write_inventory(fleet, tmp / "roost.toml")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    extra = [w for e in args.extra for w in e.split()]
    quota = CpuQuota(args.quota) if args.quota > 0 else None
    env = {**os.environ, "ROOST_STATE_DIR": str(tmp / "state")}
    with open(tmp / "roost.err", "w") as errors:
        proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "roost"), "--config", str(inventory),
                                 "collect", "--interval", "1", "--prometheus", f"127.0.0.1:{port}",
                                 *extra], env=env, stdout=subprocess.DEVNULL, stderr=errors)
        rows = watch(proc, quota, base, args)
    err = (tmp / "roost.err").read_text().strip()
    if err:
        print("  roost said: " + err[-500:])
    summary(rows)
    return 0


def watch(proc: subprocess.Popen, quota: CpuQuota | None, base: str, args) -> list[Row]:
    """Every --every seconds: (t, RSS MB, CPU %, nodes up); stops the collector at the end."""
    rows: list[Row] = []
    try:
        if quota:
            quota.add(proc.pid)
        t0 = time.monotonic()
        cpu0, at = cpu_seconds(proc.pid), t0
        print(f"bench_starve: {args.nodes} demo nodes at 1 Hz; roost collect --prometheus "
              f"{'limited to %g %% of a core' % args.quota if quota else 'unlimited'}")
        print(f"{'t s':>6}{'RSS MB':>9}{'CPU %':>8}{'up':>7}")
        while time.monotonic() - t0 < args.seconds and proc.poll() is None:
            time.sleep(args.every)
            now, cpu = time.monotonic(), cpu_seconds(proc.pid)
            row = (now - t0, rss_mb(proc.pid), (cpu - cpu0) / (now - at) * 100, up_count(base))
            cpu0, at = cpu, now
            rows.append(row)
            print(f"{row[0]:6.0f}{row[1]:9.0f}{row[2]:8.1f}{row[3]:7d}", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if quota:
            quota.remove()
    return rows


def summary(rows: list[Row]) -> None:
    if len(rows) < 4:
        return
    half = len(rows) // 2
    first = rows[half][1] - rows[0][1]
    second = rows[-1][1] - rows[half][1]
    print(f"  RSS peak {max(r[1] for r in rows):.0f} MB; growth first half {first:+.0f} MB, "
          f"second half {second:+.0f} MB ({'levelled off' if second <= max(first, 0) / 2 + 20 else 'STILL GROWING'})")


if __name__ == "__main__":
    sys.exit(main())
