"""What the Scheduler (console.jobs.scheduler) and its mixins share: its Options, the Link it
keeps per node, the Running task it tracks, and SchedulerCore, which declares the state
Scheduler.__init__ sets and the steps one mixin calls in another (links, tracking, outputs,
signals, dispatch), so each mixin type-checks on its own. Scheduler is the one class that has
them all. Nothing here imports a mixin: imports run one way, mixins -> core.
"""
from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import asyncssh

from collectors.model import NodeTarget
from console.jobs.model import JobSpec, Task
from console.jobs.remote import Agent, AgentError, Events, NodeInfo

if TYPE_CHECKING:
    from console.config import JobsConfig
    from console.jobs.store import Store

Key = tuple[str | int, ...]              # one node operation in flight, e.g. ("poll", node)
Ended = tuple[str, int, str, int, str | None]   # an events line: node, job, key, rc, why


Connect = Callable[[NodeTarget], Awaitable[asyncssh.SSHClientConnection]]


class Connections(Protocol):
    """A fleet whose connections the scheduler may share (collectors.fleet.Fleet)."""

    def connection(self, node: str) -> asyncssh.SSHClientConnection | None: ...


@dataclass(frozen=True, slots=True)
class Measured:
    """What a link measured of its node when it parked, when that was fuller than the node's
    report said (another cgroup or procfs, load the report has not seen): placement trusts it
    over the report while the report says what it said then (report: its cores, memory and
    whole load), for Options.trust_measure seconds at most (then the node may be tried again),
    so such a node is not linked, found full and parked again every link_idle."""
    cores: int
    mem_mb: int | None
    load1: float
    report: tuple[int | None, int | None, int]
    until: float


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
    busy_at: float = 0.0     # on demand: when a task of ours last ran here (parking's clock)
    measured: Measured | None = None   # on demand: parked fuller than its report (ondemand.py)

    @property
    def up(self) -> bool:
        # fully set up: placement runs while a link is still connecting and needs info
        return self.agent is not None and self.events is not None

    def require_agent(self) -> Agent:
        """The agent; AgentError once the link is down (an await elsewhere may have dropped it),
        which every caller handles as the connection lost."""
        if self.agent is None:
            raise AgentError(f"{self.target.name}: not connected")
        return self.agent

    def require_info(self) -> NodeInfo:
        """What setup learnt of the node (kept across drops); AgentError before the first."""
        if self.info is None:
            raise AgentError(f"{self.target.name}: not connected yet")
        return self.info


@dataclass(slots=True)
class Running:
    """A live task as the scheduler tracks it."""
    task: Task
    node: str          # where it runs: task.node, which the store set before tracking began
    spec: JobSpec
    out: str           # where the output must end up (console host)
    err: str | None
    remote_out: str    # where the task writes on the node
    remote_err: str | None
    kill_at: float | None = None   # when to send KILL (after TERM)

    @property
    def key(self) -> str:
        return f"{self.task.job_id}/{self.task.pos}.{self.task.attempt}"


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
    limits: str = "auto"         # auto: pin cores and hold --mem where the node can; off
    history_days: float = 30.0   # finished jobs are forgotten after this (0: kept forever)
    # links on demand (the Prometheus source): how many at most, parked after link_idle s
    # without a task of ours, a node whose link failed avoided for avoid_for s
    max_links: int = 64
    link_idle: float = 30.0
    avoid_for: float = 30.0
    # a node running our tasks that Prometheus reports down: its link probed within
    # probe_timeout s (no answer: down), again every probe_every s while the report stays down
    probe_timeout: float = 3.0
    probe_every: float = 5.0
    # a parked link's measure of its node, fuller than the node's report, stands over that
    # report (while it says the same) for trust_measure s at most (0: the report alone)
    trust_measure: float = 300.0

    @classmethod
    def from_config(cls, jobs: JobsConfig) -> Options:
        return cls(cores=dict(jobs.cores), use_load=jobs.use_load, grace=jobs.grace,
                   node_fail_after=jobs.node_fail_after, poll_every=jobs.poll_every,
                   load_every=jobs.load_every, limits=jobs.limits,
                   history_days=jobs.history_days, max_links=jobs.max_links,
                   link_idle=jobs.link_idle, probe_timeout=jobs.probe_timeout,
                   probe_every=jobs.probe_every, trust_measure=jobs.trust_measure)


Finished = tuple[Running, int | None, str | None]   # a task, its exit code, why it ended


class SchedulerCore:
    """The scheduler's shared state and cross-mixin steps (see the module docstring)."""

    store: Store
    options: Options
    links: dict[str, Link]
    running: dict[tuple[int, int], Running]    # (job id, pos) -> live task
    specs: dict[int, JobSpec]
    stats: dict[str, int]
    _connect: Connect
    _owns: bool                     # close connections when dropping a link (not Fleet's)
    _done: list[Ended]              # event lines not yet applied
    _wake: asyncio.Event
    _pending: dict[int, int] | None   # job id -> pending tasks (cache)
    _dirty: bool
    _last_poll: float
    _inflight: set[Key]             # node operations in flight (see Scheduler._spawn)
    _down: set[str]                 # links down (down_since set): what _check_nodes walks
    _linked: set[str]               # links set up and not dropped since (a superset of up ones)

    @abstractmethod
    def _spawn(self, coro: Coroutine[Any, Any, None], key: Key | None = None) -> None: ...

    @abstractmethod
    def _job_done(self, job_id: int) -> bool: ...

    # links
    @abstractmethod
    async def _bring_up(self, link: Link) -> None: ...

    @abstractmethod
    def _drop(self, link: Link) -> None: ...

    @abstractmethod
    def _on_feed_closed(self, feed: Events) -> None: ...

    # tracking
    @abstractmethod
    def _db_active(self, node: str) -> list[Task]: ...

    @abstractmethod
    def _tracking(self, task: Task, link: Link) -> Running: ...

    @abstractmethod
    async def _reattach(self, link: Link, tasks: list[Task]) -> None: ...

    @abstractmethod
    def _on_event(self, node: str, job_id: int, key: str, rc: int, why: str | None) -> None: ...

    # outputs
    @abstractmethod
    async def _fetch(self, link: Link, r: Running, missing_ok: bool = False) -> bool | None: ...

    @abstractmethod
    async def _fetch_lost(self, link: Link, keys: list[str]) -> None: ...

    @abstractmethod
    async def _probe_dirs(self, link: Link, runs: list[Running]) -> None: ...

    @abstractmethod
    def _paths(self, spec: JobSpec, task: Task, node: str) -> tuple[str, str | None]: ...

    @abstractmethod
    def _remote_paths(self, link: Link, task: Task, out: str,
                      err: str | None) -> tuple[str, str | None]: ...

    # signals
    @abstractmethod
    def _mark_kill(self, r: Running, reason: str) -> None: ...

    @abstractmethod
    async def _signal(self, link: Link, r: Running, sig: str) -> None: ...

    # dispatch
    @abstractmethod
    def _spec(self, job_id: int) -> JobSpec: ...

    # on-demand links
    @property
    @abstractmethod
    def on_demand(self) -> bool: ...

    @abstractmethod
    def _room_budget(self) -> int: ...

    @abstractmethod
    def _candidates(self, demands: Any, now: float) -> list[str]: ...

    @abstractmethod
    def _size(self, name: str, link: Link, linkable: bool,
              now: float) -> tuple[int, int | None, bool, float]: ...

    @abstractmethod
    def _defer_unlinked(self, starts: list[Any]) -> list[Any]: ...

    @abstractmethod
    def _links_reason(self, reasons: dict[int, str]) -> None: ...

    @abstractmethod
    def _task_nodes(self) -> set[str]: ...
