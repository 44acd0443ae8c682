"""Headless collection (`roost collect`, `roost demo --headless`): sources -> sinks, no screen.

Sources: remote nodes through collectors.fleet.Fleet, the console host through psutil
(--local or a node with local = true), a procfs/sysfs tree on disk (--procfs/--sysfs).
Sinks: JSONL, SQLite history, a Prometheus endpoint, or one exposition/JSON dump at the end.
Samples are buffered and written once per tick (one SQLite transaction per tick). A node's
frames are parsed only when something reads them (a sink's write, a scrape, the final dump):
with only --prometheus, a frame nobody scrapes is never parsed. SIGINT and SIGTERM stop the
loop; sinks are flushed and closed and the exit status is 0.

Also here: the SSH reachability probe behind `roost nodes` and `roost check`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.model import NodeEvent, NodeTarget, Sample
from collectors.snapshot import LazySample, resolve
from console import paths
from console.errors import RoostError
from console.gcpolicy import GcPacer

if TYPE_CHECKING:
    from collectors.fleet import Fleet

log = logging.getLogger("roost.collect")


class UsageError(RoostError):
    """A bad combination of options or an output that cannot be opened: one line, exit 2."""


# ---------------------------------------------------------------- options

def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by `roost collect` and `roost demo --headless`."""
    g = parser.add_argument_group("collection and output")
    how_many = g.add_mutually_exclusive_group()
    how_many.add_argument("--once", action="store_true", help="one sample per node, then exit")
    how_many.add_argument("--count", type=_count, metavar="N", help="stop after N samples per node")
    g.add_argument("--interval", type=interval_seconds, metavar="S", help="seconds between samples")
    g.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds")
    g.add_argument("--jsonl", metavar="PATH|-", help="append one JSON object per node sample")
    g.add_argument("--jsonl-format", choices=("plain", "series"), default="plain",
                   help="plain: readable fields and rates (cpu_percent, temp_c, net ...); series: "
                        "Prometheus series names with raw counters (also for --format json)")
    g.add_argument("--db", metavar="PATH", help="SQLite history (default: STATE_DIR/roost.db "
                   "when no other output is chosen)")
    g.add_argument("--retention", type=positive_seconds, metavar="S",
                   help="seconds the DB keeps every sample (default: [history] keep_raw, a day); "
                        "older ones are kept as [history] rollup points (a minute, for 30 days)")
    g.add_argument("--prometheus", type=hostport, metavar="HOST:PORT",
                   help="serve /metrics with node_exporter's names")
    g.add_argument("--format", choices=("prometheus", "json"),
                   help="print the last samples to stdout at the end (with --once/--count/--duration)")


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def interval_seconds(text: str) -> float:
    """A sampling interval: the sampler's own bounds (0.01-86400 s), so 1e-300 never reaches it."""
    value = positive_seconds(text)
    if not 0.01 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"expected 0.01-86400 seconds, got {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of samples >= 1, got {text!r}")
    return int(text)


def hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (e.g. 127.0.0.1:9100), got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True)
class CollectOptions:
    """What `roost collect` / `serve` / `demo --headless` asked for (see add_output_arguments)."""
    once: bool = False
    count: int | None = None
    interval: float | None = None
    duration: float | None = None
    jsonl: str | None = None
    jsonl_format: str = "plain"   # or "series" (collectors.sinks.jsonl)
    db: str | None = None
    retention: float | None = None   # --retention: seconds of every-sample history
    history: Any = None               # the config's Retention ([history]); None: the defaults
    prometheus: tuple[str, int] | None = None
    format: str | None = None
    local: bool = False           # also sample the console's own host (psutil)
    procfs: str | None = None     # also sample a procfs/sysfs tree on disk
    sysfs: str | None = None
    state_dir: str | None = None  # where the default DB goes
    log_up: bool = False          # note nodes coming up too, not only going down (`roost serve`)
    collectors: tuple[str, ...] | None = None   # a node target's collectors ([serve]; None: all)
    disable_collectors: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: argparse.Namespace, **override: Any) -> CollectOptions:
        """The fields args has (demo's namespace lacks some), then override."""
        names = [f.name for f in fields(cls)]
        values = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
        return cls(**{**values, **override})


@dataclass(frozen=True)
class Plan:
    """What one run does, derived from parsed arguments."""
    count: int | None
    duration: float | None
    interval: float | None
    jsonl: str | None
    db: Path | None
    retention: Any                  # collectors.sinks.sqlite.Retention
    prometheus: tuple[str, int] | None
    format: str | None
    log_up: bool = False      # note nodes coming up too, not only going down (`roost serve`)
    jsonl_format: str = "plain"
    collectors: tuple[str, ...] | None = None    # what a node's target serves (None: all)
    disable_collectors: tuple[str, ...] = ()

    @property
    def finite(self) -> bool:
        return self.count is not None or self.duration is not None


def plan_from(opts: CollectOptions) -> Plan:
    count = 1 if opts.once else opts.count
    if opts.format and count is None and opts.duration is None:
        raise UsageError("--format prints once at the end: add --once, --count N or --duration S")
    if opts.format and opts.jsonl == "-":
        raise UsageError("--format and --jsonl - both write to stdout: give --jsonl a file")
    db: str | Path | None = opts.db
    if db is None and not (opts.jsonl or opts.prometheus or opts.format):
        db = paths.default_db(paths.ensure_state_dir(paths.state_dir(opts.state_dir)))
    return Plan(count, opts.duration, opts.interval, opts.jsonl, Path(db) if db else None,
                _retention(opts), opts.prometheus, opts.format,
                log_up=opts.log_up, jsonl_format=opts.jsonl_format, collectors=opts.collectors,
                disable_collectors=opts.disable_collectors)


def _retention(opts: CollectOptions):
    """[history] (or its defaults), with --retention overriding how long samples stay raw."""
    from dataclasses import replace as changed

    from collectors.sinks.sqlite import Retention
    base = opts.history or Retention()
    return changed(base, raw=opts.retention) if opts.retention else base


# ---------------------------------------------------------------- the loop

Taken = Sample | LazySample    # a node's sample, maybe not parsed yet


class Parsed(Mapping[str, Sample]):
    """{node: Sample} over items that may not be parsed yet: each is parsed when read."""

    def __init__(self, items: dict[str, Taken]) -> None:
        self._items = items

    def __getitem__(self, node: str) -> Sample:
        return resolve(self._items[node])

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Run:
    """State of one collection run, owned by the event loop."""
    plan: Plan
    nodes: list[str]
    latest: dict[str, Taken] = field(default_factory=dict)
    previous: dict[str, Taken] = field(default_factory=dict)   # for rates in --format json
    up: dict[str, bool] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    down_reason: dict[str, str] = field(default_factory=dict)
    pending: list[Taken] = field(default_factory=list)

    def take(self, item: Sample | LazySample | NodeEvent) -> None:
        if isinstance(item, NodeEvent):
            self.up[item.node] = item.kind == "up"
            if item.kind == "down":
                self.down_reason[item.node] = item.reason
                _note(f"{item.node} down: {item.reason}" if item.reason else f"{item.node} down")
            elif self.plan.log_up:
                _note(f"{item.node} up")
        elif self._wanted(item):
            if item.node in self.latest:
                self.previous[item.node] = self.latest[item.node]
            self.latest[item.node], self.up[item.node] = item, True
            self.counts[item.node] = self.counts.get(item.node, 0) + 1
            self.pending.append(item)

    def view(self) -> tuple[Mapping[str, Sample], dict[str, bool]]:
        """(latest, up) copies for the fleet page's thread, made per scrape, not per sample (a copy
        per sample is O(nodes) each time: quadratic at 1,000 nodes). dict() of a dict runs
        under the GIL, so the fleet page's thread never sees a half-updated dict. A node's
        scrape goes through lookup() on the loop instead, and parses its frame then."""
        return Parsed(dict(self.latest)), dict(self.up)

    def lookup(self, node: str) -> tuple[Sample | None, bool | None]:
        """One node's (latest sample, up) for a scrape on the loop (up None: not collected)."""
        item = self.latest.get(node)
        return (resolve(item) if item is not None else None), self.up.get(node)

    def _wanted(self, s: Taken) -> bool:
        return self.plan.count is None or self.counts.get(s.node, 0) < self.plan.count

    def settled(self) -> bool:
        """Every node has its samples, or is down (a finite run does not wait for the dead)."""
        if self.plan.count is None:
            return False
        return all(self.counts.get(n, 0) >= self.plan.count
                   or (n in self.down_reason and not self.up.get(n)) for n in self.nodes)

    def missing(self) -> list[str]:
        return [n for n in self.nodes if n not in self.latest]


def _note(text: str) -> None:
    print(f"roost: {' '.join(text.split())}", file=sys.stderr, flush=True)
    log.info(text)      # and into roost.log under `roost serve` (nowhere else: INFO is off)


QUEUE_BOUND = 1024      # items taken from the fleet's queue at one go (a second of 1,000
                        # nodes): a slow sink lets the loop run between takes, the fleet's own
                        # bounded queue fills, its channels pause and SSH flow control holds the
                        # nodes back
HOLD_LIMIT = 200_000    # samples held while the history DB cannot be written (~1 h of 50 nodes)
RETRY_MAX = 60.0        # seconds between retries at most (1, 2, 4 ... 60)


class HeldSink:
    """A sink that may fail for a while (a full disk, a locked file): samples it could not take
    are held and written with the next retry, which backs off. Collection, /metrics and the
    console go on meanwhile; one line when it starts failing, one when it recovers, and what did
    not fit in HOLD_LIMIT (or was still held at the end) is reported, never silently dropped."""

    def __init__(self, sink: Any, name: str, limit: int = HOLD_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sink, self.name, self.limit, self.clock = sink, name, limit, clock
        self.held: list[Sample] = []
        self.failures, self.next_try, self.dropped = 0, 0.0, 0

    def write(self, samples: list[Sample]) -> None:
        self.held.extend(samples)
        if self.held and self.clock() >= self.next_try:
            self._try()
        self._trim()

    def _try(self) -> bool:
        import sqlite3
        try:
            self.sink.write(self.held)
        except (OSError, sqlite3.Error) as exc:
            self._failed(exc)
            return False
        if self.failures:
            lost = f"; {self.dropped} oldest were dropped (hold limit)" if self.dropped else ""
            _note(f"{self.name}: writable again: {len(self.held)} held samples stored{lost}")
        self.held, self.failures, self.next_try = [], 0, 0.0
        return True

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        delay = min(RETRY_MAX, 2.0 ** (self.failures - 1))
        self.next_try = self.clock() + delay
        if self.failures == 1:
            reason = getattr(exc, "strerror", None) or exc
            _note(f"{self.name}: cannot store samples ({reason}); holding them, retrying with "
                  f"backoff up to {RETRY_MAX:g} s; /metrics keeps serving")

    def _trim(self) -> None:
        over = len(self.held) - self.limit
        if over > 0:
            first = not self.dropped
            del self.held[:over]
            self.dropped += over
            if first:   # the total is told again on recovery and at exit
                _note(f"{self.name}: more than {self.limit} samples held: dropping the oldest")

    def close(self) -> None:
        if self.held and not self._try():
            _note(f"{self.name}: {len(self.held) + self.dropped} samples not stored at exit "
                  "(still failing)")
        self.sink.close()


class Sinks:
    def __init__(self, plan: Plan):
        from collectors.sinks.jsonl import JsonlSink
        from collectors.sinks.sqlite import SqliteSink
        self.items: list[Any] = []
        self.broken = False   # stdout reader went away (`roost collect --jsonl - | head`)
        jsonl, path = plan.jsonl, plan.db
        if jsonl:
            self.items.append(_open(jsonl, lambda: JsonlSink(jsonl, plan.jsonl_format)))
        if path:
            db = _open(path, lambda: SqliteSink(path, retention=plan.retention))
            self.items.append(HeldSink(db, f"history DB {path}"))

    def write(self, items: list[Taken]) -> None:
        """Parse what the tick brought (only when a sink is configured) and hand it on."""
        if not self.items:
            return
        samples = [resolve(item) for item in items]
        for sink in list(self.items):
            try:
                sink.write(samples)
            except BrokenPipeError:
                self.items.remove(sink)
                self.broken = True

    def close(self) -> None:
        for sink in self.items:
            sink.close()


def _open(path, make: Callable[[], Any]) -> Any:
    import sqlite3
    try:
        return make()
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot open {path}: {getattr(exc, 'strerror', None) or exc}") from None


def run_collect(targets: list[NodeTarget], opts: CollectOptions, *,
                companion: Companion | None = None, metrics_extra: tuple = ()) -> int:
    """Collect from targets (plus --local / --procfs trees in opts) until done; exit status.

    companion(fleet, stop) runs beside the collection on the same connections (`roost serve`
    schedules jobs there); fleet is None when no remote node is collected. metrics_extra adds
    series to the fleet-wide /metrics (`roost serve`'s job queue)."""
    try:
        plan = plan_from(opts)
        sources = _sources(targets, opts, plan)
    except UsageError as exc:
        _note(str(exc))
        return 2
    if not sources.names:
        _note("nothing to collect: no nodes configured (try --local, --procfs DIR, or `roost demo`)")
        return 2
    try:
        return asyncio.run(_collect(sources, plan, companion, metrics_extra))
    except UsageError as exc:
        _note(str(exc))
        return 2


Companion = Callable[[Any, asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Sources:
    remote: list[NodeTarget]
    pollers: list[tuple[str, Callable[[], Sample]]]   # (node, sampler) read every interval

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.remote] + [n for n, _ in self.pollers]


def _sources(targets: list[NodeTarget], opts: CollectOptions, plan: Plan) -> Sources:
    if plan.interval:
        targets = [replace(t, interval=plan.interval) for t in targets]
    remote = [t for t in targets if not t.local]
    pollers = [(t.name, _local_sampler(t.name)) for t in targets if t.local]
    if opts.local and not any(t.local for t in targets):
        import socket
        pollers.append((socket.gethostname(), _local_sampler(socket.gethostname())))
    procfs, sysfs = opts.procfs, opts.sysfs
    if procfs or sysfs:
        pollers.append(_tree_sampler(procfs or "/proc", sysfs or "/sys"))
    return Sources(remote, pollers)


def _local_sampler(name: str) -> Callable[[], Sample]:
    from collectors.local import sample_local
    return lambda: sample_local(name)


def _tree_sampler(procfs: str, sysfs: str) -> tuple[str, Callable[[], Sample]]:
    from collectors.snapshot import build_sample
    from collectors.tree import TreeReader
    for what, root in (("--procfs", procfs), ("--sysfs", sysfs)):
        if not Path(root).is_dir():
            raise UsageError(f"{what} {root}: not a directory")
    reader = TreeReader(procfs, sysfs)
    first = build_sample("tree", reader.read(time.time()), time.time())
    # name it after the node's hostname file, else the directory holding proc/ (boards/rpi4/proc)
    parent = Path(procfs).resolve()
    name = (first.facts.hostname if first.facts else None) or \
        (parent.parent.name if parent.name == "proc" and parent.parent.name else "tree")
    return name, lambda: _tree_sample(name, reader)


def _tree_sample(name: str, reader) -> Sample:
    from collectors.snapshot import build_sample
    now = time.time()
    return build_sample(name, reader.read(now), now, node_clock=now)


async def _collect(sources: Sources, plan: Plan, companion: Companion | None = None,
                   metrics_extra: tuple = ()) -> int:
    run = Run(plan, sources.names)
    run.up = {n: False for n in sources.names}
    stop = asyncio.Event()
    signals = _on_signals(stop.set)
    sinks = Sinks(plan)
    try:
        server = await _serve(plan, run, sources, metrics_extra)
    except UsageError:
        sinks.close()
        raise
    try:
        await _drive(sources, plan, run, sinks, stop, companion)
    finally:
        signals()
        sinks.write(run.pending)
        run.pending = []
        sinks.close()
        if server:
            server.close()
    return _finish(run, plan, stop.is_set(), sinks.broken)


def _on_signals(handler: Callable[[], None]) -> Callable[[], None]:
    """SIGINT/SIGTERM call handler; returns the undo. Off the main thread there are no signals."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (ValueError, RuntimeError):
            break

    def undo() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return undo


async def _serve(plan: Plan, run: Run, sources: Sources, extra: tuple = ()):
    """The Prometheus endpoint: /nodes/NAME/metrics per node, /metrics for the fleet, /sd, on
    this loop."""
    if not plan.prometheus:
        return None
    from collectors.sinks.prom_http import Exposition, start
    from collectors.sinks.prometheus import select_sections
    host, port = plan.prometheus
    infos = target_infos(sources.remote) + [_info(name) for name, _ in sources.pollers]
    sections = select_sections(plan.collectors, plan.disable_collectors)
    try:
        return await start(Exposition(run.view, lambda: infos, tuple(extra), run.lookup, sections),
                           host, port)
    except OSError as exc:
        raise UsageError(f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}") from None


def target_infos(targets: list[NodeTarget]) -> list:
    """What Prometheus discovery says about each node (groups, role, SSH address)."""
    from collectors.sinks.prom_http import TargetInfo
    return [TargetInfo(t.name, t.groups, t.role, "" if t.local else f"{t.host}:{t.port}")
            for t in targets]


def _info(name: str):
    from collectors.sinks.prom_http import TargetInfo
    return TargetInfo(name)


def write_file_sd(targets: list[NodeTarget], path: str, address: tuple[str, int]) -> int:
    """`roost nodes --prometheus-sd FILE`: the /sd target list as a file_sd JSON file, written
    beside FILE then renamed over it (a symlink at FILE is replaced, never followed)."""
    import os

    from collectors.sinks.prom_http import sd_groups
    host, port = address
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    text = json.dumps(sd_groups(target_infos(targets), where), indent=1) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return 0
    tmp = f"{path}.roost-{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        _note(f"--prometheus-sd {path}: {exc.strerror or exc}")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        return 1
    _note(f"wrote {len(targets)} Prometheus targets on {where} to {path}")
    return 0


def queue_series(db: Path, every: float = 5.0):
    """A fleet /metrics extra: the built-in job queue's task counts (read at most every `every`
    seconds, in the fleet page's worker thread, from its own connection to the queue database
    db)."""
    cache: dict[str, Any] = {"at": -every, "counts": None}

    def add(families) -> None:
        now = time.monotonic()
        if now - cache["at"] >= every:
            cache["at"], cache["counts"] = now, _queue_counts(db)
        for state, count in (cache["counts"] or {}).items():
            families.add("", "roost_jobs_tasks", "Tasks in roost's job queue by state.",
                         {"state": state}, count)
    return add


def _queue_counts(db: Path) -> dict[str, int] | None:
    """None when the queue cannot be read now (no database yet, locked, damaged): /metrics then
    goes without the queue rather than failing."""
    import sqlite3

    from console.jobs.store import Store
    if not db.exists():
        return None
    try:
        store = Store(db)
    except (OSError, sqlite3.Error):
        return None
    try:
        counts = {"pending": sum(store.pending_counts().values()), "running": 0, "suspended": 0}
        for task in store.active():
            counts[task.state.value.lower()] = counts.get(task.state.value.lower(), 0) + 1
        return counts
    except sqlite3.Error:
        return None
    finally:
        store.close()


async def _drive(sources: Sources, plan: Plan, run: Run, sinks: Sinks, stop: asyncio.Event,
                 companion: Companion | None = None) -> None:
    queue: asyncio.Queue = asyncio.Queue(QUEUE_BOUND)
    interval = plan.interval or _interval(sources)
    tasks = [asyncio.create_task(_poll(name, fn, interval, queue)) for name, fn in sources.pollers]
    fleet = await _start_fleet(sources.remote)
    beside: asyncio.Task[None] | None = \
        asyncio.create_task(companion(fleet, stop)) if companion is not None else None
    try:
        await _consume(queue, run, sinks, stop, interval, _deadline(plan, sources, interval), fleet)
    finally:
        await _end_companion(beside, stop)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if fleet is not None:
            await fleet.stop()


async def _end_companion(task: asyncio.Task | None, stop: asyncio.Event) -> None:
    # the companion ends on stop (a scheduler finishes its step); cancel only if it hangs
    if task is None:
        return
    stop.set()
    try:
        await asyncio.wait_for(task, timeout=15.0)
    except TimeoutError:
        pass
    except Exception as exc:  # noqa: BLE001 - report, never lose the flush of the sinks
        _note(f"{type(exc).__name__}: {exc}")


def _interval(sources: Sources) -> float:
    return min((t.interval for t in sources.remote), default=1.0)


def _deadline(plan: Plan, sources: Sources, interval: float) -> float | None:
    now = time.monotonic()
    if plan.duration is not None:
        return now + plan.duration
    if plan.count is not None:
        # a node that neither answers nor reports down must not hang a finite run
        connect = max((t.connect_timeout for t in sources.remote), default=0.0)
        return now + connect + interval * (plan.count + 1) + 5.0
    return None


async def _poll(name: str, sample: Callable[[], Sample], interval: float, queue: asyncio.Queue) -> None:
    await queue.put(NodeEvent(name, time.time(), "up"))
    while True:
        try:
            item: Sample | NodeEvent = await asyncio.to_thread(sample)
        except Exception as exc:  # a reader failure marks the node down, it never ends the run
            reason = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
            item = NodeEvent(name, time.time(), "down", reason)
        await queue.put(item)
        await asyncio.sleep(interval)


async def _start_fleet(remote: list[NodeTarget]) -> Fleet | None:
    if not remote:
        return None
    from collectors.fleet import Fleet
    fleet = Fleet(remote, lazy=True)
    await fleet.start()
    return fleet


async def _consume(queue: asyncio.Queue, run: Run, sinks: Sinks, stop: asyncio.Event,
                   interval: float, deadline: float | None, fleet: Fleet | None = None) -> None:
    """Take what the sources queued every BATCH seconds (or at once when the run may end),
    write the sinks every interval. Batches, not a wake-up per item: at 1,000 nodes a second
    a task, a future and a loop turn per frame cost as much as decoding the frames."""
    next_flush = time.monotonic() + interval
    pacer = GcPacer()
    stopper = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set() and not sinks.broken:
            more = _take_ready(queue, run, fleet)
            if run.settled():
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            if now >= next_flush:
                sinks.write(run.pending)
                run.pending, next_flush = [], now + interval
                pacer.tick()
            wait = 0.0 if more else min(next_flush, deadline or next_flush, now + _batch(run)) - now
            await asyncio.wait({stopper}, timeout=max(wait, 0.0))
    finally:
        stopper.cancel()


BATCH = 0.1        # seconds between takes: what a sample waits at most before a scrape sees it


def _batch(run: Run) -> float:
    # a finite run (--once, --count) ends as soon as its last sample is in
    return BATCH / 10 if run.plan.count is not None else BATCH


def _take_ready(queue: asyncio.Queue, run: Run, fleet: Fleet | None = None) -> bool:
    """What is already queued, without a task and a loop turn per item; at most QUEUE_BOUND
    of the fleet's, so a slow sink still lets the loop run between takes. True: more wait."""
    while not queue.empty():
        run.take(queue.get_nowait())
    if fleet is None:
        return False
    items = fleet.ready(QUEUE_BOUND)
    for item in items:
        run.take(item)
    return len(items) == QUEUE_BOUND


def _finish(run: Run, plan: Plan, interrupted: bool, broken: bool = False) -> int:
    if broken:
        return 0
    if plan.format:
        print(_render(run, plan.format), end="", flush=True)
    if interrupted or not plan.finite:
        return 0
    for node in run.missing():
        reason = run.down_reason.get(node, "no sample before the deadline")
        _note(f"{node}: no sample: {reason}")
    return 1 if run.missing() else 0


def _render(run: Run, fmt: str) -> str:
    samples = [resolve(run.latest[n]) for n in run.nodes if n in run.latest]
    if fmt == "json":
        from collectors.sinks.jsonl import Records, encode
        records = Records(run.plan.jsonl_format)
        for s in samples:   # the sample before the last gives the plain format its rates
            if s.node in run.previous:
                records(resolve(run.previous[s.node]))
        return "".join(encode(records(s)) + "\n" for s in samples)
    from collectors.sinks.prometheus import render_text
    fleet = len(run.nodes) > 1
    return render_text(samples, fleet=fleet, up=run.up if fleet else None)


# ---------------------------------------------------------------- reachability (nodes, check)

async def probe(target: NodeTarget, timeout: float, command: str | None = None) -> str | None:
    """Log in as the collectors do (host key verified) and optionally run command.

    None when it worked, else the transport's one-line reason.
    """
    if target.local:
        return None
    from collectors import transport
    target = replace(target, connect_timeout=min(target.connect_timeout, timeout))
    try:
        async with asyncio.timeout(timeout):
            conn = await transport.connect(target)
            try:
                return await _run_check(transport, conn, target, command, timeout)
            finally:
                conn.close()
    except TimeoutError:
        return f"timed out after {timeout:g} s"
    except transport.TransportError as exc:
        return _reason(exc, target.name)
    except Exception as exc:  # noqa: BLE001 - one node's failure is its own line, never the fleet's
        return _reason(f"{type(exc).__name__}: {exc}", target.name)


async def _run_check(transport, conn, target: NodeTarget, command: str | None, timeout: float):
    if not command:
        return None
    result = await transport.run(conn, command, timeout, node=target.name)
    return None if result.exit_status == 0 else f"`{command}` exited {result.exit_status}"


def _reason(exc: Exception | str, node: str) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split())


async def probe_all(targets: list[NodeTarget], timeout: float,
                    command: str | None = None) -> dict[str, str | None]:
    """Probe every target concurrently; {node: None (ok) | one-line error}."""
    results = await asyncio.gather(*(probe(t, timeout, command) for t in targets))
    return {t.name: r for t, r in zip(targets, results)}
