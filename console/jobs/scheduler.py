"""The built-in scheduler: queue (SQLite) -> placement -> detached tasks on nodes -> states.

Exactly one process runs it (the console or `roost serve`, or `submit --wait` when nobody else
does), guarded by SchedulerLock. Clients only write the database; the scheduler notices through
PRAGMA data_version. Every state change goes through Store's guarded updates, and a task is
marked RUNNING before its launch line is sent, so a crash in between is resolved on restart by
asking the node (pid file there or not): nothing is lost or started twice.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Mapping

import asyncssh

from collectors.model import NodeTarget
from collectors.transport import TransportError, channel_slot, connect as transport_connect
from console.jobs.deps import dependency_verdict
from console.jobs.model import (REASON_DEPENDENCY, REASON_NEVER, JobSpec, State, Task,
                                final_state)
from console.jobs.placement import Demand, NodeRoom, place
from console.jobs.remote import (Agent, AgentError, Events, NodeInfo, Status, launch_line,
                                 node_root, wrapper_script)
from console.jobs.spec import PatternValues, expand_pattern
from console.jobs.store import Store

log = logging.getLogger("roost.jobs")
Connect = Callable[[NodeTarget], Awaitable[asyncssh.SSHClientConnection]]


@dataclass(frozen=True, slots=True)
class Options:
    cores: Mapping[str, int] = field(default_factory=dict)   # inventory override per node
    use_load: bool = True        # count live load not caused by roost as busy cores
    grace: float = 5.0           # TERM -> KILL
    node_fail_after: float = 30.0  # an unreachable node's tasks become NODE_FAIL after this
    poll_every: float = 2.0      # safety poll of running tasks (events are the fast path)
    load_every: float = 5.0
    tick: float = 0.05
    partial: bool = False        # a CLI client acting on requests: no placement, no NODE_FAIL

    @classmethod
    def from_config(cls, jobs: Mapping) -> "Options":
        keys = ("use_load", "grace", "node_fail_after", "poll_every", "load_every")
        kw = {k: jobs[k] for k in keys if k in jobs}
        return cls(cores=dict(jobs.get("cores", {})), **kw)


@dataclass(slots=True)
class Link:
    """The scheduler's view of one node."""
    target: NodeTarget
    root: str
    conn: asyncssh.SSHClientConnection | None = None
    agent: Agent | None = None
    events: Events | None = None
    info: NodeInfo | None = None
    load1: float = 0.0
    down_since: float | None = None
    written: set[int] = field(default_factory=set)       # jobs whose files are on the node
    shared: dict[str, bool] = field(default_factory=dict)  # output dir -> same file system?
    connecting: bool = False
    next_try: float = 0.0
    sftp: asyncssh.SFTPClient | None = None
    sftp_slot: asyncio.Semaphore | None = None
    sftp_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def up(self) -> bool:
        # fully set up: placement runs while a link is still connecting and needs info
        return self.agent is not None and self.events is not None


@dataclass(slots=True)
class Running:
    """A live task as the scheduler tracks it."""
    task: Task
    spec: JobSpec
    out: str           # where the output must end up (console host)
    err: str | None
    remote_out: str    # where the task writes on the node
    remote_err: str | None
    kill_at: float | None = None   # when to send KILL (after TERM)

    @property
    def key(self) -> str:
        return f"{self.task.job_id}/{self.task.pos}.{self.task.attempt}"


class Scheduler:
    def __init__(self, store: Store, targets: list[NodeTarget], options: Options = Options(),
                 connect: Connect = transport_connect, *, shared_connections: bool = False):
        """connect opens a node's connection; with shared_connections (Fleet's connections,
        see fleet_connect) the scheduler never closes them, only its own channels."""
        self.store, self.options, self._connect = store, options, connect
        self._owns = not shared_connections
        queue = store.queue_id()
        self.links = {t.name: Link(t, node_root(queue, t.name)) for t in targets}
        self.running: dict[tuple[int, int], Running] = {}
        self.specs: dict[int, JobSpec] = {}
        self._done: list[tuple[str, int, str, int]] = []    # event lines not yet applied
        self._wake = asyncio.Event()
        self._version: tuple[int, int] | None = None
        self._last_poll = self._last_load = self._last_place = 0.0
        self._bg: set[asyncio.Task] = set()
        self._pending: dict[int, int] | None = None   # job id -> pending tasks (cache)
        self._inflight: set = set()
        self._dirty = True
        self.stats = {"launched": 0, "finished": 0}

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect every node and re-attach to tasks a previous holder left running."""
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
            except asyncio.TimeoutError:
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
        await self._check_nodes(now)
        if now - self._last_load >= self.options.load_every:
            self._last_load = now
            self._refresh_load()
        if not self.options.partial and (self._dirty or now - self._last_place >= 1.0):
            # placement reads the whole pending queue: only when something changed (or 1/s)
            self._dirty, self._last_place = False, now
            await self._schedule(now)

    # --- nodes ----------------------------------------------------------------------------

    async def _bring_up(self, link: Link) -> None:
        if link.connecting:
            return
        link.connecting = True
        try:
            await self._connect_link(link)
        except (TransportError, AgentError, asyncssh.Error, OSError) as exc:
            log.info("jobs: %s unreachable: %s", link.target.name, exc)
            self._drop(link)
        finally:
            link.connecting = False

    async def _connect_link(self, link: Link) -> None:
        name = link.target.name
        link.conn = await self._connect(link.target)
        agent = Agent(name, link.conn, link.root, link.target.procfs)
        await agent.start()
        link.agent = agent
        mine = [r for r in self._db_active(name)]
        if not mine:   # nothing of ours runs there: start a fresh events file
            await agent.call(f'mkdir -p "$HOME/{link.root}" && : > "$HOME/{link.root}/events"')
        link.info = await agent.setup()
        link.load1, link.written = link.info.load1, set()
        link.events = Events(name, link.conn, link.root, self._on_event, self._on_feed_closed)
        await link.events.start(link.info.events_size)
        link.down_since, self._dirty = None, True
        await self._kill_stale(link)
        await self._reattach(link, mine)

    async def _kill_stale(self, link: Link) -> None:
        """Tasks given up as NODE_FAIL that still run (the node was cut off, not dead): KILL
        them, so a requeued task never runs twice at once."""
        stale = self.store.stale(link.target.name)
        if not stale:
            return
        alive = [s for s in await link.agent.poll([k for k, _ in stale]) if s.kind == "R"]
        await link.agent.signal([s.value for s in alive], "KILL")
        if alive:
            log.warning("jobs: %s is back: killed %d task(s) already given up as NODE_FAIL",
                        link.target.name, len(alive))
        self.store.drop_stale(link.target.name, [k for k, _ in stale])

    def _drop(self, link: Link) -> None:
        for part in (link.events, link.agent):
            if part is not None:
                part.close()
        if link.sftp is not None:
            link.sftp.exit()
            link.sftp_slot.release()
        if link.conn is not None and self._owns:
            link.conn.close()
        link.agent = link.events = link.conn = link.sftp = None
        if link.down_since is None:
            link.down_since = time.time()

    def _on_feed_closed(self, feed: Events) -> None:
        node = feed.node
        link = self.links[node]
        if link.events is feed:   # not an older feed closing after a reconnect
            log.info("jobs: %s: connection lost", node)
            self._drop(link)
        self._wake.set()

    async def _check_nodes(self, now: float) -> None:
        for link in self.links.values():
            if link.up or link.down_since is None:
                continue
            if not link.connecting and now >= link.next_try:
                link.next_try = now + 1.0
                self._spawn(self._bring_up(link), ("up", link.target.name))
            if now - link.down_since >= self.options.node_fail_after and not self.options.partial:
                self._node_failed(link.target.name, now)

    def _node_failed(self, node: str, now: float) -> None:
        lost = self._db_active(node)
        for task in lost:
            self.running.pop((task.job_id, task.pos), None)
            self.store.add_stale(node, f"{task.job_id}/{task.pos}.{task.attempt}", task.pid)
            if (self.store.finish(task, State.NODE_FAIL, None, now)
                    and self._spec(task.job_id).requeue):
                self.store.requeue(task, "NodeFail")   # a fresh attempt, fresh files
                self._dirty, self._pending = True, None
        if lost:
            log.warning("jobs: %s down: %d task(s) NODE_FAIL", node, len(lost))

    def _refresh_load(self) -> None:
        for link in self.links.values():
            if link.up and self.options.use_load:
                self._spawn(self._load(link), ("load", link.target.name))

    async def _load(self, link: Link) -> None:
        try:
            link.load1 = await link.agent.load()
        except (AgentError, AttributeError):
            self._drop(link)

    # --- re-attach ------------------------------------------------------------------------

    def _db_active(self, node: str) -> list[Task]:
        return [t for t in self.store.active() if t.node == node]

    def _adopt_orphans(self) -> None:
        """Tasks the database puts on nodes roost does not know any more: NODE_FAIL."""
        for task in self.store.active():
            if task.node not in self.links:
                self.store.finish(task, State.NODE_FAIL, None, time.time())

    async def _reattach(self, link: Link, tasks: list[Task]) -> None:
        known = {(t.job_id, t.pos): t for t in tasks}
        link.written |= {t.job_id for t in tasks}    # their files are there: clean up later
        for task in tasks:
            if (task.job_id, task.pos) not in self.running:
                self.running[(task.job_id, task.pos)] = self._tracking(task, link)
        runs = [self.running[k] for k in known]
        await self._probe_dirs(link, runs)
        for r in runs:
            r.remote_out, r.remote_err = self._remote_paths(link, r.task, r.out, r.err)
        keys = [r.key for r in runs]
        statuses = await link.agent.poll(keys)
        await self._apply_statuses(link, statuses)

    def _tracking(self, task: Task, link: Link) -> Running:
        spec = self._spec(task.job_id)
        out, err = self._paths(spec, task, link.target.name)
        remote_out, remote_err = self._remote_paths(link, task, out, err)
        return Running(task, spec, out, err, remote_out, remote_err)

    async def _apply_statuses(self, link: Link, statuses: list[Status]) -> None:
        finished = []
        for st in statuses:
            r = self._by_key(st.key)
            if r is None:
                continue
            if st.kind == "X":
                finished.append((r, st.value))
            elif st.kind == "G":
                finished.append((r, None))
            elif st.kind == "N":      # the launch never reached the node: launch it again
                self.running.pop((r.task.job_id, r.task.pos), None)
                self.store.unstart(r.task)
                self._dirty, self._pending = True, None
            elif st.kind == "R" and r.task.pid is None:
                r.task.pid = st.value
                self.store.set_pid(r.task, st.value)
        await self._finish(link, finished)

    def _by_key(self, key: str) -> Running | None:
        job, _, rest = key.partition("/")
        pos, _, attempt = rest.partition(".")
        r = self.running.get((int(job), int(pos)))
        return r if r is not None and r.task.attempt == int(attempt) else None

    # --- completions ----------------------------------------------------------------------

    def _on_event(self, node: str, job_id: int, key: str, rc: int) -> None:
        self._done.append((node, job_id, key, rc))
        self._wake.set()

    def _apply_events(self) -> None:
        if not self._done:
            return
        batch, self._done = self._done, []
        per_node: dict[str, list] = {}
        for node, job_id, key, rc in batch:
            r = self._by_key(f"{job_id}/{key}")
            if r is not None and r.task.node == node:
                per_node.setdefault(node, []).append((r, rc))
        for node, finished in per_node.items():
            self._spawn(self._finish(self.links[node], finished))

    async def _finish(self, link: Link, finished: list[tuple[Running, int | None]]) -> None:
        """Fetch outputs that are not on a shared file system, then record the end state."""
        if not finished:
            return
        now, rows = time.time(), []
        fetched = await asyncio.gather(*(self._fetch(link, r) for r, _ in finished))
        for (r, rc), ok in zip(finished, fetched):
            if ok is None:
                continue    # connection lost mid-fetch: still RUNNING; re-attach retries
            state = final_state(rc, r.task.kill_reason)
            if not ok and state is State.COMPLETED:
                state = State.FAILED
            rows.append((r.task, state, rc))
            self.running.pop((r.task.job_id, r.task.pos), None)
        self.stats["finished"] += self.store.finish_many(rows, now)
        self._dirty = True
        await self._cleanup({r.task.job_id for r, _ in finished})
        self._wake.set()

    async def _fetch(self, link: Link, r: Running) -> bool | None:
        """True: outputs in place; False: they cannot be (task FAILED, reason recorded);
        None: the connection went away, try again after re-attaching."""
        pairs = [(r.remote_out, r.out)]
        if r.err is not None:
            pairs.append((r.remote_err, r.err))
        if all(remote == local for remote, local in pairs):
            return True
        try:
            async with link.sftp_lock:   # concurrent fetches share one client
                if link.sftp is None:
                    await self._start_sftp(link)
            for remote, local in pairs:
                if remote != local:
                    await link.sftp.get(remote, local)
            return True
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, asyncssh.ChannelOpenError,
                AttributeError, BrokenPipeError, ConnectionError):
            return None
        except (asyncssh.Error, OSError) as exc:
            log.warning("jobs: %s: cannot fetch output of %s: %s", link.target.name,
                        r.task.label, exc)
            self.store.set_reason(r.task, f"OutputFetchFailed: {exc}")
            return False

    async def _start_sftp(self, link: Link) -> None:
        slot = channel_slot(link.conn)   # SFTP is a channel too: stay within the budget
        await slot.acquire()
        try:
            link.sftp = await link.conn.start_sftp_client()
        except BaseException:
            slot.release()
            raise
        link.sftp_slot = slot

    async def _cleanup(self, jobs: set[int]) -> None:
        """Remove a job's files from every node once none of its tasks is live anywhere."""
        for job_id in jobs:
            if not self._job_done(job_id):
                continue
            for link in self.links.values():
                if job_id in link.written and link.up:
                    link.written.discard(job_id)
                    try:
                        await link.agent.cleanup(job_id)
                    except (AgentError, AttributeError):
                        pass

    def _poll_all(self) -> None:
        by_node: dict[str, list[str]] = {}
        for r in self.running.values():
            if r.task.pid is not None:   # launches in flight are not asked about ("N")
                by_node.setdefault(r.task.node, []).append(r.key)
        for node, keys in by_node.items():
            self._spawn(self._poll_node(self.links.get(node), keys), ("poll", node))

    async def _poll_node(self, link: Link | None, keys: list[str]) -> None:
        if link is not None and link.up:
            try:
                await self._apply_statuses(link, await link.agent.poll(keys))
            except AgentError:
                self._drop(link)

    # --- requests and limits --------------------------------------------------------------

    def _handle_wants(self) -> None:
        for task in self.store.wants():
            r = self.running.get((task.job_id, task.pos))
            link = self.links.get(task.node or "")
            if r is None or link is None or not link.up or r.task.pid is None:
                continue    # retried at the next poll (every poll_every seconds)
            self._spawn(self._act(link, r, task.want), ("act", task.job_id, task.pos))

    async def _act(self, link: Link, r: Running, want: str) -> None:
        try:
            if want == "cancel":
                self._mark_kill(r, "cancel")
                self.store.clear_want(r.task)
                await self._term(link, r)
            elif want == "suspend" and self.store.suspend(r.task, time.time()):
                await link.agent.signal([r.task.pid], "STOP")
            elif want == "resume" and self.store.resume(r.task, time.time()):
                await link.agent.signal([r.task.pid], "CONT")
            else:
                self.store.clear_want(r.task)
        except AgentError:
            self._drop(link)

    def _mark_kill(self, r: Running, reason: str) -> None:
        """Record why before signalling: the end state must not depend on who sees it end."""
        if r.task.kill_reason is None:
            r.task.kill_reason = reason
            self.store.set_kill_reason(r.task, reason)
        r.kill_at = time.time() + self.options.grace

    async def _term(self, link: Link, r: Running) -> None:
        # CONT after TERM: a stopped task must run to act on TERM.
        await link.agent.signal([r.task.pid], "TERM")
        await link.agent.signal([r.task.pid], "CONT")

    async def _signal(self, link: Link, r: Running, sig: str) -> None:
        try:
            await (self._term(link, r) if sig == "TERM" else link.agent.signal([r.task.pid], sig))
        except AgentError:
            self._drop(link)

    def _enforce(self, now: float) -> None:
        for r in list(self.running.values()):
            link = self.links.get(r.task.node)
            if link is None or not link.up or r.task.pid is None:
                continue
            if r.kill_at is not None and now >= r.kill_at:
                r.kill_at = math.inf            # KILL once; the next poll sees it gone
                self._spawn(self._signal(link, r, "KILL"))
                self._last_poll = now - self.options.poll_every + 0.2
            elif (r.kill_at is None and r.spec.time_limit and r.task.suspended_at is None
                  and r.task.elapsed(now) > r.spec.time_limit):
                self._mark_kill(r, "timeout")
                self._spawn(self._signal(link, r, "TERM"))

    def _spawn(self, coro, key=None) -> None:
        """Node I/O runs beside the loop, so a hung node never stalls the others. key: at
        most one such operation in flight (one poll per node, one request per task)."""
        if key is not None:
            if key in self._inflight:
                coro.close()
                return
            self._inflight.add(key)
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)

        def done(t: asyncio.Task) -> None:
            self._bg.discard(t)
            self._inflight.discard(key)
            if not t.cancelled() and t.exception() is not None:
                log.error("jobs: background step failed", exc_info=t.exception())
            self._wake.set()
        task.add_done_callback(done)

    # --- placement and launch -------------------------------------------------------------

    def _spec(self, job_id: int) -> JobSpec:
        spec = self.specs.get(job_id)
        if spec is None:
            spec = self.specs[job_id] = self.store.spec_only(job_id)
        return spec

    def _demands(self, now: float) -> list[Demand]:
        running_per_job: dict[int, int] = {}
        for r in self.running.values():
            running_per_job[r.task.job_id] = running_per_job.get(r.task.job_id, 0) + 1
        out = []
        if self._pending is None:   # re-read only after others wrote (or a requeue)
            self._pending = self.store.pending_counts()
        for job_id, pending in list(self._pending.items()):
            spec = self._spec(job_id)
            if not self._deps_ready(job_id, spec, now):
                continue
            slots = None
            if spec.array_limit is not None:
                slots = max(0, spec.array_limit - running_per_job.get(job_id, 0))
            out.append(Demand(job_id, pending, spec.cpus, spec.mem_mb, spec.time_limit, slots,
                              spec.nodelist, spec.exclude))
        return out

    def _deps_ready(self, job_id: int, spec: JobSpec, now: float) -> bool:
        if not spec.dependencies.items:
            return True
        verdict = dependency_verdict(self.store, spec.dependencies)
        if verdict is None:
            self.store.set_job_reason(job_id, REASON_DEPENDENCY)
            return False
        if verdict is False:
            self.store.cancel_pending(job_id, REASON_NEVER, now)
            self._pending.pop(job_id, None)
            self.store.set_job_reason(job_id, REASON_NEVER)
            return False
        return True

    def _rooms(self) -> list[NodeRoom]:
        rooms = {}
        for name, link in self.links.items():
            cores = self.options.cores.get(name) or (link.info.cores if link.info else 1)
            mem = link.info.mem_mb if link.info else None
            rooms[name] = NodeRoom(name, cores, mem, up=link.up)
        for r in self.running.values():
            room = rooms.get(r.task.node)
            if room is not None:
                end = (r.task.start or 0) + r.spec.time_limit if r.spec.time_limit else math.inf
                room.take(r.spec.cpus, r.spec.mem_mb, end)
        if self.options.use_load:
            for name, room in rooms.items():
                ours = sum(1 for r in self.running.values() if r.task.node == name)
                room.foreign_cores = max(0, int(self.links[name].load1 - ours))
        return list(rooms.values())

    async def _schedule(self, now: float) -> None:
        demands = self._demands(now)
        if not demands:
            return
        plan = place(demands, self._rooms(), now)
        for job_id, reason in plan.reasons.items():
            self.store.set_job_reason(job_id, reason)
        if not plan.starts:
            return
        per_job: dict[int, list[str]] = {}
        for job_id, node in plan.starts:
            per_job.setdefault(job_id, []).append(node)
        per_node: dict[str, list[Running]] = {}
        with self.store._tx():
            for job_id, nodes in per_job.items():
                tasks = self.store.tasks(job_id, [State.PENDING], limit=len(nodes))
                for task, node in zip(tasks, nodes):
                    if self.store.start(task, node, now):
                        task.state, task.node, task.start = State.RUNNING, node, now
                        task.pid = None
                        self._pending[job_id] -= 1
                        r = self._tracking(task, self.links[node])
                        self.running[(task.job_id, task.pos)] = r   # counted from now on
                        per_node.setdefault(node, []).append(r)
        self._pending = {j: n for j, n in self._pending.items() if n > 0}
        for node, runs in per_node.items():
            self._spawn(self._launch(self.links[node], runs))

    async def _launch(self, link: Link, runs: list[Running]) -> None:
        try:
            await self._prepare(link, runs)
            lines = [launch_line(link.root, r.task.job_id, f"{r.task.pos}.{r.task.attempt}",
                                 r.task.index, r.task.task_job_id, r.remote_out, r.remote_err)
                     for r in runs]
            pids = await link.agent.launch(lines)
        except (AgentError, AttributeError, OSError) as exc:
            log.info("jobs: %s: launch failed: %s", link.target.name, exc)
            self._drop(link)   # tasks stay RUNNING without pid: re-attach settles them
            return
        with self.store._tx():
            for r in runs:
                r.task.pid = pids.get(r.key)
                self.store.set_pid(r.task, r.task.pid)
        self.stats["launched"] += len(runs)

    async def _prepare(self, link: Link, runs: list[Running]) -> None:
        """Job files on the node (once per job) and the shared-file-system probe per dir."""
        for r in runs:
            job_id = r.task.job_id
            if job_id not in link.written:
                # marked first: a later batch must not rewrite `run` under a starting task
                # (the agent runs calls in order, so its launch follows this write)
                link.written.add(job_id)
                env = self._job_env(r.spec, r.task, link.target.name)
                wrapper = wrapper_script(link.root, job_id, env, r.spec.export.clean,
                                         r.spec.work_dir)
                await link.agent.write_job(job_id, r.spec.script, wrapper)
        for r in runs:   # the probe may have changed where outputs go
            r.remote_out, r.remote_err = self._remote_paths(link, r.task, r.out, r.err)
        await self._probe_dirs(link, runs)
        for r in runs:
            r.remote_out, r.remote_err = self._remote_paths(link, r.task, r.out, r.err)

    async def _probe_dirs(self, link: Link, runs: list[Running]) -> None:
        dirs = {os.path.dirname(p) for r in runs for p in (r.out, r.err)
                if p and p != os.devnull}
        for d in dirs - set(link.shared):
            link.shared[d] = await _probe_shared(link.agent, d)

    def _job_env(self, spec: JobSpec, task: Task, node: str) -> dict[str, str]:
        job_id = task.job_id
        env = {"SLURM_JOB_NAME": spec.name, "SLURM_CPUS_PER_TASK": str(spec.cpus),
               "SLURM_SUBMIT_DIR": spec.submit_dir, "SLURMD_NODENAME": node,
               "SLURM_JOB_NUM_NODES": "1", "SLURM_NTASKS": "1", "ROOST_JOB_ID": str(job_id)}
        if task.index is not None:
            count = self.store.db.execute("SELECT ntasks FROM jobs WHERE id=?",
                                          (job_id,)).fetchone()[0]
            env.update(SLURM_ARRAY_JOB_ID=str(job_id), SLURM_ARRAY_TASK_COUNT=str(count))
        env.update(dict(spec.export.values))
        return env

    def _paths(self, spec: JobSpec, task: Task, node: str) -> tuple[str, str | None]:
        values = PatternValues(task.task_job_id, task.job_id, task.index, spec.name, node,
                               spec.user)
        out = _absolute(expand_pattern(spec.output_pattern(task.index is not None), values),
                        spec.work_dir)
        err = _absolute(expand_pattern(spec.error, values), spec.work_dir) if spec.error else None
        return out, err

    def _remote_paths(self, link: Link, task: Task, out: str, err: str | None):
        base = f"{link.info.home}/{link.root}/{task.job_id}/{task.pos}.{task.attempt}"

        def where(path, suffix):
            if path is None or path == os.devnull:   # /dev/null is everyone's
                return path
            return path if link.shared.get(os.path.dirname(path)) else f"{base}.{suffix}"
        return where(out, "out"), where(err, "err")


def fleet_connect(fleet) -> Connect:
    """Use the console's Fleet connections (one per node, shared with the sampler)."""
    async def connect(target: NodeTarget) -> asyncssh.SSHClientConnection:
        conn = fleet.connection(target.name)
        if conn is None:
            raise TransportError(target.name, "not connected")
        return conn
    return connect


def _absolute(path: str, work_dir: str) -> str:
    return os.path.normpath(os.path.join(work_dir, path))


async def _probe_shared(agent: Agent, directory: str) -> bool:
    """Does the node see this console directory (same file, writable)? A random file decides."""
    probe = Path(directory) / f".roost-probe-{os.getpid()}-{id(agent)}"
    try:
        probe.write_text("roost\n")
    except OSError:
        return False
    try:
        return await agent.shared(str(probe))
    finally:
        probe.unlink(missing_ok=True)
