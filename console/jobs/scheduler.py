"""The built-in scheduler: queue (SQLite) -> placement -> detached tasks on nodes -> states.

The loop and its state live here; each responsibility is a mixin in its own module:
links (node health, NODE_FAIL), ondemand (links only to chosen nodes, parked when idle:
the Prometheus source), tracking (re-attach, events, polls, end states, clean-up),
outputs (paths, SFTP fetch), signals (cancel/suspend/resume, time limits), dispatch
(placement and launch); console.jobs.core holds what they share (Options, Link, Running).

Exactly one process runs it (the console or `roost serve`, or `submit --wait` when nobody else
does), guarded by SchedulerLock. Clients only write the database; the scheduler notices through
PRAGMA data_version. Every state change goes through Store's guarded updates, and a task is
marked RUNNING before its launch line is sent, so a crash in between is resolved on restart by
asking the node (pid file there or not): nothing is lost or started twice.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from collectors.model import NodeTarget
from collectors.transport import connect as transport_connect
from console.jobs.core import Connect, Key, Link, Options, Running
from console.jobs.dispatch import DispatchMixin
from console.jobs.links import LinksMixin, fleet_connect
from console.jobs.model import JobSpec
from console.jobs.ondemand import NodeSource, OnDemandMixin
from console.jobs.outputs import OutputsMixin
from console.jobs.remote import node_root
from console.jobs.signals import SignalsMixin
from console.jobs.store import Store
from console.jobs.tracking import TrackingMixin

__all__ = ["Options", "Scheduler", "fleet_connect", "Link", "Running"]
log = logging.getLogger("roost.jobs")
PURGE_EVERY = 3600.0    # seconds between retention passes over the history
DEFAULTS = Options()    # frozen: one shared default


class Scheduler(LinksMixin, TrackingMixin, OutputsMixin, SignalsMixin, DispatchMixin,
                OnDemandMixin):
    """The scheduler's loop and state; each responsibility lives in its mixin's module."""

    def __init__(self, store: Store, targets: list[NodeTarget], options: Options = DEFAULTS,
                 connect: Connect = transport_connect, *, shared_connections: bool = False,
                 nodes: NodeSource | None = None):
        """connect opens a node's connection; with shared_connections (Fleet's connections,
        see fleet_connect) the scheduler never closes them, only its own channels. nodes:
        links on demand (console.jobs.ondemand), more nodes from its reports."""
        self.store, self.options, self._connect = store, options, connect
        self._nodes, self._seen, self._last_sync, self._recorded = nodes, {}, 0.0, {}
        self._owns = not shared_connections
        self.queue = queue = store.queue_id()
        self.links = {t.name: Link(t, node_root(queue, t.name)) for t in targets}
        self.running: dict[tuple[int, int], Running] = {}
        self.specs: dict[int, JobSpec] = {}
        self._done = []    # event lines not yet applied (node job key rc why)
        self._wake = asyncio.Event()
        self._version: tuple[int, int] | None = None
        self._last_poll = self._last_load = self._last_place = self._last_purge = 0.0
        self._bg: set[asyncio.Task[None]] = set()
        self._pending: dict[int, int] | None = None   # job id -> pending tasks (cache)
        self._inflight: set[Key] = set()
        self._down: set[str] = set()      # see SchedulerCore
        self._linked: set[str] = set()
        self._probed: dict[str, float] = {}
        self._freest: Sequence[str] | None = None
        self._synced: int | None = None
        self._dirty = True
        self.stats = {"launched": 0, "finished": 0}

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect every node (on demand: only those running our tasks) and re-attach to
        tasks a previous holder left running."""
        if self.on_demand:
            await self._start_on_demand()
        else:
            await asyncio.gather(*(self._bring_up(link) for link in self.links.values()))
        if not self.options.partial:
            self._adopt_orphans()

    async def close(self) -> None:
        for task in list(self._bg):
            task.cancel()
        await asyncio.gather(*self._bg, return_exceptions=True)
        for link in self.links.values():
            self._drop(link)

    async def run(self, stop: asyncio.Event | None = None, until_job: int | None = None) -> None:
        """Schedule until stop is set or job until_job has no live task left."""
        while not (stop and stop.is_set()):
            await self.step()
            if until_job is not None and self._job_done(until_job):
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.options.tick)
            except TimeoutError:
                pass

    def _job_done(self, job_id: int) -> bool:
        return not self.store.has_live(job_id)

    async def step(self) -> None:
        """One pass: finished tasks, client requests, limits, node health, placement."""
        now = time.time()
        self._apply_events()
        version = self.store.version()
        if version != self._version:
            self._version, self._dirty, self._pending = version, True, None
            self._handle_wants()
        self._enforce(now)
        if now - self._last_poll >= self.options.poll_every:
            self._last_poll = now
            self._poll_all()
            self._handle_wants()
        self._on_demand_pass(now)
        await self._check_nodes(now)
        if now - self._last_load >= self.options.load_every:
            self._last_load = now
            self._refresh_load()
        if now - self._last_purge >= PURGE_EVERY and not self.options.partial:
            self._last_purge = now
            self._purge(now)
        if not self.options.partial and (self._dirty or now - self._last_place >= 1.0):
            # placement reads the whole pending queue: only when something changed (or 1/s)
            self._dirty, self._last_place = False, now
            await self._schedule(now)

    async def settle(self, deadline: float) -> None:
        """A CLI client's pass (Options.partial): act on requests until none is left and no
        cancelled task still runs, or until deadline (time.monotonic())."""
        self._version = None     # force a look at the requests
        while self.store.wants() and time.monotonic() < deadline:
            await self.step()
            await asyncio.sleep(0.05)
        while self._killing() and time.monotonic() < deadline:
            await self.step()
            await asyncio.sleep(0.05)
        await self.drain(deadline)

    async def drain(self, deadline: float) -> None:
        """Let node I/O in flight finish (fetches, clean-up of ended jobs' directories) before
        close() cancels what is left; until deadline (time.monotonic())."""
        while self._bg and time.monotonic() < deadline:
            await asyncio.wait(set(self._bg), timeout=max(0.0, deadline - time.monotonic()))

    def _purge(self, now: float) -> None:
        """Forget jobs that ended more than history_days ago (the accounting's retention)."""
        if self.options.history_days > 0:
            gone = self.store.purge(now - self.options.history_days * 86400)
            if gone:
                log.info("jobs: forgot %d job(s) older than %g days", gone,
                         self.options.history_days)

    def _killing(self) -> bool:
        return any(r.task.kill_reason for r in self.running.values())

    def _spawn(self, coro: Coroutine[Any, Any, None], key: Key | None = None) -> None:
        """Node I/O runs beside the loop, so a hung node never stalls the others. key: at
        most one such operation in flight (one poll per node, one request per task)."""
        if key is not None:
            if key in self._inflight:
                coro.close()
                return
            self._inflight.add(key)
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._bg.discard(t)
            if key is not None:
                self._inflight.discard(key)
            if not t.cancelled() and t.exception() is not None:
                log.error("jobs: background step failed", exc_info=t.exception())
            self._wake.set()
        task.add_done_callback(done)
