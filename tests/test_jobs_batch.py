"""Issue 15 on the built-in scheduler, against real sshd nodes reached by hostname: script
arguments, multi-node allocations (SLURM_* variables, the hostfile), limits the node's wrapper
holds with no scheduler running (--time, --mem -> OUT_OF_MEMORY, cores pinned), --begin, --nice,
singleton, --signal, LSF's variables."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from console.jobs.model import State
from console.jobs.spec import parse_hostlist
from console.jobs.store import Store
from tests.helpers.batch import done, run_jobs, scheduler, submit, until
from tests.lab.named import named

pytestmark = [pytest.mark.peers]


@pytest.fixture(scope="module")
def nodes(ssh_lab, etc_hosts_module):
    started = named(ssh_lab, etc_hosts_module, ssh_lab.start(3))
    yield started
    ssh_lab.stop(started)


@pytest.fixture
def shared(tmp_path):
    """A directory the lab's login user can write: the nodes share the console's file system."""
    path = Path(tempfile.mkdtemp(prefix="roost-batch-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def env_of(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


# ---- script arguments ----------------------------------------------------------------------

async def test_script_arguments_are_dollar_one_and_two(tmp_path, nodes, shared):
    store = Store(tmp_path / "q.db")
    script = '#!/bin/sh\nprintf "%s|" "$#" "$1" "$2"\n'
    job = submit(store, "-o", str(shared / "args.out"), script=script, args=("a1", "a 2; x"))
    await run_jobs(store, nodes, job)
    assert (shared / "args.out").read_text() == "2|a1|a 2; x|"


# ---- allocations -----------------------------------------------------------------------------

ALLOC_SCRIPT = """#!/bin/sh
env | grep -E '^(SLURM_(JOB_NODELIST|NNODES|NTASKS|TASKS_PER_NODE|JOB_CPUS_PER_NODE|\
NTASKS_PER_NODE|CPUS_ON_NODE|JOB_ID)|SLURMD_NODENAME|LSB_(HOSTS|MCPU_HOSTS|JOBID|DJOB_NUMPROC)|\
ROOST_HOSTFILE)=' | sort
echo "HOSTFILE=$(tr '\\n' ' ' < "$ROOST_HOSTFILE")"
"""


async def test_three_node_allocation_runs_the_script_on_the_first_with_its_hostfile(
        tmp_path, nodes, shared):
    store = Store(tmp_path / "q.db")
    job = submit(store, "-N", "3", "--ntasks-per-node", "2", "-o", str(shared / "alloc.out"),
                 script=ALLOC_SCRIPT)
    await run_jobs(store, nodes, job, cores={n.name: 2 for n in nodes})
    task, = store.tasks(job)
    assert task.state is State.COMPLETED
    env = env_of(shared / "alloc.out")
    names = sorted(n.name for n in nodes)
    assert [n for n, _ in task.alloc] and sorted(n for n, _ in task.alloc) == names
    assert env["SLURMD_NODENAME"] == task.alloc[0][0] == task.node
    assert (env["SLURM_NNODES"], env["SLURM_NTASKS"], env["SLURM_TASKS_PER_NODE"],
            env["SLURM_NTASKS_PER_NODE"], env["SLURM_JOB_CPUS_PER_NODE"]) == \
        ("3", "6", "2(x3)", "2", "2(x3)")
    assert sorted(parse_hostlist(env["SLURM_JOB_NODELIST"])) == names     # a folded hostlist
    hosts = {n.name: n.hostname for n in nodes}
    expected = [hosts[n] for n, c in task.alloc for _ in range(c)]
    assert env["HOSTFILE"].split() == expected          # one line per slot, by hostname
    assert env["LSB_HOSTS"].split() == expected
    assert env["LSB_DJOB_NUMPROC"] == "6"


async def test_ntasks_alone_packs_and_waits_for_room(tmp_path, nodes, shared):
    """-n 3 on 2-core nodes: 2 tasks on one node and 1 on another (Slurm's "2,1")."""
    store = Store(tmp_path / "q.db")
    job = submit(store, "-n", "3", "-o", str(shared / "n3.out"), script=ALLOC_SCRIPT)
    await run_jobs(store, nodes, job, cores={n.name: 2 for n in nodes})
    env = env_of(shared / "n3.out")
    assert (env["SLURM_NNODES"], env["SLURM_NTASKS"], env["SLURM_TASKS_PER_NODE"]) == \
        ("2", "3", "2,1")


async def test_nodelist_of_two_allocates_both(tmp_path, nodes, shared):
    store = Store(tmp_path / "q.db")
    a, b = nodes[1].name, nodes[2].name
    job = submit(store, "-w", f"{a},{b}", "-o", str(shared / "w.out"), script=ALLOC_SCRIPT)
    await run_jobs(store, nodes, job)
    task, = store.tasks(job)
    assert sorted(n for n, _ in task.alloc) == sorted([a, b])
    assert env_of(shared / "w.out")["SLURM_NNODES"] == "2"


# ---- limits held on the node -----------------------------------------------------------------

def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_time_limit_holds_with_no_scheduler_running(tmp_path, nodes, shared):
    """The scheduler starts the task and goes away; the wrapper ends it at its limit (TERM,
    then KILL after the grace for a task that ignores TERM) and records TIMEOUT, which the
    next scheduler reads."""
    store = Store(tmp_path / "q.db")
    polite = submit(store, "--time", "2s", "-o", str(shared / "t1.out"),
                    "--wrap", "echo start; sleep 60; echo never")
    stubborn = submit(store, "--time", "2s", "-o", str(shared / "t2.out"),
                      "--wrap", "trap '' TERM; echo start; sleep 60; echo never")
    sched = await scheduler(store, nodes, grace=1.0)
    try:
        await until(sched, lambda: all(store.tasks(j)[0].pid for j in (polite, stubborn)))
    finally:
        await sched.close()                 # nobody schedules from here on
    pids = [store.tasks(j)[0].pid for j in (polite, stubborn)]
    t0 = time.monotonic()
    await until(None, lambda: not any(alive(p) for p in pids), timeout=15)
    assert time.monotonic() - t0 < 8
    await run_jobs(store, nodes, polite, stubborn)
    for job in (polite, stubborn):
        task, = store.tasks(job)
        assert task.state is State.TIMEOUT, (job, task)
    assert (shared / "t1.out").read_text().startswith("start\n")
    assert "never" not in (shared / "t1.out").read_text()
    assert store.tasks(stubborn)[0].exit_code is None     # KILLed: no exit code of its own


# A leak as programs leak: 10 MB more every 50 ms, held (tail keeps its one unended line).
HOG = ("(i=0; while [ $i -lt 40 ]; do head -c 10000000 /dev/zero; i=$((i + 1)); sleep 0.05;"
       " done) | tail > /dev/null; echo survived")


async def test_memory_hog_is_killed_out_of_memory(tmp_path, nodes, shared):
    store = Store(tmp_path / "q.db")
    hog = submit(store, "--mem", "64M", "-o", str(shared / "hog.out"), "--wrap", HOG)
    modest = submit(store, "--mem", "64M", "-o", str(shared / "modest.out"),
                    "--wrap", "head -c 8000000 /dev/zero | tail > /dev/null; echo fine")
    sched = await scheduler(store, nodes)
    try:
        method = {link.info.limits for link in sched.links.values()}
        assert method == {"taskset"}      # no systemd user manager here: the fallback
        await until(sched, done(store, hog))
        await until(sched, done(store, modest))
    finally:
        await sched.close()
    task, = store.tasks(hog)
    assert task.state is State.OUT_OF_MEMORY
    assert "survived" not in (shared / "hog.out").read_text()
    assert store.tasks(modest)[0].state is State.COMPLETED
    assert (shared / "modest.out").read_text() == "fine\n"


async def test_cpu_limited_tasks_are_pinned_to_their_own_cores(tmp_path, nodes, shared):
    store = Store(tmp_path / "q.db")
    a = nodes[0].name
    script = "grep Cpus_allowed_list /proc/self/status; sleep 1"
    jobs = [submit(store, "-w", a, "-c", "1", "-o", str(shared / f"pin{i}.out"), "--wrap", script)
            for i in range(2)]
    whole = submit(store, "-w", a, "-c", "2", "-o", str(shared / "pin2.out"), "--wrap", script)
    await run_jobs(store, nodes, *jobs, whole, cores={a: 2})
    allowed = [(shared / f"pin{i}.out").read_text().split()[-1] for i in range(3)]
    assert sorted(allowed[:2]) == ["0", "1"]     # the two 1-core tasks ran side by side
    assert allowed[2] == "0-1"
    assert all(t.cpuset for j in jobs for t in store.tasks(j))


# ---- ordering: --begin, --nice, singleton ----------------------------------------------------

async def test_begin_nice_and_singleton_order_pending_jobs(tmp_path, nodes, shared):
    store = Store(tmp_path / "q.db")
    a = nodes[0].name
    log = shared / "order.log"
    log.touch()
    log.chmod(0o666)
    step = lambda tag: ["-w", a, "-o", "/dev/null", "--wrap",  # noqa: E731
                        f"echo {tag} >> {log}; sleep 0.5"]
    first = submit(store, *step("first"))                 # holds a's one core
    later = submit(store, "--begin", "now+3", *step("begin"))
    low = submit(store, "--nice", "10", *step("nice10"))
    high = submit(store, *step("nice0"))
    single = submit(store, "-J", "solo", "-d", "singleton", *step("solo2"))
    sched = await scheduler(store, nodes, cores={a: 1})
    try:
        await until(sched, lambda: store.job(later).reason == "BeginTime")
        for job in (first, later, low, high, single):
            await until(sched, done(store, job))
    finally:
        await sched.close()
    order = log.read_text().split()
    assert order.index("nice0") < order.index("nice10")   # lower nice first, though later
    assert order[-1] == "begin"                           # not before its time
    assert all(t.state is State.COMPLETED for j in (first, later, low, high, single)
               for t in store.tasks(j))


async def test_singleton_waits_for_its_namesake(tmp_path, nodes, shared):
    store = Store(tmp_path / "q.db")
    log = shared / "single.log"
    log.touch()
    log.chmod(0o666)
    one = submit(store, "-J", "solo", "-o", "/dev/null", "--wrap",
                 f"echo one-start >> {log}; sleep 1; echo one-end >> {log}")
    two = submit(store, "-J", "solo", "-d", "singleton", "-o", "/dev/null", "--wrap",
                 f"echo two >> {log}")
    await run_jobs(store, nodes, one, two)
    assert log.read_text().split() == ["one-start", "one-end", "two"]


# ---- signals and LSF's variables -------------------------------------------------------------

async def test_signal_request_reaches_the_script(tmp_path, nodes, shared):
    store = Store(tmp_path / "q.db")
    out = shared / "sig.out"
    job = submit(store, "-o", str(out), "--wrap",
                 "trap 'echo got USR1; exit 3' USR1; echo ready; while :; do sleep 0.1; done")
    sched = await scheduler(store, nodes)
    try:
        await until(sched, lambda: out.exists() and out.read_text() == "ready\n")
        Store(tmp_path / "q.db").request(job, None, "signal:USR1")
        await until(sched, done(store, job))
    finally:
        await sched.close()
    task, = store.tasks(job)
    assert (task.state, task.exit_code) == (State.FAILED, 3)
    assert out.read_text().startswith("ready\n") and out.read_text().endswith("got USR1\n")


async def test_lsf_variables_in_an_array_named_the_lsf_way(tmp_path, nodes, shared):
    store = Store(tmp_path / "q.db")
    job = submit(store, "-J", "primes[2-6:2]", "-o", str(shared / "p_%a.out"), "--wrap",
                 'echo "$LSB_JOBID $LSB_JOBINDEX $LSB_JOBNAME $LSB_HOSTS"')
    await run_jobs(store, nodes, job)
    tasks = store.tasks(job)
    assert [t.index for t in tasks] == [2, 4, 6] and store.job(job).name == "primes"
    hosts = {n.name: n.hostname for n in nodes}
    for t in tasks:
        line = (shared / f"p_{t.index}.out").read_text().split()
        assert line == [str(job), str(t.index), "primes[2,4,6]", hosts[t.node]]


async def test_an_allocation_that_loses_a_node_ends_node_fail(tmp_path, ssh_lab,
                                                             etc_hosts_module, shared):
    """As Slurm: a job whose allocation lost a node is ended NODE_FAIL (its script, running on
    a node that is fine, is stopped), and its nodes are free again."""
    a, b = named(ssh_lab, etc_hosts_module, ssh_lab.start(2))
    try:
        store = Store(tmp_path / "q.db")
        job = submit(store, "--no-requeue", "-w", f"{a.name},{b.name}", "-o",
                     str(shared / "lost.out"), "--wrap", "echo up; sleep 60")
        sched = await scheduler(store, [a, b], node_fail_after=1.5)
        try:
            await until(sched, lambda: store.tasks(job)[0].pid)
            task, = store.tasks(job)
            second = b if task.node == a.name else a
            second.kill()
            await until(sched, done(store, job))
        finally:
            await sched.close()
        task, = store.tasks(job)
        assert task.state is State.NODE_FAIL
        assert not alive(task.pid)                # the script on the surviving node stopped
    finally:
        ssh_lab.stop([a, b])
