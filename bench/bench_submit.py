"""The cost of one submission from a shell loop (issue 15's LSF seed workflow: 0.5 s a job there):
`bsub` lines and `roost submit` lines against the same lines of `sbatch --hold` on a real
slurmctld (tests/lab/slurm.py), with `python -c pass` as the floor of any Python command.

    .venv/bin/python bench/bench_submit.py [--lines 1000] [--blocks 10] [--alone]

Each tool runs the same shell script of --lines lines (one process a line, as a user's loop),
cut into --blocks blocks taken in turn (bsub, roost, floor, sbatch, then the next block), so a
noisy machine slows them alike. Prints, per tool, the median over blocks of the wall time and of
the CPU time (user + system of the loop's processes) per line, and the ratios.

The user is a fresh one: HOME is a temp dir holding ~/.config/roost/roost.toml (nodes pi[1-4],
whose sizes a scheduler has recorded), an ~/.ssh/config, and no ROOST_* variable. By default a
connection holds the queue open throughout, as the console or `roost serve` does while users
submit; --alone leaves every line the queue's only client (SQLite then checkpoints its WAL at
every close: ~5 ms here). roost's packages are byte-compiled first, as pip does on install (an
editable install under PYTHONDONTWRITEBYTECODE=1 would compile every module on every line).
"""
from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.jobs.store import Store  # noqa: E402
from tests.helpers.seed_user import user_home  # noqa: E402

TOOLS = ("bsub", "roost submit", "python -c pass", "sbatch --hold")


def scripts(work: Path, lines: int, blocks: int, sbatch: bool) -> dict[str, list[Path]]:
    """tool -> its block scripts; line i of each submits the same trivial job."""
    per = lines // blocks
    lines_of = {
        "bsub": lambda i: f"bsub -J j{i} -o /dev/null echo {i} >/dev/null\n",
        "roost submit": lambda i: f"roost submit -J j{i} -o /dev/null --wrap 'echo {i}' >/dev/null\n",
        "python -c pass": lambda i: f"{sys.executable} -c pass\n",
        "sbatch --hold": lambda i: f"sbatch --hold -J j{i} -o /dev/null --wrap 'echo {i}' >/dev/null\n",
    }
    out: dict[str, list[Path]] = {}
    for tool, line in lines_of.items():
        if tool == "sbatch --hold" and not sbatch:
            continue
        out[tool] = []
        for b in range(blocks):
            path = work / f"{tool.split()[0]}-{b}.sh"
            path.write_text("".join(line(b * per + i) for i in range(per)))
            out[tool].append(path)
    return out


def run_block(script: Path, env: dict[str, str], lines: int) -> tuple[float, float]:
    """(wall, CPU) seconds per line of one block."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(["sh", "-e", str(script)], env=env, check=True, cwd=script.parent)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall / lines, cpu / lines


def prepare_queue(env: dict[str, str]) -> Path:
    """The queue as on day two: made by a first bsub, node sizes recorded by a scheduler."""
    subprocess.run(["bsub", "-o", "/dev/null", "true"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    found = list(Path(env["HOME"]).glob(".local/state/roost/clusters/*/jobs.db"))
    assert len(found) == 1, found
    with Store(found[0]) as store:
        for n in range(1, 5):
            store.record_node(f"pi{n}", 4, 4096, time.time())
    return found[0]


def measure(args: argparse.Namespace, work: Path) -> tuple[dict[str, list[tuple[float, float]]], int]:
    from tests.lab import slurm
    env = user_home(work)
    compileall.compile_dir(str(ROOT / "console"), quiet=1)
    compileall.compile_dir(str(ROOT / "collectors"), quiet=1)
    db = prepare_queue(env)
    cluster = slurm.SlurmCluster.start() if slurm.available() and not args.no_slurm else None
    held = None if args.alone else Store(db)
    try:
        blocks = scripts(work, args.lines, args.blocks, cluster is not None)
        per = args.lines // args.blocks
        results: dict[str, list[tuple[float, float]]] = {tool: [] for tool in blocks}
        for b in range(args.blocks):
            for tool, paths in blocks.items():
                tool_env = cluster.env if tool.startswith("sbatch") and cluster else env
                results[tool].append(run_block(paths[b], tool_env, per))
        with Store(db) as store:
            submitted = len(store.job_ids())
    finally:
        if held is not None:
            held.close()
        if cluster is not None:
            cluster.stop()
    return results, submitted


def report(results: dict[str, list[tuple[float, float]]], args: argparse.Namespace, submitted: int) -> None:
    load = os.getloadavg()
    print(f"{args.lines} lines per tool in {args.blocks} blocks; queue "
          f"{'alone' if args.alone else 'held open by another client (a running scheduler)'}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    medians = {tool: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
               for tool, r in results.items()}
    floor_wall, floor_cpu = medians["python -c pass"]
    print(f"{'':16} {'wall ms/line':>13} {'CPU ms/line':>12} {'over floor (wall)':>18}")
    for tool in TOOLS:
        if tool in medians:
            wall, cpu = medians[tool]
            print(f"{tool:16} {1000 * wall:13.1f} {1000 * cpu:12.1f} {1000 * (wall - floor_wall):17.1f}")
    bsub, roost = medians["bsub"][0], medians["roost submit"][0]
    print(f"bsub / python floor: {bsub / floor_wall:.2f}x wall, "
          f"{medians['bsub'][1] / floor_cpu:.2f}x CPU; roost submit / floor: {roost / floor_wall:.2f}x wall")
    if "sbatch --hold" in medians:
        sbatch = medians["sbatch --hold"][0]
        print(f"sbatch --hold / bsub: {sbatch / bsub:.2f}x; sbatch --hold / roost submit: "
              f"{sbatch / roost:.2f}x (wall per line; > 1: roost's line is cheaper)")
    print(f"jobs in roost's queue afterwards: {submitted} (1 + {args.lines} bsub + {args.lines} submit)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1000, help="lines of each tool's loop")
    p.add_argument("--blocks", type=int, default=10, help="blocks the loop is cut into")
    p.add_argument("--alone", action="store_true", help="no other client holds the queue open")
    p.add_argument("--no-slurm", action="store_true", help="skip the sbatch peer")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="roost-bench-submit-"))
    try:
        results, submitted = measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, args, submitted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
