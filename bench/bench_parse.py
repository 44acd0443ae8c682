"""build_sample cost per sample for each board fixture and node_exporter's fixture (target <= 0.15 ms).

    .venv/bin/python bench/bench_parse.py [--runs 7] [--n 2000]

"fresh" re-creates every file's string each time, as a frame decoder does (so no cached str hash
helps); "memo" is "fresh" with the node's Memo (collectors.snapshot), as the fleet builds: the
same texts again, so this is its floor, when nothing but the files' strings is new;
"+render" adds render_text of the sample; "decode" is FrameDecoder.feed per frame, the
frames arriving in 16 KiB chunks as SSH delivers them (every file behind its byte length). Prints
medians over the runs. When the prometheus-node-exporter binary is installed, "node_exporter" is
its CPU time per scrape of the same tree (read + parse + exposition + HTTP, same collectors;
utime+stime over many scrapes), next
to roost's build_sample + render_text (roost's file reads happen on the node, in the sampler).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.frame import FrameDecoder, encode_frame  # noqa: E402
from collectors.model import Snapshot  # noqa: E402
from collectors.sinks.prometheus import render_text  # noqa: E402
from collectors.snapshot import Memo, build_sample  # noqa: E402
from collectors.tree import read_tree  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.helpers.trees import COLLECTORS, NODE_EXPORTER, copy_board  # noqa: E402
from tests.helpers.ttar import extract  # noqa: E402


def trees(tmp: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for expected in sorted((SHARED / "fixtures" / "boards").glob("*/expected.prom")):
        dest = copy_board(expected.parent, tmp / expected.parent.name)
        out[expected.parent.name] = (str(dest / "proc"), str(dest / "sys"))
    ne = SHARED / "fixtures" / "node_exporter"
    if (ne / "sys.ttar").is_file():
        extract(ne / "sys.ttar", tmp / "ne")
        out["node_exporter"] = (str(ne / "proc"), str(tmp / "ne" / "sys"))
    out["this-host"] = ("/proc", "/sys")
    return out


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _get(url: str) -> bytes:
    return urllib.request.urlopen(url, timeout=5).read()


def node_exporter_us(roots: tuple[str, str], scrapes: int) -> float | None:
    if not os.access(NODE_EXPORTER, os.X_OK):
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", f"--path.procfs={roots[0]}",
                             f"--path.sysfs={roots[1]}", "--collector.disable-defaults",
                             "--no-collector.netdev.netlink", *(f"--collector.{c}" for c in COLLECTORS)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until it answers, then warm up
            try:
                _get(url)
                break
            except OSError:
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.02)
        for _ in range(20):
            _get(url)
        before = _cpu_ticks(proc.pid)
        for _ in range(scrapes):
            _get(url)
        return (_cpu_ticks(proc.pid) - before) / os.sysconf("SC_CLK_TCK") / scrapes * 1e6
    finally:
        proc.kill()
        proc.wait()


def fresh(snap: Snapshot) -> list[Snapshot]:
    return [Snapshot({k: "".join([v[:1], v[1:]]) for k, v in snap.files.items()}, snap.links)]


def per_sample_us(snap: Snapshot, n: int, runs: int, mode: str) -> float:
    results = []
    for _ in range(runs):
        snaps = [fresh(snap)[0] for _ in range(n)] if mode in ("fresh", "memo") else [snap] * n
        memo = Memo() if mode == "memo" else None
        t0 = time.process_time()  # CPU time: the machine is shared, wall time would count waiting
        for i, s in enumerate(snaps):
            sample = build_sample("node", s, ts=float(i), seq=i, memo=memo)
            if mode == "render":
                render_text([sample], now=float(i))
        results.append((time.process_time() - t0) / n * 1e6)
    return statistics.median(results)


def decode_us(snap: Snapshot, runs: int, frames: int = 200) -> float:
    data = b"".join(encode_frame(i, 1.0 + i, dict(snap.files)) for i in range(frames))
    chunks = [data[i:i + 16384] for i in range(0, len(data), 16384)]
    results = []
    for _ in range(runs):
        decoder = FrameDecoder()
        t0 = time.process_time()
        got = sum(len(decoder.feed(c)) for c in chunks)
        results.append((time.process_time() - t0) / got * 1e6)
    return statistics.median(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--scrapes", type=int, default=500, help="node_exporter scrapes per tree (0: skip)")
    args = ap.parse_args()
    print(f"{'tree':<15}{'files':>6}{'decode µs':>10}{'same µs':>10}{'fresh µs':>10}{'memo µs':>9}"
          f"{'+render µs':>12}"
          f"{'node_exporter µs':>18}{'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, roots in trees(Path(tmp)).items():
            snap = read_tree(*roots)
            decode = decode_us(snap, args.runs)
            same = per_sample_us(snap, args.n, args.runs, "same")
            new = per_sample_us(snap, args.n, args.runs, "fresh")
            memo = per_sample_us(snap, args.n, args.runs, "memo")
            rendered = per_sample_us(snap, max(1, args.n // 10), args.runs, "render")
            peer = node_exporter_us(roots, args.scrapes) if args.scrapes and name != "this-host" else None
            peer_text = f"{peer:>18.0f}{peer / rendered:>6.1f}x" if peer else f"{'-':>18}{'-':>7}"
            print(f"{name:<15}{len(snap.files):>6}{decode:>10.1f}{same:>10.1f}{new:>10.1f}{memo:>9.1f}"
                  f"{rendered:>12.1f}"
                  f"{peer_text}")


if __name__ == "__main__":
    main()
