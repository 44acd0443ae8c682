"""Built-in scheduler throughput vs GNU parallel -S (ControlMaster) on the same lab sshd nodes,
and the cost of one submission from a shell loop: `bsub` lines vs `sbatch` lines on a real
slurmctld.

    .venv/bin/python bench/bench_jobs.py [--nodes 8] [--tasks 1000] [--slots 8] [--bsub 1000]

Both run a trivial command (`echo $index`) with the same number of slots per node; roost writes
one output file per task (slurm-like), parallel prints to its stdout. Prints tasks/s for each,
the ratio, roost's console CPU per task, the time `roost submit --array 1-10000` takes, and the
milliseconds per job of a script of N `bsub -J jI -o /dev/null echo I` lines (the LSF seed
workflow: 0.5 s per job there) beside the same N `sbatch --hold --wrap` lines on the lab's
Slurm when it is installed. Needs root (the lab runs sshd and a test user), /usr/sbin/sshd and
/usr/bin/parallel.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.jobs.directives import build_spec, parse_submit_argv, wrap_script  # noqa: E402
from console.jobs.scheduler import Options, Scheduler  # noqa: E402
from console.jobs.store import Store  # noqa: E402
from tests.lab.sshd import USER, SshLab, ensure_user  # noqa: E402


def ssh_config(lab: SshLab, path: Path) -> None:
    blocks = [f"Host {n.name}\n  HostName {n.host}\n  Port {n.port}\n  User {USER}\n"
              f"  IdentityFile {lab.client_key}\n  UserKnownHostsFile {lab.known_hosts}\n"
              f"  ControlMaster auto\n  ControlPath {path.parent}/cm-%C\n  ControlPersist 60\n"
              for n in lab.nodes]
    path.write_text("".join(blocks))


def bench_parallel(lab: SshLab, tasks: int, slots: int, work: Path) -> float:
    cfg = work / "ssh_config"
    ssh_config(lab, cfg)
    logins = ",".join(f"{slots}/{n.name}" for n in lab.nodes)
    ssh = f"ssh -F {cfg}"
    for n in lab.nodes:   # open the masters first, as a ControlMaster user would have
        subprocess.run(ssh.split() + [n.name, "true"], check=True)
    t0 = time.perf_counter()
    subprocess.run(["parallel", "--ssh", ssh, "-S", logins, "echo", "{}"],
                   input="\n".join(map(str, range(1, tasks + 1))) + "\n", text=True,
                   check=True, stdout=subprocess.DEVNULL)
    return tasks / (time.perf_counter() - t0)


async def bench_roost(lab: SshLab, tasks: int, slots: int, work: Path) -> dict:
    out = work / "out"
    out.mkdir()
    out.chmod(0o777)
    store = Store(work / "jobs.db")
    cli = parse_submit_argv(["--array", f"1-{tasks}", "-o", str(out / "%a.out")])
    spec = build_spec(cli, wrap_script("echo $SLURM_ARRAY_TASK_ID"), "--wrap", submit_dir=str(work))
    options = Options(cores={n.name: slots for n in lab.nodes}, use_load=False)
    sched = Scheduler(store, [n.target() for n in lab.nodes], options)
    await sched.start()
    job = store.submit(spec)
    cpu0, t0 = time.process_time(), time.perf_counter()
    await sched.run(until_job=job)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await sched.close()
    bad = [i for i in range(1, tasks + 1) if (out / f"{i}.out").read_text() != f"{i}\n"]
    assert not bad, (f"wrong outputs: {bad[:5]} {[(out / f'{i}.out').read_text() for i in bad[:3]]} "
                     f"{store.state_counts(job)}")
    return {"rate": tasks / wall, "cpu_ms_per_task": 1000 * cpu / tasks}


def bench_submit(work: Path) -> float:
    env = dict(os.environ, ROOST_STATE_DIR=str(work / "state"))
    (work / "state").mkdir(mode=0o700, exist_ok=True)
    code = ("import sys; from console.jobs.directives import *; from console.jobs.store import "
            "Store; from pathlib import Path;"
            "s=spec_from_args(parse_submit_argv(['--array','1-10000','--wrap','true']),None,'true');"
            f"print(Store(Path({str(work / 'state' / 'jobs.db')!r})).submit(s))")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, stdout=subprocess.DEVNULL,
                   cwd=str(Path(__file__).resolve().parent.parent))
    return time.perf_counter() - t0


def bench_bsub_loop(work: Path, lines: int) -> float:
    """Seconds per job of a shell script of `lines` bsub lines (each its own process)."""
    state, toml = work / "bsub-state", work / "bsub.toml"
    toml.write_text('[[nodes]]\nnames = "n1"\nhost = "127.0.0.1"\n')
    script = work / "loop.sh"
    script.write_text("".join(f"bsub -J j{i} -o /dev/null echo {i} >/dev/null\n"
                              for i in range(lines)))
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, ROOST_CONFIG=str(toml), ROOST_STATE_DIR=str(state),
               PATH=f"{bin_dir}:{os.environ['PATH']}")
    subprocess.run(["bsub", "-o", "/dev/null", "true"], env=env, check=True,
                   stdout=subprocess.DEVNULL)            # the queue file exists: as on day two
    t0 = time.perf_counter()
    subprocess.run(["sh", "-e", str(script)], env=env, check=True, cwd=str(work))
    return (time.perf_counter() - t0) / lines


def bench_python_loop(work: Path, lines: int) -> float:
    """Seconds per line of the same loop running `python -c pass`: the floor of any Python
    command (what a bsub line costs before roost does anything)."""
    script = work / "ploop.sh"
    script.write_text(f"{sys.executable} -c pass\n" * lines)
    t0 = time.perf_counter()
    subprocess.run(["sh", "-e", str(script)], check=True, cwd=str(work))
    return (time.perf_counter() - t0) / lines


def bench_sbatch_loop(work: Path, lines: int) -> float | None:
    """Seconds per job of the same loop of `sbatch --hold --wrap` lines on a real slurmctld."""
    from tests.lab import slurm
    if not slurm.available():
        return None
    cluster = slurm.SlurmCluster.start()
    try:
        script = work / "sloop.sh"
        script.write_text("".join(f"sbatch --hold -J j{i} -o /dev/null --wrap 'echo {i}' "
                                  ">/dev/null\n" for i in range(lines)))
        t0 = time.perf_counter()
        subprocess.run(["sh", "-e", str(script)], env=cluster.env, check=True, cwd=str(work))
        return (time.perf_counter() - t0) / lines
    finally:
        cluster.stop()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=8)
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--slots", type=int, default=8)
    p.add_argument("--no-parallel", action="store_true", help="roost only")
    p.add_argument("--bsub", type=int, default=1000, help="lines of the bsub loop (0: skip)")
    args = p.parse_args()
    ensure_user()
    lab, work = SshLab(), Path(tempfile.mkdtemp(prefix="roost-bench-"))
    work.chmod(0o755)   # the nodes' login user works in the submit dir
    try:
        lab.start(args.nodes)
        roost = asyncio.run(bench_roost(lab, args.tasks, args.slots, work))
        use = shutil.which("parallel") and not args.no_parallel
        par = bench_parallel(lab, args.tasks, args.slots, work) if use else 0
        submit = bench_submit(work)
        bsub = bench_bsub_loop(work, args.bsub) if args.bsub else None
        floor = bench_python_loop(work, args.bsub) if args.bsub else None
        sbatch = bench_sbatch_loop(work, args.bsub) if args.bsub else None
    finally:
        lab.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.tasks} tasks, {args.nodes} nodes x {args.slots} slots")
    print(f"roost:          {roost['rate']:8.1f} tasks/s end to end "
          f"({roost['cpu_ms_per_task']:.2f} ms console CPU per task)")
    if par:
        print(f"GNU parallel:   {par:8.1f} tasks/s (-S, ControlMaster)")
        print(f"ratio:          {roost['rate'] / par:8.1f}x")
    print(f"submit --array 1-10000: {submit:.2f} s (new process, incl. Python start)")
    if bsub is not None:
        print(f"bsub loop of {args.bsub}: {1000 * bsub:.0f} ms per job (a process each; "
              f"`python -c pass` alone: {1000 * floor:.0f} ms)")
    if sbatch is not None:
        print(f"sbatch loop of {args.bsub} (real slurmctld): {1000 * sbatch:.0f} ms per job")
    return 0


if __name__ == "__main__":
    sys.exit(main())
