"""The built-in scheduler against real OpenSSH nodes from the lab (tests/lab/sshd.py), reached
by hostname (/etc/hosts names from tests/lab/named.py), as real clusters name their nodes."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from pathlib import Path

import pytest

from console.jobs.directives import build_spec, parse_submit_argv, wrap_script
from console.jobs.model import State
from console.jobs.scheduler import Options, Scheduler
from console.jobs.store import Store
from tests.lab.named import named

pytestmark = [pytest.mark.peers]
FAST = Options(use_load=False, grace=1.0, node_fail_after=1.5, poll_every=0.3, tick=0.02)


@pytest.fixture(scope="module")
def nodes(ssh_lab, etc_hosts_module):
    started = named(ssh_lab, etc_hosts_module, ssh_lab.start(2))
    yield started
    ssh_lab.stop(started)


@pytest.fixture
def two(ssh_lab, etc_hosts_module):
    """Two fresh named nodes for a test that kills or freezes them."""
    started = named(ssh_lab, etc_hosts_module, ssh_lab.start(2))
    yield started
    ssh_lab.stop(started)


def submit(store, *argv, script="#!/bin/sh\ntrue\n", cwd="/tmp"):
    cli = parse_submit_argv(list(argv))
    if cli.wrap is not None:
        spec = build_spec(cli, wrap_script(cli.wrap), "--wrap", submit_dir=cwd)
    else:
        spec = build_spec(cli, script, "job.sh", submit_dir=cwd)
    return store.submit(spec)


async def until(sched, cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await sched.step()
        await asyncio.sleep(0.02)


def states(store, job):
    return [t.state for t in store.tasks(job)]


def done(store, job):
    return lambda: all(s.done for s in states(store, job))


async def scheduler(store, nodes, **kw):
    opts = dataclasses.replace(FAST, **kw)
    sched = Scheduler(store, [n.target() for n in nodes], opts)
    await sched.start()
    return sched


ENV_SCRIPT = """#!/bin/sh
#SBATCH --job-name=envcheck
echo "$SLURM_JOB_ID $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT \
$SLURM_CPUS_PER_TASK $SLURM_JOB_NAME $SLURM_SUBMIT_DIR $SLURMD_NODENAME $LSB_JOBINDEX $FOO"
pwd
echo oops >&2
exit $((SLURM_ARRAY_TASK_ID % 2))
"""


async def test_array_env_outputs_and_exit_codes(tmp_path, nodes, shared_dir):
    store = Store(tmp_path / "q.db")
    job = submit(store, "--array", "1-5", "-o", str(shared_dir / "%x_%A_%a.out"),
                 "--export", "FOO=bar", "-D", str(shared_dir), script=ENV_SCRIPT,
                 cwd="/w")
    sched = await scheduler(store, nodes)
    try:
        await until(sched, done(store, job))
    finally:
        await sched.close()
    tasks = store.tasks(job)
    assert [t.state for t in tasks] == [State.FAILED, State.COMPLETED, State.FAILED,
                                        State.COMPLETED, State.FAILED]
    assert [t.exit_code for t in tasks] == [1, 0, 1, 0, 1]
    for t in tasks:
        lines = (shared_dir / f"envcheck_{job}_{t.index}.out").read_text().splitlines()
        assert lines[0] == (f"{job + t.pos} {job} {t.index} 5 1 envcheck /w {t.node} {t.index} bar")
        assert lines[1:] == [str(shared_dir), "oops"]
    assert {t.node for t in tasks} == {n.name for n in nodes}


async def test_outputs_fetched_by_sftp_when_not_shared(tmp_path, nodes):
    private = tmp_path / "out"          # mode 700 under root: the node cannot see it
    private.mkdir(mode=0o700)
    store = Store(tmp_path / "q.db")
    job = submit(store, "-a", "0-3", "--wrap", "echo task $SLURM_ARRAY_TASK_ID; echo e >&2",
                 "-o", str(private / "o_%a.txt"), "-e", str(private / "e_%a.txt"))
    sched = await scheduler(store, nodes)
    try:
        await until(sched, done(store, job))
    finally:
        await sched.close()
    assert states(store, job) == [State.COMPLETED] * 4
    for i in range(4):
        assert (private / f"o_{i}.txt").read_text() == f"task {i}\n"
        assert (private / f"e_{i}.txt").read_text() == "e\n"


async def test_array_default_output_is_slurm_A_a(tmp_path, nodes, shared_dir):
    """No --output: sbatch names array task files slurm-<array job>_<index>.out."""
    store = Store(tmp_path / "q.db")
    job = submit(store, "-a", "2-3", "-D", str(shared_dir), "--wrap", "echo $SLURM_ARRAY_TASK_ID")
    sched = await scheduler(store, nodes)
    try:
        await until(sched, done(store, job))
    finally:
        await sched.close()
    for i in (2, 3):
        assert (shared_dir / f"slurm-{job}_{i}.out").read_text() == f"{i}\n"
    assert not list(shared_dir.glob(f"slurm-{job + 1}.out"))


async def test_dependencies(tmp_path, nodes, shared_dir):
    store = Store(tmp_path / "q.db")
    out = ["-o", str(shared_dir / "%j.out")]
    bad = submit(store, "--wrap", "exit 3", *out)
    ok_after_bad = submit(store, "-d", f"afterok:{bad}", "--wrap", "true", *out)
    any_after_bad = submit(store, "-d", f"afterany:{bad}", "--wrap", "true", *out)
    notok = submit(store, "-d", f"afternotok:{bad}", "--wrap", "true", *out)
    arr = submit(store, "-a", "1-2", "--wrap", "exit $((SLURM_ARRAY_TASK_ID - 1))", *out)
    on_task = submit(store, "-d", f"afterok:{arr}_1", "--wrap", "true", *out)
    sched = await scheduler(store, nodes)
    try:
        for job in (bad, ok_after_bad, any_after_bad, notok, arr, on_task):
            await until(sched, done(store, job))
    finally:
        await sched.close()
    assert states(store, ok_after_bad) == [State.CANCELLED]
    assert store.job(ok_after_bad).reason == "DependencyNeverSatisfied"
    assert states(store, any_after_bad) == [State.COMPLETED]
    assert states(store, notok) == [State.COMPLETED]
    assert states(store, on_task) == [State.COMPLETED]


def proc_state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


async def test_suspend_resume_cancel_timeout(tmp_path, nodes, shared_dir):
    store = Store(tmp_path / "q.db")
    client = Store(tmp_path / "q.db")       # what the CLI does: write requests to the DB
    out = ["-o", str(shared_dir / "%j.out")]
    long = submit(store, "--wrap", "sleep 60", *out)
    short = submit(store, "--time", "1s", "--wrap", "sleep 60", *out)
    sched = await scheduler(store, nodes)
    try:
        await until(sched, lambda: all(t.pid for t in store.tasks(long) + store.tasks(short)))
        pid = store.tasks(long)[0].pid
        client.request(long, None, "suspend")
        await until(sched, lambda: proc_state(pid) == "T")
        assert states(store, long) == [State.SUSPENDED]
        client.request(long, None, "resume")
        await until(sched, lambda: proc_state(pid) in ("S", "R"))
        assert states(store, long) == [State.RUNNING]
        t0 = time.monotonic()
        client.request(long, None, "cancel")
        await until(sched, done(store, long))
        assert time.monotonic() - t0 < 3 and states(store, long) == [State.CANCELLED]
        assert proc_state(pid) is None
        await until(sched, done(store, short))
        assert states(store, short) == [State.TIMEOUT]
    finally:
        await sched.close()


async def test_reattach_after_scheduler_goes_away(tmp_path, nodes, shared_dir):
    store = Store(tmp_path / "q.db")
    job = submit(store, "-a", "1-4", "--wrap", "sleep 1; echo $SLURM_ARRAY_TASK_ID",
                 "-o", str(shared_dir / "%a.out"))
    first = await scheduler(store, nodes)
    await until(first, lambda: all(t.pid for t in store.tasks(job)))
    await first.close()                    # like a crash: connections gone, tasks keep running
    second = await scheduler(Store(tmp_path / "q.db"), nodes)
    try:
        await until(second, done(store, job))
    finally:
        await second.close()
    assert states(store, job) == [State.COMPLETED] * 4
    assert [(shared_dir / f"{i}.out").read_text() for i in range(1, 5)] == \
        [f"{i}\n" for i in range(1, 5)]
    assert all(t.attempt == 0 for t in store.tasks(job))


async def test_node_death_is_node_fail_and_requeue(tmp_path, two, shared_dir):
    a, b = two
    store = Store(tmp_path / "q.db")
    # lost first: it takes one of a's 2 cores, the array packs the other and then b's
    lost = submit(store, "--no-requeue", "-w", a.name, "--wrap", "sleep 30",
                  "-o", str(shared_dir / "l.out"))
    requeued = submit(store, "--requeue", "-a", "0-1", "-o", str(shared_dir / "r_%a.out"),
                      "--wrap", "sleep 2; echo done $SLURM_ARRAY_TASK_ID $SLURMD_NODENAME")
    sched = await scheduler(store, [a, b], cores={a.name: 2, b.name: 2})
    try:
        live = lambda: store.tasks(requeued) + store.tasks(lost)  # noqa: E731
        await until(sched, lambda: all(t.pid for t in live()))
        on_a = [t.index for t in store.tasks(requeued) if t.node == a.name]
        assert on_a
        a.kill()                                   # the node dies with its tasks
        await until(sched, done(store, requeued))
        await until(sched, done(store, lost))
    finally:
        await sched.close()
    assert states(store, lost) == [State.NODE_FAIL]
    tasks = store.tasks(requeued)
    assert [t.state for t in tasks] == [State.COMPLETED] * 2
    for t in tasks:
        assert t.attempt == (1 if t.index in on_a else 0)
        assert (shared_dir / f"r_{t.index}.out").read_text() == f"done {t.index} {t.node}\n"
    assert all(t.node == b.name for t in tasks if t.index in on_a)


async def test_jobs_share_the_fleet_connections(tmp_path, nodes, shared_dir):
    from collectors.fleet import Fleet
    from console.jobs.scheduler import fleet_connect
    fleet = Fleet([n.target() for n in nodes])
    await fleet.start()
    try:
        deadline = time.monotonic() + 20
        while not all(fleet.up.values()):
            assert time.monotonic() < deadline, "fleet did not come up"
            await asyncio.sleep(0.05)
        conns = {n.name: fleet.connection(n.name) for n in nodes}
        store = Store(tmp_path / "q.db")
        job = submit(store, "-a", "1-6", "-o", str(shared_dir / "%a.out"),
                     "--wrap", "echo $SLURM_ARRAY_TASK_ID")
        sched = Scheduler(store, [n.target() for n in nodes], FAST,
                          fleet_connect(fleet), shared_connections=True)
        await sched.start()
        try:
            await until(sched, done(store, job))
        finally:
            await sched.close()
        assert states(store, job) == [State.COMPLETED] * 6
        assert all(fleet.connection(name) is conn for name, conn in conns.items())
        assert all(fleet.up.values())     # the sampler's connection survived the jobs
    finally:
        await fleet.stop()


def sshd_pids(node) -> list[int]:
    """The node's sshd processes only (its tasks keep running): a cut-off, not a crash."""
    from tests.lab.sshd import descendants
    out = []
    for pid in descendants(node.pid):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                out.append(pid)
        except OSError:
            pass
    return out


@pytest.mark.slow
async def test_cut_off_node_requeues_and_its_stale_task_is_killed_on_return(
        tmp_path, two, shared_dir):
    a, b = two
    store = Store(tmp_path / "q.db")
    # b's only core is taken first, so the job under test can only start on a
    blocker = submit(store, "-w", b.name, "-o", "/dev/null", "--wrap", "sleep 300")
    sched = await scheduler(store, [a, b], cores={a.name: 1, b.name: 1})
    frozen = []
    try:
        await until(sched, lambda: store.tasks(blocker)[0].pid)
        job = submit(store, "--requeue", "-o", str(shared_dir / "c.out"),
                     "--wrap", f'[ "$SLURMD_NODENAME" = {a.name} ] && sleep 120; echo "ran on $SLURMD_NODENAME"')
        await until(sched, lambda: store.tasks(job)[0].pid)
        task, = store.tasks(job)
        assert task.node == a.name
        Store(tmp_path / "q.db").request(blocker, None, "cancel")
        await until(sched, done(store, blocker))
        frozen = sshd_pids(a)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)   # a's network is gone; its task keeps running
        await asyncio.sleep(0.5)           # let a poll hang on the frozen node
        others = submit(store, "-w", b.name, "-a", "1-5", "-o", "/dev/null", "--wrap", "true")
        t0 = time.monotonic()
        await until(sched, done(store, others), timeout=10)
        assert time.monotonic() - t0 < 4      # a hung node does not stall the others
        assert states(store, others) == [State.COMPLETED] * 5
        await until(sched, done(store, job), timeout=40)
        assert proc_state(task.pid) is not None          # still running on the cut-off node
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        frozen = []
        await until(sched, lambda: proc_state(task.pid) is None, timeout=20)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        await sched.close()
    final, = store.tasks(job)
    assert (final.state, final.node, final.attempt) == (State.COMPLETED, b.name, 1)
    assert (shared_dir / "c.out").read_text() == f"ran on {b.name}\n"


async def test_term_ignored_gets_kill_after_grace(tmp_path, nodes, shared_dir):
    store = Store(tmp_path / "q.db")
    job = submit(store, "--time", "1s", "-o", str(shared_dir / "k.out"),
                 "--wrap", "trap '' TERM; echo started; sleep 60")
    sched = await scheduler(store, nodes)       # grace 1 s
    try:
        await until(sched, lambda: store.tasks(job)[0].pid)
        pid = store.tasks(job)[0].pid
        t0 = time.monotonic()
        await until(sched, done(store, job))
        assert 1.0 <= time.monotonic() - t0 < 6
    finally:
        await sched.close()
    task, = store.tasks(job)
    assert (task.state, task.exit_code) == (State.TIMEOUT, None)
    assert proc_state(pid) is None
    assert (shared_dir / "k.out").read_text() == "started\n"


async def test_job_files_leave_every_node(tmp_path, nodes, shared_dir):
    store = Store(tmp_path / "q.db")
    job = submit(store, "-a", "1-4", "-o", str(shared_dir / "%a.out"), "--wrap", "true")
    sched = await scheduler(store, nodes)
    try:
        await until(sched, done(store, job))
        assert {t.node for t in store.tasks(job)} == {n.name for n in nodes}
        home = Path(sched.links[nodes[0].name].info.home)
        dirs = [home / sched.links[n.name].root / str(job) for n in nodes]
        await until(sched, lambda: not any(d.exists() for d in dirs), timeout=5)
    finally:
        await sched.close()


async def test_export_none_and_missing_output_dir(tmp_path, nodes, shared_dir):
    store = Store(tmp_path / "q.db")
    clean = submit(store, "--export", "NONE,A=1", "-o", str(shared_dir / "env_%N.out"),
                   "-w", nodes[0].name, "--wrap", "env | sort")
    lost = submit(store, "-o", str(tmp_path / "no" / "such" / "dir.out"), "--wrap", "echo hi")
    sched = await scheduler(store, nodes)
    try:
        await until(sched, done(store, clean))
        await until(sched, done(store, lost))
    finally:
        await sched.close()
    env = dict(line.split("=", 1) for line in
               (shared_dir / f"env_{nodes[0].name}.out").read_text().splitlines())
    assert env["A"] == "1" and env["SLURM_JOB_ID"] == str(clean)
    assert env["SLURMD_NODENAME"] == nodes[0].name and env["LSB_JOBINDEX"] == "0"
    assert "ROOST_LAB_NODE" not in env          # the login environment was not passed on
    task, = store.tasks(lost)     # failed at start, as Slurm does: it never ran to lose its work
    assert task.state is State.FAILED and task.reason.startswith("OutputDirMissing")
    assert task.pid is None and task.exit_code is None


def job_dirs(sched, node) -> list[Path]:
    """The job directories this queue has on node (its files live under the login's home)."""
    link = sched.links[node.name]
    root = Path(link.info.home) / link.root
    return sorted(p for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []


async def test_node_killed_mid_task_leaves_no_job_dir_and_its_output_is_fetched(tmp_path, two):
    """NODE_FAIL while the node is gone; when it is back its job directory goes (nothing of
    ours runs there) after what the lost task wrote was brought home."""
    a, b = two
    private = tmp_path / "out"           # the node cannot write here: output is fetched
    private.mkdir(mode=0o700)
    store = Store(tmp_path / "q.db")
    job = submit(store, "--no-requeue", "-w", a.name, "-o", str(private / "lost.out"),
                 "--wrap", "echo started; sleep 60")
    sched = await scheduler(store, [a, b])
    try:
        await until(sched, lambda: store.tasks(job)[0].pid)
        written = lambda: [p for d in job_dirs(sched, a) for p in d.glob("*.out")  # noqa: E731
                           if p.read_text() == "started\n"]
        await until(sched, written)       # it ran and wrote, on the node, when the node dies
        a.kill()
        await until(sched, done(store, job))
        assert states(store, job) == [State.NODE_FAIL]
        a.restart()
        await until(sched, lambda: sched.links[a.name].up and not job_dirs(sched, a))
    finally:
        await sched.close()
    assert (private / "lost.out").read_text() == "started\n"
