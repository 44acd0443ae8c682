"""Node-side CPU per sample: roost's sampler (bash, and the sh fallback) vs prometheus-node-exporter.

    .venv/bin/python bench/bench_sampler.py [--samples 400] [--interval 0.01] [--runs 3]
                                            [--set full|core]

Both read this machine's /proc and /sys. The sampler runs in a real sshd session from the test
lab (tests/lab/sshd.py); node_exporter runs by hand on 127.0.0.1 with the same collectors roost
reads (--set full: every node_exporter collector roost serves, the default; --set core: the
minimal set roost had before, for the record) and is scraped in a loop at the same rate.

Slow work is amortised as in real use: the sampler's slow tick (netclass, os-release, statfs,
adjtimex: every 30 s at a 1 s interval) comes every 30 samples here too, so its forks count.
CPU is on-CPU time from /proc/PID/task/*/schedstat (ns) of the measured process tree, plus
children reaped meanwhile (cutime+cstime: the slow tick's stat/perl/date). Prints medians and
the ratio (target: sampler <= 1/3 of node_exporter). No asserts: this is a measurement.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors import fileset  # noqa: E402
from collectors.probe import sampler_command  # noqa: E402
from collectors.transport import connect  # noqa: E402
from tests.lab.sshd import SshLab, descendants, ensure_user  # noqa: E402

EXPORTER = "/usr/bin/prometheus-node-exporter"
CORE = ["cpu", "loadavg", "netdev", "meminfo", "thermal_zone", "hwmon", "cpufreq"]
FULL = CORE + ["stat", "vmstat", "netstat", "sockstat", "softnet", "entropy", "filefd", "arp",
               "udp_queues", "time", "timex", "pressure", "conntrack", "diskstats", "filesystem",
               "netclass", "schedstat", "uname", "os", "powersupplyclass", "nvme"]
SLOW_EVERY = 30   # samples between slow ticks, as at the default 1 s interval
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """On-CPU seconds of these processes (all threads) plus their reaped children."""
    total = 0.0
    for pid in pids:
        try:
            for task in os.scandir(f"/proc/{pid}/task"):
                total += int(Path(task.path, "schedstat").read_text().split()[0]) / 1e9
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[13]) + int(fields[14])) / TICK  # cutime + cstime
        except (OSError, IndexError, ValueError):
            continue
    return total


def shell_pids(node, name: str) -> list[int]:
    """The sampler shell itself, not a subshell it forked for a moment (its parent is a sampler)."""
    pids = [p for p in node.session_pids() if exe(p) == name]
    return [p for p in pids if ppid(p) not in pids]


def exe(pid: int) -> str:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


async def sampler_run(node, shell: str, samples: int, interval: float) -> tuple[float, float]:
    """(sampler tree CPU per sample, its sshd session process CPU per sample), in ms."""
    fileset.SLOW_SECONDS = SLOW_EVERY * interval
    target = node.target(interval=interval)
    async with await connect(target) as conn:
        proc = await conn.create_process(sampler_command(target, shell=shell))
        await proc.stdout.readuntil("\x1eE 1\n")  # discovery done
        sampler = shell_pids(node, "bash" if shell == "bash" else "dash")
        tree = sampler  # its children are counted when reaped (cutime/cstime)
        sshd = [p for p in descendants(node.pid) if p != node.pid and exe(p) == "sshd"]
        t0, s0 = cpu_seconds(tree), cpu_seconds(sshd)
        for _ in range(samples):
            await proc.stdout.readuntil("\x1eE ")
        t1, s1 = cpu_seconds(tree), cpu_seconds(sshd)
        proc.close()
    return (t1 - t0) / samples * 1e3, (s1 - s0) / samples * 1e3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exporter_run(samples: int, interval: float, collectors: list[str]) -> float:
    """node_exporter CPU per scrape in ms, scraped every interval."""
    port = free_port()
    args = [EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
            *(f"--collector.{c}" for c in collectors)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_http(url)
        for _ in range(3):  # warm up (first scrapes allocate)
            scrape(url)
        c0 = cpu_seconds([proc.pid])
        for _ in range(samples):
            start = time.monotonic()
            scrape(url)
            time.sleep(max(0.0, interval - (time.monotonic() - start)))
        c1 = cpu_seconds([proc.pid])
    finally:
        proc.terminate()
        proc.wait()
    return (c1 - c0) / samples * 1e3


def scrape(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as r:
        return len(r.read())


def wait_http(url: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            scrape(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--set", choices=("full", "core"), default="full",
                    help="node_exporter's collector set (roost's sampler reads its full set)")
    args = ap.parse_args()
    ensure_user()
    lab = SshLab()
    try:
        node, = lab.start(1)
        report(node, args)
    finally:
        lab.close()


def report(node, args) -> None:
    bash = [asyncio.run(sampler_run(node, "bash", args.samples, args.interval)) for _ in range(args.runs)]
    sh = [asyncio.run(sampler_run(node, "sh", args.samples // 4, args.interval)) for _ in range(args.runs)]
    collectors = FULL if args.set == "full" else CORE
    exp = [exporter_run(args.samples, args.interval, collectors) for _ in range(args.runs)] \
        if os.path.exists(EXPORTER) else []
    med = lambda xs: statistics.median(xs)  # noqa: E731
    print(f"samples per run: {args.samples} at {args.interval:g} s; runs: {args.runs}; "
          f"slow tick every {SLOW_EVERY} samples; node_exporter collectors ({args.set}): "
          f"{','.join(collectors)}; medians:")
    print(f"  bash sampler     {med([b[0] for b in bash]):.3f} ms/sample  "
          f"(+ sshd session {med([b[1] for b in bash]):.3f} ms)  runs {[round(b[0], 3) for b in bash]}")
    print(f"  sh sampler       {med([s[0] for s in sh]):.3f} ms/sample  "
          f"(+ sshd session {med([s[1] for s in sh]):.3f} ms)  runs {[round(s[0], 3) for s in sh]}")
    if not exp:
        print(f"  node_exporter    missing ({EXPORTER})")
        return
    e = med(exp)
    print(f"  node_exporter    {e:.3f} ms/scrape  runs {[round(x, 3) for x in exp]}")
    b = med([x[0] for x in bash])
    print(f"ratio bash/node_exporter = {b / e:.2f} (target <= 0.33); "
          f"with sshd = {(b + med([x[1] for x in bash])) / e:.2f}; sh/node_exporter = "
          f"{med([s[0] for s in sh]) / e:.2f}")


if __name__ == "__main__":
    main()
