"""The built-in scheduler on the Prometheus source: links on demand (issue 13's last item).

One `roost serve` shard collects four lab sshd nodes (each in its own UTS namespace, so a
task's `hostname` names its node) and the lab's real Prometheus scrapes it. Each node reads a
procfs of its own (a board tree copied, its /proc/stat cut to a core count and its loadavg
set), so Prometheus reports different sizes and loads: A 4 cores, B 2, C 2, D 2 cores fully
loaded by someone else (load 2.00). The console reaches the nodes by host names (/etc/hosts)
checked against a known_hosts naming them. The scheduler places from those reports and opens SSH
(through the source's pool) only to the nodes it chose; SshPool.opened and held() count them.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from collectors import transport
from console.app import console_app
from console.config import load_config
from console.jobs import service
from console.jobs.cli import _wait as submit_wait
from console.jobs.location import open_store
from console.jobs.model import State
from console.jobs.ondemand import REASON_LINKS, SYNC_EVERY
from console.jobs.service import run_scheduler
from console.promfleet import open_prom_source, with_source_thresholds
from console.screens.jobs import JobsScreen
from console.widgets.job_table import JobTable
from tests.helpers.batch import submit
from tests.helpers.pilot import until as until_pilot
from tests.helpers.sched_fleet import fake_proc, freeze, nodes_toml, scrape_refused, serve_shard
from tests.lab.prometheus import ROOST, NamedLab, free_port

pytestmark = pytest.mark.peers
JOB = "sched"                       # the shard's scrape job
SIZES = {"A": (4, "0.00"), "B": (2, "0.00"), "C": (2, "0.00"), "D": (2, "2.00")}
LINK_IDLE = 2.0


@pytest.fixture(scope="module")
def fleet(prom_lab, etc_hosts_module):
    """Four lab nodes of known sizes behind one serve shard that the lab's Prometheus scrapes;
    the console reaches them by host names (/etc/hosts), the shard by address."""
    lab = NamedLab()
    work = Path(tempfile.mkdtemp(prefix="roost-sched-"))
    try:
        nodes = lab.start(4)
        for n in nodes:
            etc_hosts_module.add(hostname(n), n.host)
        procs = [fake_proc(work / key, *SIZES[key]) for key in SIZES]
        with serve_shard(prom_lab, lab, nodes, procs, work, JOB):
            yield lab, dict(zip(SIZES, nodes)), procs
    finally:
        lab.close()
        shutil.rmtree(work, ignore_errors=True)


def hostname(node) -> str:
    return f"roost-sched-{node.name}"


def source_tables(prom_lab, jobs: str = "") -> str:
    """The console's [source] (the lab's Prometheus, this module's scrape job) and [jobs]."""
    return (f'[source]\nprometheus = "{prom_lab.url}"\nselector = \'job="{JOB}"\'\n'
            f'interval = 1\nscrape_interval = 1\nssh_idle = 60\n\n'
            f'[jobs]\nlimits = "off"\nnode_fail_after = 3\npoll_every = 0.3\n'
            f'link_idle = {LINK_IDLE}\n{jobs}\n')


def known_hosts(fleet, tmp_path) -> Path:
    """A known_hosts naming the nodes by their host names."""
    path = tmp_path / "known_hosts"
    path.write_text("".join(n.known_host_line_for(hostname(n)) for n in fleet[1].values()))
    return path


def console_config(prom_lab, fleet, tmp_path, jobs: str = "", unreachable: str = ""):
    """The console's roost.toml; the node `unreachable` names gets a port nothing listens on
    (Prometheus still reports it up: the shard reaches it)."""
    lab, named, procs = fleet
    text = nodes_toml(lab, list(named.values()), procs, source_tables(prom_lab, jobs),
                      {n.name: hostname(n) for n in named.values()}, known_hosts(fleet, tmp_path))
    if unreachable:
        node = named[unreachable]
        text = text.replace(f'host = "{hostname(node)}"\nport = {node.port}\n',
                            f'host = "{hostname(node)}"\nport = {free_port()}\n')
    path = tmp_path / "roost.toml"
    path.write_text(text)
    return with_source_thresholds(load_config(path, state_dir=tmp_path / "state"))


async def wait(cond, timeout: float = 30.0, what: str = "condition", every: float = 0.05):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(every)


def sized(source, named) -> bool:
    """Every node reported up with its size and load (the cores family may land late)."""
    seen = source.reports(30.0)
    return all(n.name in seen and seen[n.name].up and seen[n.name].cores
               and seen[n.name].load1 is not None for n in named.values())


@contextlib.asynccontextmanager
async def scheduling(config, store):
    """A Prometheus source and a way to start the scheduler on it (as the console holds it);
    every scheduler started is stopped at the end."""
    source = open_prom_source(config)
    await source.start()
    stop, tasks = asyncio.Event(), []

    def start() -> asyncio.Task:
        tasks.append(asyncio.get_running_loop().create_task(
            run_scheduler(config, stop, store=store, fleet=source)))
        return tasks[-1]
    try:
        yield source, start
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        await source.stop()


async def started(source, named, start):
    await wait(lambda: sized(source, named), 30, "sizes from Prometheus")
    return start()


async def running_on(store, job: int, named):
    """The node running the job's first task, once it runs, and its lab node."""
    await wait(lambda: store.tasks(job)[0].pid is not None, 30, "task running")
    first = store.tasks(job)[0].node
    return first, next(n for n in named.values() if n.name == first)


async def stopped(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def holds(cond, seconds: float, what: str) -> None:
    """cond stays true for `seconds` (what must not happen meanwhile, checked every 0.1 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert cond(), what
        await asyncio.sleep(0.1)


def gated(shared_dir: Path, name: str) -> str:
    """A task that runs until the test creates shared_dir/name, then prints its host name."""
    return f"while [ ! -e {shared_dir / name} ]; do sleep 0.2; done; hostname"


def done(store, job) -> bool:
    return all(t.state.done for t in store.tasks(job))


# ---- the console --------------------------------------------------------------------------


def gated_job(store, shared_dir, node: str, out: str, gate: str) -> int:
    """A job held to node whose task runs until shared_dir/gate is touched (output:
    shared_dir/out-JOBID.out)."""
    return submit(store, "-w", node, "-o", str(shared_dir / f"{out}-%j.out"), "--wrap",
                  gated(shared_dir, gate), cwd=str(shared_dir))

async def test_the_console_on_prometheus_runs_a_job_connecting_only_to_its_node(
        prom_lab, fleet, tmp_path, shared_dir):
    _, named, _ = fleet
    config = console_config(prom_lab, fleet, tmp_path)
    source = open_prom_source(config)
    app = console_app(config, source, refresh=1.0)
    async with app.run_test(size=(120, 36)) as pilot:
        await until_pilot(pilot, lambda: app.jobs.role == "held", 30, "scheduler held")
        await until_pilot(pilot, lambda: sized(source, named), 30, "sizes from Prometheus")
        store = open_store(config)
        job = submit(store, "-o", str(shared_dir / "one-%j.out"), "--wrap", "hostname",
                     cwd=str(shared_dir))
        await until_pilot(pilot, lambda: done(store, job), 60, "job done")
        task, = store.tasks(job)
        assert task.state == State.COMPLETED, task
        out = (shared_dir / f"one-{job}.out").read_text()
        assert out == f"roost-lab-{task.node}\n"
        # one SSH connection, to the node placement chose (not to the four nodes)
        assert source.pool.opened == 1
        assert set(source.pool.held()) <= {task.node}
        assert app.jobs.scheduler_note() == "scheduler: this console"
        await pilot.press("j")                  # the Jobs screen reads the same queue
        await until_pilot(pilot, lambda: isinstance(app.screen, JobsScreen), 10, "jobs screen")
        board = app.screen.query_one(JobTable)
        await until_pilot(pilot, lambda: any(ln.job_id == job and ln.state == "COMPLETED"
                                             for ln in board.lines), 10, "the job's row")
        status = str(app.screen.query_one("#jobs-status").render())
        assert "scheduler: this console" in status, status
        store.close()


# ---- the scheduler on the Prometheus source --------------------------------------------------

async def test_an_array_packs_by_reported_cores_and_load_then_links_park(
        prom_lab, fleet, tmp_path, shared_dir):
    _, named, _ = fleet
    config = console_config(prom_lab, fleet, tmp_path)
    store = open_store(config)
    job = submit(store, "--array", "1-10", "-o", str(shared_dir / "spread-%a.out"),
                 "--wrap", "sleep 3", cwd=str(shared_dir))
    async with scheduling(config, store) as (source, make):
        sched = await started(source, named, make)
        await wait(lambda: sum(t.state == State.RUNNING and t.pid is not None
                               for t in store.tasks(job)) == 8, 40, "8 tasks running")
        per_node: dict[str, int] = {}
        for t in store.tasks(job):
            if t.state == State.RUNNING:
                per_node[t.node] = per_node.get(t.node, 0) + 1
        a, b, c, d = (named[k].name for k in "ABCD")
        # packed into 4 + 2 + 2 free cores; D's 2 cores are busy with load that is not ours
        assert per_node == {a: 4, b: 2, c: 2}, per_node
        assert sorted(source.pool.held()) == sorted([a, b, c]) and source.pool.opened == 3
        row = store.job(job)
        assert row is not None and row.reason == "Resources"
        await wait(lambda: done(store, job), 60, "array done")
        assert all(t.state == State.COMPLETED for t in store.tasks(job))
        assert d not in {t.node for t in store.tasks(job)}
        t_end = time.monotonic()
        await wait(lambda: source.pool.held() == [], LINK_IDLE + 10, "links parked")
        assert time.monotonic() - t_end >= LINK_IDLE - 1.5   # parked after the idle time
        assert source.pool.opened == 3
        await stopped(sched)
    store.close()


async def test_max_links_holds_with_a_visible_pending_reason(prom_lab, fleet, tmp_path,
                                                            shared_dir):
    _, named, _ = fleet
    config = console_config(prom_lab, fleet, tmp_path, "max_links = 2\n")
    store = open_store(config)
    job = submit(store, "--array", "1-8", "-o", "/dev/null", "--wrap", "sleep 2",
                 cwd=str(shared_dir))
    held: set[int] = set()
    reasons: set[str | None] = set()

    def watch() -> bool:
        held.add(len(source.pool.held()))
        row = store.job(job)
        reasons.add(row.reason if row else None)
        return done(store, job)
    async with scheduling(config, store) as (source, make):
        sched = await started(source, named, make)
        await wait(watch, 90, "array done")
        assert all(t.state == State.COMPLETED for t in store.tasks(job))
        assert max(held) == 2, held                     # never more than max_links links
        assert REASON_LINKS in reasons, reasons         # and the queue said why jobs waited
        assert len({t.node for t in store.tasks(job)}) <= 3
        await stopped(sched)
    store.close()


async def test_restart_reattaches_connecting_only_to_the_node_running_the_task(
        prom_lab, fleet, tmp_path, shared_dir):
    _, named, _ = fleet
    c = named["C"].name
    config = console_config(prom_lab, fleet, tmp_path)
    store = open_store(config)
    job = submit(store, "-w", c, "-o", str(shared_dir / "left-%j.out"), "--wrap",
                 "sleep 4; hostname", cwd=str(shared_dir))
    async with scheduling(config, store) as (source, make):
        first = await started(source, named, make)
        await wait(lambda: store.tasks(job)[0].pid is not None, 30, "task running")
        await stopped(first)                # the holder goes away; the task runs on
    assert store.tasks(job)[0].state == State.RUNNING
    async with scheduling(config, store) as (source, make):
        second = make()                     # no wait for sizes: re-attach needs none
        await wait(lambda: source.pool.held() == [c], 20, "C linked again")
        await wait(lambda: done(store, job), 30, "task ended")
        assert store.tasks(job)[0].state == State.COMPLETED
        assert (shared_dir / f"left-{job}.out").read_text() == f"roost-lab-{c}\n"
        assert source.pool.opened == 1      # only the node the queue said runs our task
        await stopped(second)
    store.close()


async def test_a_node_ssh_cannot_reach_is_avoided_and_the_task_starts_elsewhere_once(
        prom_lab, fleet, tmp_path, shared_dir, caplog):
    """Placement picks A (the freest by its report); its link fails: the task stays Pending,
    never started there, and starts on another node; A is not tried again meanwhile."""
    _, named, _ = fleet
    a = named["A"].name
    config = console_config(prom_lab, fleet, tmp_path, unreachable="A")
    caplog.set_level(logging.INFO, logger="roost.jobs")
    store = open_store(config)
    job = submit(store, "-o", str(shared_dir / "elsewhere-%j.out"), "--wrap", "hostname",
                 cwd=str(shared_dir))
    async with scheduling(config, store) as (source, start):
        sched = await started(source, named, start)
        await wait(lambda: done(store, job), 40, "job done")
        task, = store.tasks(job)
        assert task.state == State.COMPLETED and task.node != a and task.attempt == 0, task
        assert (shared_dir / f"elsewhere-{job}.out").read_text() == f"roost-lab-{task.node}\n"
        assert f"{a}: link failed, node avoided" in caplog.text     # A was chosen first
        assert source.pool.opened == 1 and a not in source.pool.held()
        job2 = submit(store, "-o", "/dev/null", "--wrap", "true", cwd=str(shared_dir))
        await wait(lambda: done(store, job2), 30, "second job done")
        assert store.tasks(job2)[0].node != a       # A avoided (avoid_for), not retried
        assert caplog.text.count(f"{a}: link failed") == 1
        await stopped(sched)
    store.close()


async def test_a_node_killed_under_its_task_is_node_fail_requeued_and_relinked_on_return(
        prom_lab, fleet, tmp_path, shared_dir):
    _, named, _ = fleet
    config = console_config(prom_lab, fleet, tmp_path)
    store = open_store(config)
    job = submit(store, "-o", str(shared_dir / "moved-%j.out"), "--wrap", "sleep 5; hostname",
                 cwd=str(shared_dir))
    async with scheduling(config, store) as (source, make):
        sched = await started(source, named, make)
        first, victim = await running_on(store, job, named)
        try:
            victim.kill()
            await wait(lambda: store.tasks(job)[0].attempt == 1, 30, "NODE_FAIL, requeued")
            assert store.tasks(job)[0].reason == "NodeFail"
            assert source.reports(30.0)[first].up is False     # Prometheus saw it: up == 0
            await wait(lambda: done(store, job), 40, "run again")
            task, = store.tasks(job)
            assert task.state == State.COMPLETED and task.node != first, task
            assert (shared_dir / f"moved-{job}.out").read_text() == f"roost-lab-{task.node}\n"
        finally:
            victim.restart()            # (the module's last test: the shard may take a while)
        # back up, as Prometheus reports: linked once more, so that a task given up there
        # would be killed (here it died with its sshd), and the record of it settled
        assert store.stale_nodes() == {first}
        t0 = time.monotonic()
        await wait(lambda: source.reports(30.0)[first].up, 90, "the node reported up again")
        t1 = time.monotonic()
        await wait(lambda: not store.stale_nodes(), 45, "given-up task settled on return")
        print(f"\nnode back: reported up after {t1 - t0:.1f} s, "
              f"settled {time.monotonic() - t1:.1f} s later")
        await wait(lambda: first not in source.pool.held(), LINK_IDLE + 10, "its link parked")
        await stopped(sched)
    store.close()


async def test_a_node_whose_exporter_alone_fails_keeps_its_task(
        prom_lab, fleet, tmp_path, shared_dir, caplog):
    """Prometheus reports B down (its scrape refused: up == 0) while SSH to it is fine and our
    task runs there: the link is probed, answers, and the task runs on to COMPLETED on its
    first attempt, never NODE_FAIL, though it stayed reported down well past node_fail_after."""
    _, named, _ = fleet
    b = named["B"].name
    config = console_config(prom_lab, fleet, tmp_path)
    caplog.set_level(logging.INFO, logger="roost.jobs")
    stale = config.thresholds.stale_after
    store = open_store(config)
    job = gated_job(store, shared_dir, b, "kept", f"kept-{tmp_path.name}")
    async with scheduling(config, store) as (source, make):
        sched = await started(source, named, make)
        await wait(lambda: store.tasks(job)[0].pid is not None, 30, "task running")
        with scrape_refused(prom_lab, JOB, b):
            await wait(lambda: not source.reports(stale)[b].up, 30, "B reported down")
            await wait(lambda: f"{b}: reported down by Prometheus, its link answers" in caplog.text,
                       SYNC_EVERY + config.jobs.probe_timeout + 2, "B's link probed")
            await holds(lambda: store.tasks(job)[0].state == State.RUNNING,
                        config.jobs.node_fail_after + config.jobs.probe_timeout + 2,
                        "task given up")
            assert not source.reports(stale)[b].up and source.pool.held() == [b]
        (shared_dir / f"kept-{tmp_path.name}").touch()
        await wait(lambda: done(store, job), 30, "task ended")
        task, = store.tasks(job)
        assert task.state == State.COMPLETED and task.attempt == 0, task
        assert (shared_dir / f"kept-{job}.out").read_text() == f"roost-lab-{b}\n"
        assert "failed a probe" not in caplog.text and "NODE_FAIL" not in caplog.text
        assert source.pool.opened == 1          # the link held throughout
        await stopped(sched)
    store.close()


async def test_a_node_whose_agent_is_busy_past_the_probe_timeout_keeps_its_link_and_task(
        prom_lab, fleet, tmp_path, shared_dir, caplog, monkeypatch):
    """B runs our task and its agent's one command channel is held by a call far longer than
    the probe timeout (as a long fetch or clean-up holds it) when Prometheus reports B down:
    the probe goes on a channel of its own, answers, and B keeps its link (no drop and
    reconnect) and its task, probed again and again while the report stays down."""
    _, named, _ = fleet
    b = named["B"].name
    # a probe timeout generous for a loaded machine (this one's load reached 30); the agent is
    # held far longer: from before B is reported down until after node_fail_after + 4 s more
    config = console_config(prom_lab, fleet, tmp_path, "probe_timeout = 5\nprobe_every = 1\n")
    caplog.set_level(logging.INFO, logger="roost.jobs")
    made, real = [], service._scheduler

    def kept(*args):
        made.append(real(*args))
        return made[-1]
    monkeypatch.setattr(service, "_scheduler", kept)
    stale, release = config.thresholds.stale_after, shared_dir / f"agent-{tmp_path.name}"
    store = open_store(config)
    job = gated_job(store, shared_dir, b, "busy", f"busy-{tmp_path.name}")
    async with scheduling(config, store) as (source, make):
        run = await started(source, named, make)
        await wait(lambda: store.tasks(job)[0].pid is not None, 30, "task running")
        link = made[0].links[b]
        busy = asyncio.create_task(link.require_agent().call(
            f"while [ ! -e {release} ]; do sleep 0.2; done; echo held", timeout=120))
        try:
            with scrape_refused(prom_lab, JOB, b):
                await wait(lambda: not source.reports(stale)[b].up, 30, "B reported down")
                await wait(lambda: f"{b}: reported down by Prometheus, its link answers"
                           in caplog.text, SYNC_EVERY + 5 + 2, "B's link probed")
                await holds(lambda: link.up and store.tasks(job)[0].state == State.RUNNING,
                            config.jobs.node_fail_after + 4, "link dropped or task given up")
                assert "failed a probe" not in caplog.text
                assert not busy.done()          # the agent was held all along
        finally:
            release.touch()
        assert await asyncio.wait_for(busy, 30) == ["held"]
        (shared_dir / f"busy-{tmp_path.name}").touch()
        await wait(lambda: done(store, job), 30, "task ended")
        task, = store.tasks(job)
        assert task.state == State.COMPLETED and task.attempt == 0, task
        assert "failed a probe" not in caplog.text and "connection lost" not in caplog.text
        assert source.pool.opened == 1          # the link held throughout
        await stopped(run)
    store.close()


async def test_a_node_its_link_finds_full_is_not_relinked_every_link_idle(
        prom_lab, fleet, tmp_path, shared_dir, caplog):
    """A's report says 4 free cores, but the console's link reads another procfs there (as
    another cgroup or a container would) with all 4 busy. A job that only A may run is
    Pending: A is linked, found full, parked, and not linked again while the report stays
    the same (it was every link_idle); a changed report links it once more (still full);
    once the link finds room (and the report changed) the job runs there."""
    lab, named, procs = fleet
    a = named["A"].name
    mine = fake_proc(procs[0].parent.parent / f"A-console-{tmp_path.name}", 4, "4.00")
    console_config(prom_lab, fleet, tmp_path)
    toml = tmp_path / "roost.toml"
    toml.write_text(toml.read_text().replace(f'procfs = "{procs[0]}"', f'procfs = "{mine}"'))
    config = with_source_thresholds(load_config(toml, state_dir=tmp_path / "state"))
    caplog.set_level(logging.INFO, logger="roost.jobs")
    found_full = f"{a}: its link measured 0 free cores where its report says"
    store = open_store(config)
    job = submit(store, "-w", a, "-o", str(shared_dir / "full-%j.out"), "--wrap", "hostname",
                 cwd=str(shared_dir))
    try:
        async with scheduling(config, store) as (source, make):
            sched = await started(source, named, make)
            await wait(lambda: found_full in caplog.text, 30, "A linked, found full, parked")
            await holds(lambda: source.pool.opened == 1 and store.tasks(job)[0].pid is None,
                        3 * LINK_IDLE + 2, "A linked again on an unchanged report")
            assert store.job(job).reason == "Resources"
            (procs[0] / "loadavg").write_text("1.00 1.00 1.00 1/200 4242\n")   # the report moves
            await wait(lambda: caplog.text.count(found_full) == 2, 30, "linked once more, full")
            assert source.pool.opened == 2 and store.tasks(job)[0].pid is None
            (mine / "loadavg").write_text("0.00 0.00 0.00 1/200 4242\n")       # room, as...
            (procs[0] / "loadavg").write_text("0.00 0.00 0.00 1/200 4242\n")   # ...reported
            await wait(lambda: done(store, job), 40, "job done")
            task, = store.tasks(job)
            assert task.state == State.COMPLETED and task.node == a, task
            assert source.pool.opened == 3
            await stopped(sched)
    finally:
        (procs[0] / "loadavg").write_text(f"{SIZES['A'][1]} " * 3 + "1/200 4242\n")
    store.close()


async def test_a_node_that_hangs_is_node_fail_within_node_fail_after_of_prometheus_saying_so(
        prom_lab, fleet, tmp_path, shared_dir, caplog, monkeypatch):
    """The node running our task hangs (sshd and sessions stopped: no FIN, no RST, its TCP
    connections open and silent). The console's keepalives are set to take 6 minutes, so only
    the probe on Prometheus's report can tell: NODE_FAIL and requeue come within
    node_fail_after (+ one sync) of the report saying down, and the task runs again elsewhere."""
    monkeypatch.setattr(transport, "KEEPALIVE_INTERVAL", 120.0)
    _, named, _ = fleet
    config = console_config(prom_lab, fleet, tmp_path)
    caplog.set_level(logging.INFO, logger="roost.jobs")
    stale, fail_after = config.thresholds.stale_after, config.jobs.node_fail_after
    store = open_store(config)
    gate = f"hung-{tmp_path.name}"
    job = submit(store, "-o", str(shared_dir / "hung-%j.out"), "--wrap", gated(shared_dir, gate),
                 cwd=str(shared_dir))
    async with scheduling(config, store) as (source, make):
        sched = await started(source, named, make)
        first, victim = await running_on(store, job, named)
        try:
            freeze(victim)
            await wait(lambda: not source.reports(stale)[first].up, 60, "reported down")
            t_down = time.monotonic()
            await wait(lambda: store.tasks(job)[0].attempt == 1,
                       fail_after + config.jobs.probe_timeout + 10,
                       "NODE_FAIL, requeued")
            took = time.monotonic() - t_down
            print(f"\nhung node: NODE_FAIL {took:.1f} s after Prometheus reported it down "
                  f"(node_fail_after {fail_after:g} s)")
            assert took <= fail_after + SYNC_EVERY + 1.5, took
            assert f"{first}: reported down by Prometheus and its link failed a probe" in caplog.text
            (shared_dir / gate).touch()
            await wait(lambda: done(store, job), 40, "run again")
            task, = store.tasks(job)
            assert task.state == State.COMPLETED and task.node != first, task
            assert (shared_dir / f"hung-{job}.out").read_text() == f"roost-lab-{task.node}\n"
        finally:
            victim.restart()
        await wait(lambda: source.reports(stale)[first].up, 90, "the node reported up again")
        await wait(lambda: not store.stale_nodes(), 45, "given-up task settled on return")
        await stopped(sched)
    store.close()


async def test_submit_wait_with_nobody_scheduling_links_only_the_chosen_node(
        prom_lab, fleet, tmp_path, shared_dir, monkeypatch):
    """`roost submit --wait` finding no scheduler schedules in-process: on [source] prometheus
    it places from the reports and opens SSH to the node it chose only (the config names all
    four nodes; it used to link every one of them)."""
    _, named, _ = fleet
    config = console_config(prom_lab, fleet, tmp_path)
    opened: list[str] = []
    real = transport.connect

    async def counted(target, *args, **kwargs):
        opened.append(target.name)
        return await real(target, *args, **kwargs)
    monkeypatch.setattr(transport, "connect", counted)
    store = open_store(config)
    job = submit(store, "-o", str(shared_dir / "waited-%j.out"), "--wrap", "hostname",
                 cwd=str(shared_dir))
    code = await asyncio.wait_for(submit_wait(config, store, job), 90)
    task, = store.tasks(job)
    assert code == 0 and task.state == State.COMPLETED, task
    assert (shared_dir / f"waited-{job}.out").read_text() == f"roost-lab-{task.node}\n"
    assert opened == [task.node]
    assert task.node == named["A"].name         # the freest by its report
    store.close()


def test_roost_submit_wait_and_run_job_on_prometheus_reach_nodes_only_it_names(
        prom_lab, fleet, tmp_path, shared_dir):
    """The commands themselves, on a roost.toml that names no node: the nodes come from
    Prometheus, SSH reaches them through ssh_config aliases (node name -> host name and port).
    `roost submit --wait` finding nobody scheduling runs the job on the freest node by its
    report (it used to schedule on the configured nodes: none, so it waited forever);
    `roost run --job ID` reaches that node while the job runs; submit exits with the job's code."""
    lab, named, _ = fleet
    a = named["A"].name
    # no [[nodes]], so no procfs of its own: a linked node reads this host's /proc, whose load
    # (other tests) would count as foreign work; placement here goes by the reports' sizes
    tables = source_tables(prom_lab, "use_load = false\n")
    toml = tmp_path / "roost.toml"
    toml.write_text(nodes_toml(lab, [], [], tables, known_hosts=known_hosts(fleet, tmp_path)))
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("".join(f"Host {n.name}\n    HostName {hostname(n)}\n"
                                  f"    Port {n.port}\n" for n in named.values()))
    env = {**os.environ, "ROOST_STATE_DIR": str(tmp_path / "state"),
           "ROOST_SSH_CONFIG": str(ssh_config)}
    gate = shared_dir / "cli-gate"
    waiting = subprocess.Popen(
        [str(ROOST), "--config", str(toml), "submit", "--wait", "-o",
         str(shared_dir / "cli-%j.out"), "--wrap", f"{gated(shared_dir, gate.name)}; exit 3"],
        cwd=shared_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        job = int(waiting.stdout.readline().split()[-1])
        store = open_store(load_config(toml, state_dir=tmp_path / "state", env=env))
        deadline = time.monotonic() + 60
        while not (store.tasks(job)[0].pid is not None or waiting.poll() is not None):
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.1)
        store.close()
        ran = subprocess.run([str(ROOST), "--config", str(toml), "run", "--job", str(job), "--",
                              "hostname; echo $SLURM_JOB_ID"], capture_output=True, text=True,
                             timeout=60, env=env)
        assert ran.returncode == 0, ran.stderr
        assert f"roost-lab-{a}\n{job}\n" in ran.stdout, ran.stdout
        gate.touch()
        _, err = waiting.communicate(timeout=60)
    finally:
        gate.touch()
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 3, err
    assert (shared_dir / f"cli-{job}.out").read_text() == f"roost-lab-{a}\n"
