"""The scheduler's side of each node: one Link per node (connection, agent, events feed, what
it knows of the node), bringing links up and down, NODE_FAIL after node_fail_after seconds, the
load refresh, and killing tasks given up as NODE_FAIL that still run when a node returns.
"""
from __future__ import annotations

import logging
import time

import asyncssh

from collectors.model import NodeTarget
from collectors.transport import TransportError
from console.jobs.core import Connect, Connections, Link, SchedulerCore
from console.jobs.model import State
from console.jobs.remote import Agent, AgentError, Events

log = logging.getLogger("roost.jobs")


class LinksMixin(SchedulerCore):
    """Node health for Scheduler: connect, re-attach on connect, drop, NODE_FAIL, load."""

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
        link.conn = conn = await self._connect(link.target)
        agent = Agent(name, conn, link.root, link.target.procfs)
        await agent.start()
        link.agent = agent
        mine = [r for r in self._db_active(name)]
        if not mine:   # nothing of ours runs there: start a fresh events file
            await agent.call(f'mkdir -p "$HOME/{link.root}" && : > "$HOME/{link.root}/events"')
        link.info = info = await agent.setup()
        link.load1, link.written = info.load1, set()
        self.store.record_node(name, info.cores, info.mem_mb, time.time())
        # before the link is up (no launch can write job files meanwhile): stale tasks killed,
        # their outputs fetched, and every job directory no live task of ours uses removed
        await self._kill_stale(link)
        await self._sweep(link, {t.job_id for t in mine})
        link.events = events = Events(name, conn, link.root, self._on_event,
                                      self._on_feed_closed)
        await events.start(info.events_size)
        link.down_since, self._dirty = None, True
        self._linked.add(name)
        await self._reattach(link, mine)

    async def _kill_stale(self, link: Link) -> None:
        """Tasks given up as NODE_FAIL that still run (the node was cut off, not dead): KILL
        them, so a requeued task never runs twice at once; then fetch what they wrote."""
        stale = self.store.stale(link.target.name)
        if not stale:
            return
        alive = [s for s in await link.require_agent().poll([k for k, _ in stale]) if s.kind == "R"]
        await link.require_agent().signal([s.value for s in alive if s.value is not None], "KILL")
        if alive:
            log.warning("jobs: %s is back: killed %d task(s) already given up as NODE_FAIL",
                        link.target.name, len(alive))
        await self._fetch_lost(link, [k for k, _ in stale])
        self.store.drop_stale(link.target.name, [k for k, _ in stale])

    async def _sweep(self, link: Link, keep: set[int]) -> None:
        """Remove the job directories on the node that no live task of ours uses (jobs that
        ended while it was away, or whose clean-up a client did not finish)."""
        gone = [j for j in await link.require_agent().job_dirs() if j not in keep]
        if gone:
            await link.require_agent().cleanup_many(gone)

    def _drop(self, link: Link) -> None:
        for part in (link.events, link.agent):
            if part is not None:
                part.close()
        if link.sftp is not None:
            link.sftp.exit()
            if link.sftp_slot is not None:   # set with sftp (see OutputsMixin._start_sftp)
                link.sftp_slot.release()
        if link.conn is not None and self._owns:
            link.conn.close()
        link.agent = link.events = link.conn = link.sftp = None
        self._linked.discard(link.target.name)
        if link.down_since is None:
            link.down_since = time.time()
        self._down.add(link.target.name)

    def _on_feed_closed(self, feed: Events) -> None:
        node = feed.node
        link = self.links[node]
        if link.events is feed:   # not an older feed closing after a reconnect
            log.info("jobs: %s: connection lost", node)
            self._drop(link)
        self._wake.set()

    async def _check_nodes(self, now: float) -> None:
        """The links that are down (only those: at 10,000 reported nodes a step walks the
        few that changed, not every link): retried, and NODE_FAIL after node_fail_after."""
        if not self._down:
            return
        busy = self._task_nodes() if self.on_demand else None
        for name in list(self._down):
            link = self.links[name]
            if link.up or link.down_since is None:
                self._down.discard(name)
                continue
            if busy is not None and name not in busy:
                link.down_since = None   # on demand: nothing of ours there, parked (not retried)
                self._down.discard(name)
                continue
            if not link.connecting and now >= link.next_try:
                link.next_try = now + 1.0
                self._spawn(self._bring_up(link), ("up", name))
            if now - link.down_since >= self.options.node_fail_after and not self.options.partial:
                self._node_failed(name, now)

    def _node_failed(self, node: str, now: float) -> None:
        self._end_allocations_on(node)
        lost = self._db_active(node)
        for task in lost:
            self.running.pop((task.job_id, task.pos), None)
            self.store.add_stale(node, f"{task.job_id}/{task.pos}.{task.attempt}", task.pid)
            if (self.store.finish(task, State.NODE_FAIL, None, now)
                    and self._spec(task.job_id).requeue is not False):
                self.store.requeue(task, "NodeFail")   # a fresh attempt, fresh files
                self._dirty, self._pending = True, None
        if lost:
            log.warning("jobs: %s down: %d task(s) NODE_FAIL", node, len(lost))

    def _end_allocations_on(self, node: str) -> None:
        """Allocations that hold the dead node but run their script elsewhere end NODE_FAIL
        too, as Slurm ends a job that lost one of its nodes: their script is stopped."""
        for r in list(self.running.values()):
            if r.node != node and node in r.task.nodes and r.task.pid is not None:
                link = self.links.get(r.node)
                if link is not None and link.up and r.task.kill_reason is None:
                    self._mark_kill(r, "node_fail")
                    self._spawn(self._signal(link, r, "TERM"))

    def _refresh_load(self) -> None:
        if not self.options.use_load:
            return
        for name in list(self._linked):
            link = self.links[name]
            if link.up:
                self._spawn(self._load(link), ("load", name))

    async def _load(self, link: Link) -> None:
        try:
            link.load1 = await link.require_agent().load()
        except (AgentError, AttributeError):
            self._drop(link)


def fleet_connect(fleet: Connections) -> Connect:
    """Use the console's Fleet connections (one per node, shared with the sampler)."""
    async def connect(target: NodeTarget) -> asyncssh.SSHClientConnection:
        conn = fleet.connection(target.name)
        if conn is None:
            raise TransportError(target.name, "not connected")
        return conn
    return connect
