"""Console-side cost of a 100-node fleet against real sshd lab nodes.

    .venv/bin/python bench/bench_fleet.py [--nodes 100] [--seconds 20] [--interval 1] [--runs 3]

Prints, medians over runs: raw asyncssh connect-all time for the nodes (gather of
asyncssh.connect) next to collectors.transport.connect for the same nodes, the Fleet's time
from start() until every node is up (connected, sampler started, first frame decoded), console
CPU per node-sample while streaming (process_time over the window: SSH decryption, frame
decoding and build_sample included) and peak RSS.
Targets: connect-all <= 1.5 s, <= 0.25 ms per node-sample, RSS <= 120 MB. No asserts.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncssh  # noqa: E402

from collectors import transport  # noqa: E402
from collectors.fleet import Fleet  # noqa: E402
from collectors.model import NodeEvent, Sample  # noqa: E402
from tests.lab.sshd import SshLab, ensure_user  # noqa: E402


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def raw_connect_all(targets) -> float:
    start = time.perf_counter()
    conns = await asyncio.gather(*(asyncssh.connect(
        t.host, port=t.port, username=t.user, client_keys=list(t.identity_files),
        known_hosts=t.known_hosts[0]) for t in targets))
    took = time.perf_counter() - start
    await close_all(conns)
    return took


async def roost_connect_all(targets) -> float:
    start = time.perf_counter()
    conns = await asyncio.gather(*(transport.connect(t) for t in targets))
    took = time.perf_counter() - start
    await close_all(conns)
    return took


async def close_all(conns) -> None:
    for c in conns:
        c.close()
    await asyncio.gather(*(c.wait_closed() for c in conns))


async def fleet_run(targets, seconds: float) -> tuple[float, float, int, int]:
    """(seconds until all up, CPU ms per node-sample, samples, down events)."""
    fleet = Fleet(targets)
    names, up, samples, downs = {t.name for t in targets}, set(), 0, 0
    start = time.perf_counter()
    await fleet.start()
    stream = fleet.stream()
    async for item in stream:
        if isinstance(item, NodeEvent) and item.kind == "up":
            up.add(item.node)
            if up == names:
                break
    all_up = time.perf_counter() - start
    # a plain async-for consumer (no per-item timeout: that would bill its tasks to the fleet)
    cpu = [time.process_time()]

    def end() -> None:
        cpu.append(time.process_time())  # before stop(): closing connections is not sampling
        asyncio.ensure_future(fleet.stop())
    asyncio.get_running_loop().call_later(seconds, end)
    async for item in stream:
        samples += isinstance(item, Sample)
        downs += isinstance(item, NodeEvent) and item.kind == "down"
    cpu = cpu[1] - cpu[0]
    return all_up, cpu / max(samples, 1) * 1e3, samples, downs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    ensure_user()
    lab = SshLab()
    try:
        lab.start(args.nodes)
        report(lab.targets(interval=args.interval), args)
    finally:
        lab.close()


def report(targets, args) -> None:
    raw = [asyncio.run(raw_connect_all(targets)) for _ in range(args.runs)]
    ours = [asyncio.run(roost_connect_all(targets)) for _ in range(args.runs)]
    runs = [asyncio.run(fleet_run(targets, args.seconds)) for _ in range(args.runs)]
    med = statistics.median
    n = len(targets)
    print(f"{n} sshd lab nodes, runs: {args.runs}, medians")
    print(f"  connect-all, raw asyncssh          {med(raw):.3f} s   runs {[round(x, 3) for x in raw]}")
    print(f"  connect-all, transport.connect     {med(ours):.3f} s   runs {[round(x, 3) for x in ours]}"
          f"   ratio {med(ours) / med(raw):.2f} x raw (target <= 1.5 s)")
    up = [r[0] for r in runs]
    print(f"  fleet start -> all {n} up (sampling) {med(up):.3f} s   runs {[round(x, 3) for x in up]}")
    per = [r[1] for r in runs]
    print(f"  console CPU per node-sample        {med(per):.4f} ms runs {[round(x, 4) for x in per]}"
          f"   (target <= 0.25 ms)")
    print(f"  samples per run {[r[2] for r in runs]} over {args.seconds:g} s at {args.interval:g} s;"
          f" down events {[r[3] for r in runs]}")
    print(f"  RSS now {rss_mb():.1f} MB, peak {rss_mb('VmHWM'):.1f} MB (target <= 120 MB)")


if __name__ == "__main__":
    main()
