"""build_sample cost per sample for each board fixture and node_exporter's fixture (target <= 0.15 ms).

    .venv/bin/python bench/bench_parse.py [--runs 7] [--n 2000]

"fresh" re-creates every file's string each time, as a frame decoder does (so no cached str hash
helps); "render" adds render_text of one sample for comparison. Prints medians over the runs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.model import Snapshot  # noqa: E402
from collectors.sinks.prometheus import render_text  # noqa: E402
from collectors.snapshot import build_sample  # noqa: E402
from collectors.tree import read_tree  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.test_snapshot_fixtures import copy_board  # noqa: E402
from tests.ttar import extract  # noqa: E402


def trees(tmp: Path) -> dict[str, Snapshot]:
    out = {}
    for expected in sorted((SHARED / "fixtures" / "boards").glob("*/expected.prom")):
        dest = copy_board(expected.parent, tmp / expected.parent.name)
        out[expected.parent.name] = read_tree(str(dest / "proc"), str(dest / "sys"))
    ne = SHARED / "fixtures" / "node_exporter"
    if (ne / "sys.ttar").is_file():
        extract(ne / "sys.ttar", tmp / "ne")
        out["node_exporter"] = read_tree(str(ne / "proc"), str(tmp / "ne" / "sys"))
    out["this-host"] = read_tree("/proc", "/sys")
    return out


def fresh(snap: Snapshot) -> list[Snapshot]:
    return [Snapshot({k: "".join([v[:1], v[1:]]) for k, v in snap.files.items()}, snap.links)]


def per_sample_us(snap: Snapshot, n: int, runs: int, mode: str) -> float:
    results = []
    for _ in range(runs):
        snaps = [fresh(snap)[0] for _ in range(n)] if mode == "fresh" else [snap] * n
        t0 = time.perf_counter()
        for i, s in enumerate(snaps):
            sample = build_sample("node", s, ts=float(i), seq=i)
            if mode == "render":
                render_text([sample], now=float(i))
        results.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        snaps = trees(Path(tmp))
    print(f"{'tree':<15}{'files':>6}{'same µs':>10}{'fresh µs':>10}{'+render µs':>12}")
    for name, snap in snaps.items():
        same = per_sample_us(snap, args.n, args.runs, "same")
        new = per_sample_us(snap, args.n, args.runs, "fresh")
        rendered = per_sample_us(snap, max(1, args.n // 10), args.runs, "render")
        print(f"{name:<15}{len(snap.files):>6}{same:>10.1f}{new:>10.1f}{rendered:>12.1f}")


if __name__ == "__main__":
    main()
