"""Links on demand for Scheduler, when the fleet is read from Prometheus (collectors.promsource):
no connection is held to every node.

- Nodes come from the reports (every node Prometheus names, with its `up`, cores, memory and
  load1 from the last tick) and from the config; a node seen for the first time becomes a Link
  without connecting.
- At start only the nodes the queue says run our tasks are linked (re-attach), no others.
- Placement sees an unlinked node by its report (a node down or stale is not eligible), held
  links first. A start on an unlinked node is deferred: the link comes up (through the SSH
  pool's long-lived connection) and the next pass starts the task on it, exactly as on a held
  link, so a task is RUNNING only once its node is reached: none lost, none started twice. A
  link that fails leaves its tasks Pending and the node avoided for avoid_for seconds.
- A link without a task of ours for link_idle seconds is parked (agent, feed and connection
  closed); a node with running tasks keeps its link, its events feed is how an end is seen.
  A link that measured its node fuller than the report said leaves its measure (Measured):
  placement trusts it while the report stays the same, for [jobs] trust_measure seconds at
  most, so a node its report calls free but its link finds full is not linked and parked
  every link_idle.
- Syncs with the reports (once a second) walk what changed: a versioned report set
  (collectors.promsource.NodeReports) names the nodes new or resized since the version last
  synced; no new set, nothing is walked. The set also carries its nodes freest first, made
  where the set is made (PromSource's tick, off the loop): placement walks that order.
- A node running our tasks that the reports say is down (up == 0 or stale) has its link
  probed at once ([jobs] probe_timeout, again every probe_every): no answer, the link is down
  and its tasks NODE_FAIL node_fail_after later (not after keepalives give up); an answer
  (only the exporter or the scrape failed), the tasks run on. The probe is a command on a
  channel of its own, not the agent's: a long agent call does not make a live node look dead.
- A node whose tasks were given up as NODE_FAIL is linked again once reported up, so tasks
  still running there (it was cut off, not dead) are killed as a held link would on return.
- Placement packs (console.jobs.placement): held links first, then unlinked nodes freest
  first, each filled before the next, so a wide array links the fewest nodes.
- At most max_links links are held; beyond that jobs wait with REASON_LINKS.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import asyncssh

from collectors.model import NodeTarget
from console.jobs.core import Connect, Link, Measured, SchedulerCore
from console.jobs.model import REASON_RESOURCES
from console.jobs.placement import Demand
from console.jobs.remote import AgentError, node_root

if TYPE_CHECKING:
    from collectors.promsource import NodeReport

log = logging.getLogger("roost.jobs")
REASON_LINKS = "MaxLinks"   # why jobs wait while [jobs] max_links is reached (one token, as squeue)
SYNC_EVERY = 1.0                         # seconds between node-list syncs and parking passes


class Pool(Protocol):
    """collectors.sshpool.SshPool as the scheduler uses it."""

    cap: int

    async def connection(self, node: str) -> asyncssh.SSHClientConnection: ...


@runtime_checkable
class OnDemandFleet(Protocol):
    """A fleet read from Prometheus (collectors.promsource.PromSource): reports of every node,
    how to reach one, and the on-demand SSH pool (read-only here: PromSource's SshPool is one)."""
    target_of: Callable[[str], NodeTarget | None]

    @property
    def pool(self) -> Pool | None: ...

    def reports(self, max_age: float) -> Mapping[str, NodeReport]: ...


@runtime_checkable
class VersionedReports(Protocol):
    """Reports that say what changed (collectors.promsource.NodeReports): version counts the
    source's report sets; changes_since(v) the nodes new or resized since set v (None: all)."""
    version: int

    def changes_since(self, version: int) -> frozenset[str] | None: ...

    def freest(self) -> Sequence[str]:
        """The reported nodes freest first, ordered once per set (up or not: asked per node)."""


@dataclass(frozen=True, slots=True)
class NodeSource:
    """Where on-demand links learn of nodes: reports() (node -> NodeReport, fresh ones up)
    and target_of (how to reach a node over SSH; None: no way, the node is left out)."""
    reports: Callable[[], Mapping[str, NodeReport]]
    target_of: Callable[[str], NodeTarget | None]


def pool_connect(pool: Pool) -> Connect:
    """Links open their connection as the pool's long-lived users (counted in its cap)."""
    async def connect(target: NodeTarget) -> asyncssh.SSHClientConnection:
        return await pool.connection(target.name)
    return connect


Start = tuple[int, tuple[tuple[str, int], ...]]   # (job id, allocation) placement chose


def freest(seen: Mapping[str, NodeReport]) -> Sequence[str]:
    """The nodes reported up, freest first (cores less load1; ties in the reports' order):
    a report set's own order (VersionedReports: made once per set where the set is made),
    else sorted here."""
    if isinstance(seen, VersionedReports):
        return seen.freest()
    free = [(r.free, name) for name, r in seen.items() if r.up]
    free.sort(key=lambda item: -item[0])      # stable: ties keep the reports' order
    return [name for _, name in free]


def _may_link(seen: NodeReport | None, link: Link, now: float) -> bool:
    """A node with this report may be linked: reported up and fresh, not avoided after a
    failed link, its link not down."""
    return seen is not None and seen.up and now >= link.next_try and link.down_since is None


def report_key(seen: NodeReport) -> tuple[int | None, int | None, int]:
    """What placement reads of a report: cores, memory and the whole cores its load takes."""
    return seen.cores, seen.mem_mb, int(seen.load1 or 0.0)


async def answers(link: Link) -> None:
    """The node answers on the link's connection: sshd opens a channel of its own and accepts
    an exec of `true` on it (its reply comes once sshd has forked for it; the channel is then
    closed without waiting for the login shell: a loaded node is slow, not dead). Not through
    the agent, whose one channel a long call (a fetch, a big clean-up) may hold past any probe
    timeout, and outside the connection's channel budget (CHANNELS_PER_CONNECTION leaves two
    of sshd's MaxSessions spare), so a link busy on every channel still answers."""
    conn = link.conn
    if conn is None:
        raise AgentError(f"{link.target.name}: not connected")
    quiet = asyncssh.DEVNULL
    process = await conn.create_process("true", stdin=quiet, stdout=quiet, stderr=quiet)
    process.close()


class OnDemandMixin(SchedulerCore):
    """Links brought up for placement's chosen nodes and parked when idle (see the docstring)."""

    queue: str                      # the queue's id (its directory on the nodes)
    _nodes: NodeSource | None
    _seen: Mapping[str, NodeReport]
    _synced: int | None             # the report set version last synced (VersionedReports)
    _recorded: dict[str, tuple[int | None, int | None]]   # sizes written to the queue
    _last_sync: float
    _probed: dict[str, float]       # node reported down -> when its link was last probed
    _freest: Sequence[str] | None   # nodes by free cores in their reports (None: to ask)

    @property
    def on_demand(self) -> bool:
        return self._nodes is not None

    def _task_nodes(self) -> set[str]:
        """Every node a live task of ours holds."""
        return {n for r in self.running.values() for n in (r.task.nodes or (r.node,))}

    async def _start_on_demand(self) -> None:
        """Link only the nodes the queue says run our tasks (re-attach), not the fleet."""
        self._sync_nodes()
        nodes = {n for t in self.store.active() for n in t.nodes}
        for name in sorted(nodes - self.links.keys()):   # neither configured nor reported yet
            self._add_link(name)
        await asyncio.gather(*(self._bring_up(self.links[n]) for n in nodes if n in self.links))

    def _sync_nodes(self) -> None:
        """The reports' news: a node new to them becomes a link, a new size is recorded. Only
        the nodes that changed are walked: those the report set names as new or resized since
        the version last synced (VersionedReports), none while the reports are the same
        mapping as last time (or the same version), every node otherwise."""
        if self._nodes is None:
            return
        seen = self._nodes.reports()
        same = self._same_set(seen)
        news = () if same else self._news(seen)
        self._seen = seen
        if not same:    # loads moved: placement's order of unlinked nodes is asked anew
            self._freest = None
        for name in seen.keys() if news is None else news:
            if name not in self.links and name in seen:
                self._add_link(name)
        self._record_sizes(seen if news is None else news)

    def _same_set(self, seen: Mapping[str, NodeReport]) -> bool:
        """The report set synced last time (its version; a plain mapping: the same object)."""
        if isinstance(seen, VersionedReports):
            return seen.version == self._synced
        return seen is self._seen

    def _news(self, seen: Mapping[str, NodeReport]) -> Collection[str] | None:
        """The nodes new or resized since the last sync of a new set, None when that is not
        known (all may be)."""
        if not isinstance(seen, VersionedReports):
            return None
        last, self._synced = self._synced, seen.version
        return None if last is None else seen.changes_since(last)

    def _record_sizes(self, names: Iterable[str]) -> None:
        """The reported sizes of these nodes in the queue, as a link's setup records them:
        submit judges whether any node could hold a job from these (not only linked nodes)."""
        seen = self._seen
        new = {n: (r.cores, r.mem_mb) for n in names if n in seen and (r := seen[n]).cores
               and self._recorded.get(n) != (r.cores, r.mem_mb)}
        if new:
            with self.store.transaction():
                for name, (cores, mem) in new.items():
                    self.store.record_node(name, cores or 1, mem, time.time())
            self._recorded.update(new)

    def _add_link(self, name: str) -> None:
        target = self._nodes.target_of(name) if self._nodes is not None else None
        if target is not None and not target.local:
            self.links[name] = Link(target, node_root(self.queue, name))
            self._dirty = True

    def _on_demand_pass(self, now: float) -> None:
        """Once a second: new nodes from the reports, idle links parked."""
        if self._nodes is None or now - self._last_sync < SYNC_EVERY:
            return
        self._last_sync = now
        self._sync_nodes()
        self._link_returned(now)
        busy = self._task_nodes()
        self._probe_reported_down(busy, now)
        for name in list(self._linked):
            link = self.links[name]
            if not link.up:
                continue
            if name in busy or link.sftp_lock.locked():
                link.busy_at = now
            elif now - link.busy_at >= self.options.link_idle:
                log.info("jobs: %s: no task of ours for %g s, link parked", name,
                         self.options.link_idle)
                link.measured = self._measured(name, link, now)
                self._drop(link)
                link.down_since = None      # parked, not down: nothing retries it
                self._dirty = True

    def _measured(self, name: str, link: Link, now: float) -> Measured | None:
        """The link's measure of its node as it parks, when fuller than the node's report
        (fewer free cores or less memory); None when they agree or trust_measure is 0."""
        seen, info, trust = self._seen.get(name), link.info, self.options.trust_measure
        if seen is None or info is None or not seen.cores or trust <= 0:
            return None
        override = self.options.cores.get(name)
        cores, reported = override or info.cores, override or seen.cores
        free = cores - int(link.load1 if self.options.use_load else 0.0)
        free_reported = reported - int((seen.load1 or 0.0) if self.options.use_load else 0.0)
        less_mem = info.mem_mb is not None and seen.mem_mb is not None and info.mem_mb < seen.mem_mb
        if free >= free_reported and not less_mem:
            return None
        log.info("jobs: %s: its link measured %d free cores where its report says %d: "
                 "the link's measure stands for placement while the report stays the same "
                 "(at most %g s)", name, free, free_reported, trust)
        return Measured(cores, info.mem_mb, link.load1, report_key(seen), now + trust)

    def _probe_reported_down(self, busy: set[str], now: float) -> None:
        """A node running our tasks that Prometheus reports down (up == 0 or stale) has its
        link probed now, not left to keepalives: dead, the link drops and the tasks go
        NODE_FAIL node_fail_after from now; alive (only its exporter or scrape failed), the
        tasks run on. Probed again every probe_every seconds while the report stays down."""
        self._probed = {n: t for n, t in self._probed.items() if n in busy}
        for name in busy:
            seen, link = self._seen.get(name), self.links.get(name)
            if seen is None or seen.up or link is None or not link.up:
                self._probed.pop(name, None)
            elif now - self._probed.get(name, -math.inf) >= self.options.probe_every:
                first = name not in self._probed
                self._probed[name] = now
                self._spawn(self._probe(link, now, first), ("probe", name))

    async def _probe(self, link: Link, noticed: float, first: bool) -> None:
        """The link's connection runs a command within probe_timeout, else the link is
        dropped as down since noticed (when the report said the node was down)."""
        timeout = self.options.probe_timeout
        try:
            await asyncio.wait_for(answers(link), timeout)
            if first:
                log.info("jobs: %s: reported down by Prometheus, its link answers: tasks run on",
                         link.target.name)
            return
        except (AgentError, asyncssh.Error, OSError, TimeoutError) as exc:
            why = str(exc) or f"no answer within {timeout:g} s"
        if link.up:
            log.warning("jobs: %s: reported down by Prometheus and its link failed a probe "
                        "(%s): link down", link.target.name, why)
            self._drop(link)
            link.down_since = min(noticed, link.down_since or noticed)

    def _link_returned(self, now: float) -> None:
        """A node back up (by its report) where tasks given up as NODE_FAIL may still run
        (it was cut off, not dead) is linked: the link's setup kills them, so a requeued task
        never runs twice at once; then, idle, the link parks."""
        for name in self.store.stale_nodes():
            link = self.links.get(name)
            if (link is not None and not self._holding(link) and self._may_link(name, link, now)
                    and self._room_budget() > 0):
                log.info("jobs: %s is back: linking it to stop tasks given up as NODE_FAIL", name)
                self._spawn(self._link_chosen(link), ("up", name))

    # ---- placement's view ----------------------------------------------------------------------

    def _candidates(self, demands: Iterable[Demand], now: float) -> list[str]:
        """The nodes placement looks at. Held links: every node. On demand: the nodes with a
        link (held or coming up), those a pending job names, and the freest unlinked nodes
        that may be linked, only as many as links may still come up (plus what a job
        excludes): at 10,000 nodes placement reads ~100 rooms, not 10,000, and walks the
        nodes by freeness (the report set's order, made as the set lands) only until it
        has them."""
        if self._nodes is None:
            return list(self.links)
        demands = list(demands)
        held = sorted(self._held())
        named = {n for d in demands for n in (*d.nodelist, *d.candidates) if n in self.links}
        room = self.options.max_links - len(held)
        if room <= 0:
            return held + sorted(named - set(held))
        room += max((len(d.exclude) for d in demands), default=0)
        chosen = list(itertools.islice(self._linkable(now), room))
        return held + chosen + sorted(named - set(held) - set(chosen))

    def _linkable(self, now: float) -> Iterator[str]:
        """The unlinked nodes a link may be brought to, freest first by their reports."""
        if self._freest is None:    # once per new set, when placement first asks
            self._freest = freest(self._seen)
        for name in self._freest:
            link = self.links.get(name)
            if link is not None and not self._holding(link) and self._may_link(name, link, now):
                yield name

    def _may_link(self, name: str, link: Link, now: float) -> bool:
        """Reported up and fresh, not avoided after a failed link, its link not down."""
        return _may_link(self._seen.get(name), link, now)

    def _holding(self, link: Link) -> bool:
        return link.up or link.connecting or ("up", link.target.name) in self._inflight

    def _held(self) -> set[str]:
        """The nodes whose link is up or coming up (brought up only through _spawn's ("up",
        node) once the scheduler has started): what counts against max_links, found without
        walking every link."""
        held = {n for n in self._linked if self.links[n].up}
        held.update(str(key[1]) for key in self._inflight if key[0] == "up")
        return held

    def _room_budget(self) -> int:
        """How many more links may be brought up under max_links."""
        return self.options.max_links - len(self._held())

    def _size(self, name: str, link: Link, linkable: bool,
              now: float) -> tuple[int, int | None, bool, float]:
        """(cores, memory MB, eligible, load1) of a node: its link's when held or on held
        links (not eligible while its link is probed: reported down, maybe dead), else its
        report's (eligible when up and fresh, not avoided, room for a link)."""
        override, info = self.options.cores.get(name), link.info
        cores, mem = override or (info.cores if info else 1), info.mem_mb if info else None
        if self._nodes is None or link.up:
            return cores, mem, link.up and ("probe", name) not in self._inflight, link.load1
        seen, load = self._seen.get(name), 0.0
        if seen is not None:
            cores, mem = override or seen.cores or cores, seen.mem_mb or mem
            load = seen.load1 or 0.0
            measured = link.measured
            if measured is not None and now < measured.until and measured.report == report_key(seen):
                cores, mem, load = measured.cores, measured.mem_mb, measured.load1
        if self._holding(link):    # coming up: its room is kept for what chose it
            return cores, mem, True, load
        return cores, mem, linkable and _may_link(seen, link, now), load

    def _defer_unlinked(self, starts: list[Start]) -> list[Start]:
        """The starts whose nodes are all linked; for the others their links come up (within
        max_links) and they wait for the next pass. Without on-demand links: all of them."""
        if self._nodes is None:
            return starts
        ready, budget = [], self._room_budget()
        for job_id, alloc in starts:
            missing = [n for n, _ in alloc if not self.links[n].up]
            if not missing:
                ready.append((job_id, alloc))
                continue
            for name in missing:
                if self._holding(self.links[name]):
                    continue
                if budget <= 0:
                    self.store.set_job_reason(job_id, REASON_LINKS)
                    break
                budget -= 1
                self._spawn(self._link_chosen(self.links[name]), ("up", name))
        return ready

    def _links_reason(self, reasons: dict[int, str]) -> None:
        """Jobs waiting for room while the link cap is reached wait for links (say so)."""
        if self._nodes is not None and self._room_budget() <= 0:
            for job_id, reason in reasons.items():
                if reason == REASON_RESOURCES:
                    reasons[job_id] = REASON_LINKS

    async def _link_chosen(self, link: Link) -> None:
        """Bring up the link of a node placement chose; on failure the node is avoided."""
        link.busy_at = time.time()
        await self._bring_up(link)
        if not link.up:
            link.next_try = time.time() + self.options.avoid_for
            log.info("jobs: %s: link failed, node avoided for %g s", link.target.name,
                     self.options.avoid_for)
        link.busy_at, self._dirty = time.time(), True
