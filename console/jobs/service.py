"""The jobs service: what the console's screens, `roost serve` and the CLI call, UI-free.

JobsService (one per console) owns the queue's location, the backend's view (QueueView for the
built-in queue, SlurmView for [jobs] backend = "slurm"), the scheduler's lifecycle in this
process (role: None, "starting", "held" or "client"), the lock holder probe and acting on
requests when nobody schedules. run_scheduler/settle_requests are the same steps for `roost
serve` and CLI clients that find nobody scheduling (`submit --wait`, cancel of running tasks).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shlex
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from console.config import Config
from console.jobs.core import Connections
from console.jobs.location import cluster_name, jobs_db, open_store, queue_dir, scheduler_lock
from console.jobs.lock import SchedulerLock
from console.jobs.ondemand import NodeSource, OnDemandFleet, pool_connect
from console.jobs.outpaths import cd_argument
from console.jobs.queue_view import JobsView, QueueView
from console.jobs.scheduler import Options, Scheduler, fleet_connect
from console.jobs.store import Store

if TYPE_CHECKING:
    from collectors.model import NodeTarget
    from console.jobs.boinc import BoincFleet
    from console.jobs.boinc_rpc import BoincTask

__all__ = ["JobsService", "Notice", "cluster_name", "hold_when_free", "job_step", "jobs_db",
           "node_limits", "node_targets", "open_store", "queue_dir", "run_scheduler", "scheduler_lock",
           "settle_requests"]

HOLDER_EVERY = 10.0     # seconds between lock-holder probes (see JobsService.holder)
SETTLE_TIMEOUT = 30.0   # seconds a client acts on its own requests before giving up
STANDBY_EVERY = 1.0     # seconds between a standby's tries to take the scheduler over
DRAIN_TIMEOUT = 10.0    # seconds `submit --wait` lets the job's clean-up finish on the nodes
Notice = Callable[[str, str], None]    # (one-line text, severity)


async def run_scheduler(config: Config, stop: asyncio.Event, *, until_job: int | None = None,
                        store: Store | None = None,
                        fleet: Connections | OnDemandFleet | None = None,
                        on_held: Callable[[], None] = lambda: None,
                        own_source: bool = False) -> bool:
    """Hold the lock and schedule until stop (or until_job ends); False if another holds it.
    With a running collectors.fleet.Fleet, jobs use its connections instead of opening more;
    with the Prometheus source, its SSH pool, linking only the nodes placement chooses.
    own_source (a CLI client, `submit --wait`): without a fleet given and with [source]
    prometheus, the source is opened once the lock is held, so links are on demand too."""
    lock = scheduler_lock(config)
    if not lock.acquire():
        return False
    on_held()
    try:
        store = store or open_store(config)
        if fleet is None and own_source and config.source.prometheus:
            async with prometheus_fleet(config) as (config, source):
                await _schedule(config, stop, until_job, store, source)
        else:
            await _schedule(config, stop, until_job, store, fleet)
        return True
    finally:
        lock.release()


async def _schedule(config: Config, stop: asyncio.Event, until_job: int | None, store: Store,
                    fleet: Connections | OnDemandFleet | None) -> None:
    """The scheduler on fleet (see run_scheduler), from start to close."""
    # a serve shard schedules on the nodes it collects, not on its neighbours'
    served = getattr(fleet, "targets", None)
    targets = [t for t in config.targets()
               if not t.local and (served is None or t.name in served)]
    options = Options.from_config(config.jobs)
    sched = _scheduler(config, store, targets, options, fleet)
    await sched.start()
    try:
        await sched.run(stop, until_job=until_job)
        if until_job is not None:   # the job's clean-up on the nodes is part of its end
            await sched.drain(time.monotonic() + DRAIN_TIMEOUT)
    finally:
        await sched.close()


@contextlib.asynccontextmanager
async def prometheus_fleet(config: Config) -> AsyncIterator[tuple[Config, OnDemandFleet]]:
    """The Prometheus source of [source] prometheus, started, for a process that has no console
    reading it (its samples are drained; the scheduler reads its reports), with the config's
    stale threshold for it (as the console's); stopped (its SSH pool closed) on exit."""
    from console.promfleet import open_prom_source, with_source_thresholds
    config = with_source_thresholds(config)
    source = open_prom_source(config)
    await source.start()
    drain = asyncio.get_running_loop().create_task(_discard(source.stream()))
    try:
        yield config, source
    finally:
        await source.stop()
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)


async def _discard(stream: AsyncIterator[object]) -> None:
    async for _ in stream:
        pass


def _scheduler(config: Config, store: Store, targets: list[NodeTarget], options: Options,
               fleet: Connections | OnDemandFleet | None) -> Scheduler:
    """On Fleet's connections, on the Prometheus source's pool (links on demand), or alone."""
    if fleet is None:
        return Scheduler(store, targets, options)
    if isinstance(fleet, OnDemandFleet):
        if fleet.pool is None:
            raise ValueError("the Prometheus source has no SSH pool to reach nodes with")
        stale = config.thresholds.stale_after
        nodes = NodeSource(lambda: fleet.reports(stale), fleet.target_of)
        # links hold pool connections: one connection is always left for run, t, shutdown
        cap = max(1, min(options.max_links, fleet.pool.cap - 1))
        return Scheduler(store, targets, dataclasses.replace(options, max_links=cap),
                         pool_connect(fleet.pool), nodes=nodes)
    return Scheduler(store, targets, options, fleet_connect(fleet), shared_connections=True)


def on_demand(source: object) -> bool:
    """A Prometheus source with an SSH pool: the scheduler links its chosen nodes only."""
    return isinstance(source, OnDemandFleet) and source.pool is not None


async def hold_when_free(config: Config, stop: asyncio.Event, *,
                         fleet: Connections | OnDemandFleet | None = None,
                         waiting: Callable[[], None] = lambda: None,
                         on_held: Callable[[], None] = lambda: None) -> None:
    """Schedule whenever this process can hold the lock, until stop: a standby (a second
    `roost serve`, a console) takes over within STANDBY_EVERY seconds of the holder's exit
    (the kernel drops the flock even on kill -9). waiting() is called once, when first refused."""
    told = False
    while not stop.is_set():
        if await run_scheduler(config, stop, fleet=fleet, on_held=on_held):
            return
        if not told:
            waiting()
            told = True
        try:
            await asyncio.wait_for(stop.wait(), STANDBY_EVERY)
        except TimeoutError:
            pass


async def settle_requests(config: Config, store: Store, timeout: float) -> bool:
    """Nobody schedules: act on pending client requests ourselves (signals need the nodes).
    True when no request is left (cancelled tasks have ended)."""
    lock = scheduler_lock(config)
    if not lock.acquire():
        return False   # a holder appeared: it will act on the requests
    try:
        targets = node_targets(config, {t.node for t in store.wants() if t.node})
        options = dataclasses.replace(Options.from_config(config.jobs), partial=True)
        sched = Scheduler(store, targets, options)
        await sched.start()
        try:
            await sched.settle(time.monotonic() + timeout)
        finally:
            await sched.close()
        return not store.wants()
    finally:
        lock.release()


def node_targets(config: Config, names: Iterable[str]) -> list[NodeTarget]:
    """How to reach these nodes over SSH: as configured; with [source] prometheus a node only
    Prometheus names is reached by its name through ssh_config and [defaults] (as the console's
    pool reaches it). A node neither knows is left out."""
    names = set(names)
    targets = [t for t in config.targets() if t.name in names]
    if config.source.prometheus:
        from console.promfleet import target_of
        known = {spec.name: spec for spec in config.nodes}
        found = {t.name for t in targets}
        targets += [t for name in sorted(names - found - known.keys())
                    if (t := target_of(config, known, name)) is not None]
    return targets


def job_step(config: Config, text: str) -> tuple[list[str], str]:
    """`roost run --job ID`: (the nodes the running task holds, a shell prefix giving the
    command its job's ids and working directory, as srun does inside an allocation)."""
    from console.jobs.model import State
    from console.jobs.spec import SpecError, format_hostlist, parse_target
    job_id, indices = parse_target(text)
    with open_store(config) as store:
        if store.job(job_id) is None:
            raise SpecError(f"Invalid job id specified: {text}")
        tasks = [t for t in store.tasks(job_id, [State.RUNNING])
                 if indices is None or t.index in indices]
        spec = store.spec_only(job_id)
    if len(tasks) != 1:
        raise SpecError(f"job {text} is not running" if not tasks else
                        f"job {text} has {len(tasks)} running tasks: name one ({tasks[0].label})")
    task = tasks[0]
    nodes = list(task.nodes)
    env = {"SLURM_JOB_ID": task.task_job_id, "SLURM_JOB_NODELIST": format_hostlist(nodes),
           "SLURM_NNODES": len(nodes), "SLURM_NTASKS": spec.total_tasks,
           "ROOST_JOB_ID": job_id}
    exports = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env.items())
    return nodes, f"export {exports}; cd {cd_argument(spec.work_dir)} 2>/dev/null; "


async def node_limits(targets: list[NodeTarget], timeout: float) -> dict[str, str]:
    """How each node can hold tasks to --mem and --cpus-per-task (console.jobs.limits)."""
    from console.jobs.limits import PROBE, parse_probe
    from console.runcmd import run_everywhere
    results = await run_everywhere(targets, PROBE, timeout)
    return {name: parse_probe(out.splitlines()) if code == 0 else "unknown"
            for name, (code, out, _err) in results.items()}


class JobsService:
    """The console's one jobs object (app.jobs): screens read and act through view and the
    methods here, never through SQL or the scheduler directly."""

    def __init__(self, config: Config | None, db_path: str | os.PathLike[str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config, self.clock = config, clock
        self.db_path = Path(db_path) if db_path else None
        self.role: str | None = None          # "starting" | "held" | "client" in this process
        self.problem = ""                     # why there is no view (a bad [jobs] table)
        self._view: JobsView | None = None
        self._holder: tuple[float, int | None] | None = None
        self._stop: asyncio.Event | None = None
        self._bg: set[asyncio.Task[None]] = set()

    @property
    def uses_slurm(self) -> bool:
        return self.config is not None and self.config.jobs.uses_slurm

    @property
    def uses_ray(self) -> bool:
        return self.config is not None and self.config.jobs.uses_ray

    @property
    def external(self) -> bool:
        """Slurm or Ray schedules: no built-in queue or scheduler in this console."""
        return self.uses_slurm or self.uses_ray

    # ---- the view the screens use --------------------------------------------------------------

    @property
    def form_workdir(self) -> str:
        """The submit form's working directory: `[jobs] workdir`, else "~", the home of the
        node's login user, resolved on the node (never the directory roost was started in: a
        demo job once wrote slurm-1.out into a source tree; nor the console user's home, which
        a node's other login user cannot enter). Output not on a shared file system is fetched
        into the console user's home."""
        configured = self.config.jobs.workdir if self.config is not None else None
        return configured or "~"

    def view(self) -> JobsView | None:
        """QueueView or SlurmView (made on first use), None when there is no queue here
        (then problem says why)."""
        if self._view is None and not self.problem:
            self._view = self._make_view()
        return self._view

    def _make_view(self) -> JobsView | None:
        config = self.config
        if config is not None and config.jobs.uses_slurm:
            from console.jobs.slurm_view import SlurmView
            try:
                return SlurmView.from_config(config)
            except Exception as exc:  # a bad [jobs] table or controller: one notice, no queue
                self.problem = f"Slurm backend: {exc}"
                return None
        if config is not None and config.jobs.uses_ray:
            from console.ray.view import RayView
            try:
                return RayView.from_config(config)
            except Exception as exc:  # a head that is not a configured node: one notice
                self.problem = f"Ray backend: {exc}"
                return None
        if self.db_path is None:
            self.problem = "no job queue: roost has no state directory here"
            return None
        return QueueView(self.db_path, self.scheduler_note, self.after_request, self.clock)

    def running_per_node(self) -> dict[str, int]:
        """Running or suspended tasks per node of the built-in queue (called from a thread)."""
        if self.db_path is None or self.external or not self.db_path.exists():
            return {}
        counts: dict[str, int] = {}
        with Store(self.db_path) as store:
            for task in store.active():
                for node in task.nodes:       # every node an allocation holds
                    counts[node] = counts.get(node, 0) + 1
        return counts

    # ---- who schedules ---------------------------------------------------------------------

    def holder(self) -> int | None:
        """SchedulerLock.holder() at most every HOLDER_EVERY seconds: with nobody holding it, the
        probe takes the lock for an instant, and a `roost serve` starting then would miss it."""
        if self.db_path is None:     # no queue here, so nobody schedules it
            return None
        seen = self._holder
        if seen is None or time.monotonic() - seen[0] > HOLDER_EVERY:
            seen = self._holder = (time.monotonic(), SchedulerLock(self.db_path.parent).holder())
        return seen[1]

    def scheduler_note(self) -> str:
        """Who schedules this queue, for the status line (called from a read thread)."""
        if self.role == "held":
            return "scheduler: this console"
        if self.role == "starting":
            return "scheduler: starting"
        holder = self.holder()
        if holder is None:
            return "no scheduler running: pending jobs wait (roost serve, or the console on a fleet)"
        return f"scheduler: pid {holder}" + (" (this console)" if holder == os.getpid() else "")

    def can_schedule(self, source: object) -> TypeGuard[Connections | OnDemandFleet]:
        """A real fleet to place work on (Fleet.connection, or the Prometheus source's SSH
        pool), and the built-in backend."""
        return (self.config is not None and self.db_path is not None and not self.external
                and (callable(getattr(source, "connection", None)) or on_demand(source)))

    def hold_scheduler(self, fleet: Connections | OnDemandFleet,
                       notice: Notice) -> Coroutine[Any, Any, None]:
        """The work that holds the job scheduler on fleet's connections until close(), or
        stands by while another roost holds it and takes over when it exits; notice() tells of
        either. The role reads "starting" from this call on, not from when a worker first runs
        the coroutine: a queue read in between would say nobody schedules."""
        self.role, self._stop = "starting", asyncio.Event()
        return self._hold(fleet, notice, self._stop)

    async def _hold(self, fleet: Connections | OnDemandFleet, notice: Notice,
                    stop: asyncio.Event) -> None:
        config = self.config
        if config is None:      # nothing to hold without a config (see can_schedule)
            self.role = None
            return

        def waiting() -> None:
            self.role = "client"
            notice("another roost holds the job scheduler; this console is its client "
                   "(and takes over if it exits)", "information")

        def held() -> None:
            if self.role == "client":
                notice("the job scheduler's holder exited: this console schedules now",
                       "information")
            self.role, self._holder = "held", None
        try:
            await hold_when_free(config, stop, fleet=fleet, waiting=waiting, on_held=held)
        except Exception as exc:  # the console stays up; the queue waits for another holder
            self.role = "client"
            notice(f"job scheduler stopped: {type(exc).__name__}: {exc}", "error")
        else:
            if self.role == "held":
                self.role = None

    # ---- requests ----------------------------------------------------------------------------

    def after_request(self) -> None:
        """A cancel/suspend/resume was recorded: with nobody scheduling, act on it here (in the
        background, on this loop; settle_requests gives way when a holder appears)."""
        if self.config is not None and self.role != "held":
            task = asyncio.get_running_loop().create_task(self._settle())
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)

    async def _settle(self) -> None:
        if self.config is None or self.db_path is None:   # no queue of ours to act on
            return
        with Store(self.db_path) as store:
            if store.wants():
                await settle_requests(self.config, store, SETTLE_TIMEOUT)

    # ---- BOINC on the console's fleet ----------------------------------------------------------

    async def boinc_tasks(self, source: BoincFleet) -> list[BoincTask]:
        from console.jobs.boinc import fleet_tasks
        view = await fleet_tasks(source, self._boinc_table())
        return list(view.tasks)

    async def boinc_control(self, source: BoincFleet, node: str, op: str, project_url: str,
                            name: str) -> None:
        from console.jobs.boinc import fleet_control
        await fleet_control(source, node, op, project_url, name, self._boinc_table())

    def _boinc_table(self) -> Mapping[str, Any]:
        return self.config.jobs.boinc if self.config is not None else {}

    async def close(self) -> None:
        """Stop this process's scheduler and background requests; close the view."""
        if self._stop is not None:
            self._stop.set()
        for task in list(self._bg):
            task.cancel()
        await asyncio.gather(*self._bg, return_exceptions=True)
        view, self._view = self._view, None
        if view is not None:
            await view.close()
