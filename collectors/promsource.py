"""The fleet read from Prometheus: a bounded set of PromQL queries per tick instead of an SSH
stream per node.

    source = PromSource(client, names, interval=5, budget=4, window=60, selector='job="node"')
    await source.start()
    async for item in source.stream():     # Samples (with Rates) and NodeEvents, as Fleet's
        ...

Per tick one instant query per metric family that is due (FAMILIES: up, cpu, load, memory,
temperatures, fans, frequency, network rates every tick; core counts, maximum frequencies,
filesystems and uname every EVERY seconds), all evaluated at the same instant, a few at a time
with `up` first: the number of requests is O(families), whatever the fleet's size; every query
reads only what the fleet table and heatmap show and aggregates `by` the few labels roost reads
(at 3,000 nodes that halves the bytes). A site may replace a family's PromQL (overrides, from
[source.queries]) with a recording rule's series (examples/prometheus/roost-rules.yml). Results are grouped by the
node label (`instance` by default, its port stripped and then matched to a configured node's name
or host: NodeNames) into one Sample per node; rates come ready-made from rate()
(collectors.model.Rates). `up == 0` is a down event (the scrape failed: a node_exporter
unreachable, or a roost serve shard answering 503 for a node that is down); a node whose series
vanish goes stale in FleetState as a silent SSH node does.

Prometheus slow: at the budget the tick assembles every family's latest answer; a query still
running is late, neither cancelled nor sent again (never piled up: one in flight per family,
cut at `timeout`), and lands for the next tick (a family's first answer is shown when it
lands). Prometheus down or failing: the last data stays and ages into stale, and the next try
backs off (interval x 2^n, capped). status() says which (slow, with the slowest query, or DOWN)
for the summary line; every tick's query times are kept (ticks) for the benchmark.

Works on plain node_exporter targets and on roost serve shards alike: both expose node_exporter's
names with one target per node.
"""
from __future__ import annotations

import asyncio
import math
import string
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, ItemsView, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from collectors.model import (
    CpuFreq,
    Filesystem,
    HwmonSensor,
    LoadAvg,
    Memory,
    NodeEvent,
    NodeFacts,
    Rates,
    Sample,
    ThermalZone,
)
from collectors.promql import PromClient, PromError, PromRefused, PromTimeout, Series, off_loop

if TYPE_CHECKING:
    from collectors.model import NodeTarget
    from collectors.sshpool import SshPool
    from collectors.transport import CommandResult

BACKOFF_CAP = 60.0
PSEUDO_FS = "tmpfs|devtmpfs|ramfs|overlay|squashfs|nsfs|tracefs|proc|sysfs|rootfs|autofs"

# {L}: the node label, {S}: the selector (with a trailing comma when not empty), {W}: rate window.
# What the fleet table and heatmap show, and no more: the cost of a query is the series it
# reads, so a family reads one metric where it can, and what changes slowly (core counts,
# maximum frequencies, filesystems, uname) is asked every EVERY seconds, not every tick.
FAMILIES: dict[str, str] = {
    "up": "max by ({L}, job, groups) (up{{{S}}})",
    # idle + iowait seconds per second summed over a node's cores; busy % = 1 - idle / cores (a
    # core's modes add up to one second per second, as node_exporter's dashboards compute it).
    # Two of a core's eight modes; per-core shares are the node screen's range queries (HISTORY)
    "cpu": 'sum by ({L}) (rate(node_cpu_seconds_total{{{S}mode=~"idle|iowait"}}[{W}]))',
    "cores": 'count by ({L}) (node_cpu_seconds_total{{{S}mode="idle"}})',
    "load": 'max by ({L}) (node_load1{{{S}}})',
    "memory": ('max by ({L}, __name__) ({{{S}__name__=~"node_memory_MemTotal_bytes|'
               'node_memory_MemAvailable_bytes"}})'),
    # the hottest sensor of each node, with its labels (the fleet shows and alerts on it)
    "temps": ('topk by ({L}) (1, max by ({L}, __name__, type, zone, chip, sensor) '
              '({{{S}__name__=~"node_thermal_zone_temp|node_hwmon_temp_celsius"}}))'),
    "fans": 'max by ({L}, __name__, chip, sensor) ({{{S}__name__=~"node_hwmon_fan_rpm|node_hwmon_pwm"}})',
    # the fastest core now, and (slowly changing) the highest maximum (per core: history)
    "freq": 'max by ({L}) (node_cpu_scaling_frequency_hertz{{{S}}})',
    "maxfreq": 'max by ({L}) (node_cpu_scaling_frequency_max_hertz{{{S}}})',
    "net": ('sum by ({L}, dir) (label_replace(rate(node_network_receive_bytes_total'
            '{{{S}device!="lo"}}[{W}]), "dir", "rx", "", "") or label_replace(rate('
            'node_network_transmit_bytes_total{{{S}device!="lo"}}[{W}]), "dir", "tx", "", ""))'),
    # per filesystem: the used share as df computes it, and the read-only ones
    "disk": ('label_replace(max by ({L}, mountpoint, fstype) (1 - node_filesystem_avail_bytes{{{S}{F}}}'
             ' / (node_filesystem_size_bytes{{{S}{F}}} - node_filesystem_free_bytes{{{S}{F}}}'
             ' + node_filesystem_avail_bytes{{{S}{F}}})), "what", "used", "", "")'
             ' or label_replace(max by ({L}, mountpoint, fstype) (node_filesystem_readonly'
             '{{{S}{F}}} == 1), "what", "ro", "", "")'),
    "uname": "max by ({L}, nodename, release) (node_uname_info{{{S}}})",
}

# the node screen's graphs over any window Prometheus keeps: range queries for one node
# ({N}: that node's label matcher, with a trailing comma)
HISTORY: dict[str, str] = {
    "core": ('100 * (1 - sum by (cpu) (rate(node_cpu_seconds_total{{{S}{N}mode=~"idle|iowait"}}'
             '[{W}])))'),
    "temp": '{{{S}{N}__name__=~"node_thermal_zone_temp|node_hwmon_temp_celsius"}}',
    "fan": '{{{S}{N}__name__=~"node_hwmon_fan_rpm|node_hwmon_pwm"}}',
    "freq": 'node_cpu_scaling_frequency_hertz{{{S}{N}}} / 1e6',
    "net": ('sum by (dir) (label_replace(rate(node_network_receive_bytes_total{{{S}{N}device!="lo"}}'
            '[{W}]), "dir", "rx", "", "") or label_replace(rate(node_network_transmit_bytes_total'
            '{{{S}{N}device!="lo"}}[{W}]), "dir", "tx", "", ""))'),
}


# seconds between queries of a family that changes slowly (the others go every tick)
EVERY: dict[str, float] = {"cores": 60.0, "maxfreq": 60.0, "disk": 30.0, "uname": 60.0}

# families every node has (the others depend on the hardware: sensors, fans, cpufreq)
EVERY_NODE = frozenset({"up", "cpu", "cores", "load", "memory", "net", "disk", "uname"})

# what an override may name: [source.queries] FAMILY = "PromQL with $selector ..."
PLACEHOLDERS = ("selector", "node_label", "window")


def queries(selector: str = "", label: str = "instance", window: float = 60.0,
            overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every family's PromQL for this selector, node label and rate() window (seconds); a family
    in overrides is that text with $selector (the matchers and a comma, or nothing: it opens a
    brace), $node_label and $window substituted (ValueError or KeyError if it names others)."""
    sel = f"{selector.strip().rstrip(',')}," if selector.strip() else ""
    win = f"{max(1, round(window))}s"
    fs = f'fstype!~"{PSEUDO_FS}"'
    out = {name: text.format(S=sel, L=label, W=win, F=fs) for name, text in FAMILIES.items()}
    for name, text in (overrides or {}).items():
        out[name] = string.Template(text).substitute(selector=sel, node_label=label, window=win)
    return out


# ---------------------------------------------------------------- naming

class NodeNames:
    """A target's node label -> roost's node name: the label's value, its port stripped
    ("10.0.0.5:9100" -> "10.0.0.5", "[fe80::1]:9100" -> "fe80::1"), then a configured node of
    that name, or the configured node whose host it is, or the value itself."""

    def __init__(self, label: str = "instance", strip_port: bool = True,
                 hosts: Mapping[str, str] | None = None, names: Iterable[str] = ()):
        self.label, self.strip = label, strip_port
        self.names = frozenset(names)
        self.hosts = dict(hosts or {})     # host -> configured node name
        self._memo: dict[str, str] = {}

    def of(self, labels: Mapping[str, str]) -> str | None:
        raw = labels.get(self.label)
        if not raw:
            return None
        name = self._memo.get(raw)
        if name is None:
            name = self._memo[raw] = self._resolve(raw)
        return name

    def _resolve(self, raw: str) -> str:
        if raw in self.names:
            return raw
        bare = strip_port(raw) if self.strip else raw
        if bare in self.names:
            return bare
        return self.hosts.get(bare, self.hosts.get(raw, bare))


def strip_port(text: str) -> str:
    if text.startswith("["):
        host, sep, _ = text[1:].partition("]")
        return host if sep else text
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host and host:
        return host
    return text


# ---------------------------------------------------------------- assembling Samples (pure)

@dataclass(slots=True)
class _Node:
    up: bool = False
    idle: float | None = None      # idle + iowait cpu-seconds per second, all cores
    cores: int | None = None
    target: str = ""
    label: str = ""
    groups: tuple[str, ...] = ()
    busy: dict[str, float] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    thermal: list[ThermalZone] = field(default_factory=list)
    hwmon: list[HwmonSensor] = field(default_factory=list)
    freq: dict[str, list[float | None]] = field(default_factory=dict)
    net: dict[str, float] = field(default_factory=dict)
    fs: dict[tuple[str, str, str], dict[str, float]] = field(default_factory=dict)
    facts: NodeFacts | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One tick's fleet: a Sample per node that is up, and every node's up (False: up == 0)."""
    samples: dict[str, Sample]
    up: dict[str, bool]
    groups: dict[str, tuple[str, ...]]
    targets: dict[str, str]        # node -> the target (job/instance) that reported it
    labels: dict[str, str]         # node -> its node label's value ("10.0.0.5:9100")


def assemble(results: Mapping[str, list[Series]], names: NodeNames, ts: float) -> Snapshot:
    """One tick's query results -> Samples per node (only for nodes whose target is up)."""
    nodes: dict[str, _Node] = {}

    def node_of(labels: Mapping[str, str]) -> _Node | None:
        name = names.of(labels)
        if name is None:
            return None
        node = nodes.get(name)
        if node is None:    # (setdefault made a _Node, ten fields, for each of ~45 k series)
            node = nodes[name] = _Node()
        return node

    for s in results.get("up", ()):
        n = node_of(s.labels)
        if n is not None:
            n.up = n.up or s.value == 1
            n.target = n.target or f"{s.labels.get('job', '')}/{s.labels.get(names.label, '')}"
            n.label = n.label or s.labels.get(names.label, "")
            n.groups = n.groups or _groups(s.labels.get("groups", ""))
    for family, add in _ADDERS.items():
        for s in results.get(family, ()):
            n = node_of(s.labels)
            if n is not None and math.isfinite(s.value):
                add(n, s)
    samples = {name: _sample(name, n, ts) for name, n in nodes.items() if n.up}
    return Snapshot(samples, {name: n.up for name, n in nodes.items() if n.target},
                    {name: n.groups for name, n in nodes.items() if n.groups},
                    {name: n.target for name, n in nodes.items() if n.target},
                    {name: n.label for name, n in nodes.items() if n.label})


def _groups(text: str) -> tuple[str, ...]:
    return tuple(g for g in text.split(",") if g)


def _add_cpu(n: _Node, s: Series) -> None:
    if "cpu" in s.labels:          # a per-core row (an override that gives them)
        n.busy[s.labels["cpu"]] = min(100.0, max(0.0, 100.0 * (1.0 - s.value)))
    else:
        n.idle = s.value


def _add_cores(n: _Node, s: Series) -> None:
    n.cores = int(s.value)


def _add_load(n: _Node, s: Series) -> None:
    n.load[s.labels.get("__name__") or "node_load1"] = s.value


def _add_named(attr: str) -> Callable[[_Node, Series], None]:
    def add(n: _Node, s: Series) -> None:
        getattr(n, attr)[s.labels.get("__name__", "")] = s.value
    return add


def _add_temp(n: _Node, s: Series) -> None:
    lab = s.labels
    if lab.get("__name__") == "node_thermal_zone_temp":
        n.thermal.append(ThermalZone(lab.get("zone", ""), lab.get("type", ""), s.value))
    else:
        chip = lab.get("chip", "")
        n.hwmon.append(HwmonSensor(chip, chip, "temp", lab.get("sensor", ""), s.value))


def _add_fan(n: _Node, s: Series) -> None:
    lab = s.labels
    kind = "fan" if lab.get("__name__") == "node_hwmon_fan_rpm" else "pwm"
    chip = lab.get("chip", "")
    n.hwmon.append(HwmonSensor(chip, chip, kind, lab.get("sensor", ""), s.value))


def _add_freq_slot(index: int) -> Callable[[_Node, Series], None]:
    """freq: the current frequency, maxfreq: the maximum (of a core, or the node's fastest)."""
    def add(n: _Node, s: Series) -> None:
        n.freq.setdefault(s.labels.get("cpu", ""), [None, None])[index] = s.value
    return add


def _add_net(n: _Node, s: Series) -> None:
    n.net[s.labels.get("dir", "")] = s.value


def _add_fs(n: _Node, s: Series) -> None:
    lab = s.labels
    key = (lab.get("device", ""), lab.get("mountpoint", ""), lab.get("fstype", ""))
    n.fs.setdefault(key, {})[lab.get("what", "used")] = s.value


def _add_uname(n: _Node, s: Series) -> None:
    lab = s.labels
    n.facts = NodeFacts(hostname=lab.get("nodename"), kernel=lab.get("release"))


_ADDERS: dict[str, Callable[[_Node, Series], None]] = {
    "cpu": _add_cpu, "cores": _add_cores, "load": _add_load, "memory": _add_named("memory"),
    "temps": _add_temp, "fans": _add_fan, "freq": _add_freq_slot(0), "maxfreq": _add_freq_slot(1),
    "net": _add_net, "disk": _add_fs,
    "uname": _add_uname,
}


def _busy(n: _Node) -> float | None:
    if n.busy:
        return sum(n.busy.values()) / len(n.busy)
    if n.idle is None or not n.cores:
        return None
    return min(100.0, max(0.0, 100.0 * (1.0 - n.idle / n.cores)))


def _sample(name: str, n: _Node, ts: float) -> Sample:
    cpu = _busy(n)
    load = LoadAvg(n.load["node_load1"], n.load.get("node_load5", math.nan),
                   n.load.get("node_load15", math.nan)) if "node_load1" in n.load else None
    mem = {"MemTotal": n.memory["node_memory_MemTotal_bytes"]} \
        if "node_memory_MemTotal_bytes" in n.memory else {}
    if mem and "node_memory_MemAvailable_bytes" in n.memory:
        mem["MemAvailable"] = n.memory["node_memory_MemAvailable_bytes"]
    return Sample(
        node=name, ts=ts, load=load, memory=Memory(mem) if mem else None,
        thermal=tuple(n.thermal), hwmon=tuple(n.hwmon),
        cpufreq=tuple(CpuFreq(c, cur, max_hz=top) for c, (cur, top) in sorted(n.freq.items())),
        filesystems=tuple(_filesystem(key, v) for key, v in n.fs.items() if "used" in v),
        facts=n.facts,
        rates=Rates(cpu=cpu, per_core=dict(n.busy), rx_bps=n.net.get("rx"), tx_bps=n.net.get("tx"),
                    cores=n.cores or len(n.busy) or None))


def _filesystem(key: tuple[str, str, str], v: dict[str, float]) -> Filesystem:
    """The used share arrives ready-made: sizes in percent of the filesystem (used_pct exact)."""
    device, mount, fstype = key
    left = 100.0 * (1.0 - min(1.0, max(0.0, v["used"])))
    return Filesystem(device, mount, fstype, readonly=v.get("ro") == 1, size=100.0, free=left,
                      avail=left)


# ---------------------------------------------------------------- the source

@dataclass(frozen=True, slots=True)
class Tick:
    """One tick: when, how long until it was assembled (seconds), each family's query time
    (a late family's is filled in when it lands), what failed, what was late."""
    at: float
    seconds: float
    families: Mapping[str, float]
    nodes: int = 0
    error: str = ""
    late: tuple[str, ...] = ()     # families still running at the budget (last reply kept)
    slow: bool = False             # the error is slowness (no answer yet), not Prometheus down


@dataclass(frozen=True, slots=True)
class NodeReport:
    """What the last tick said of one node, for the job scheduler's placement on nodes it
    holds no connection to: up (up == 1), its size and load, and when it was sampled."""
    up: bool
    at: float | None = None          # the sample's time (None: never sampled while up)
    cores: int | None = None
    mem_mb: int | None = None
    load1: float | None = None

    @property
    def free(self) -> float:
        """Free cores as placement orders nodes: cores less load1 (unknown: 1 core, idle)."""
        return (self.cores or 1) - (self.load1 or 0.0)


NEVER_SAMPLED = NodeReport(False)
KEEP_CHANGES = 64        # versions whose changed nodes are kept (a reader further behind walks all)


class NodeReports(Mapping[str, NodeReport]):
    """Every node Prometheus has named, read through to the source's latest reports (no copy:
    at 10,000 nodes a copy a second cost the console's loop ms): up only when up == 1 and
    sampled within max_age of `now`. version counts the source's report sets (one per tick);
    changes_since(v) names the nodes new or resized since version v, so a reader that syncs
    often looks at what changed, not at every node."""

    __slots__ = ("_source", "_max_age", "_now", "version", "_read", "_read_of")

    def __init__(self, source: PromSource, max_age: float, now: float):
        self._source, self._max_age, self._now = source, max_age, now
        self.version = source.version
        self._read: dict[str, NodeReport] = {}     # reports judged, of the set _read_of
        self._read_of = source.version

    def __getitem__(self, name: str) -> NodeReport:
        report = self.get(name)
        if report is None:
            raise KeyError(name)
        return report

    def get(self, name: str, default: NodeReport | None = None) -> NodeReport | None:  # type: ignore[override]
        """The node's report judged now, kept until the source's next report set: placement
        reads ~100 a pass, each twice, several passes a second (a dict's read after the
        first, not a judging; nor Mapping.get's KeyError round trip)."""
        if self._read_of != self._source.version:
            self._read, self._read_of = {}, self._source.version
        report = self._read.get(name)
        if report is None:
            report = self._judged(name)
            if report is None:
                return default
            self._read[name] = report
        return report

    def _judged(self, name: str) -> NodeReport | None:
        up = self._source.up.get(name)
        if up is None:
            return None
        seen = self._source.sizes.get(name)
        if seen is None:
            return NEVER_SAMPLED
        if seen.up == (up and seen.at is not None and self._now - seen.at <= self._max_age):
            return seen                  # the kept report itself when it already says so
        return replace(seen, up=not seen.up)

    def freest(self) -> Sequence[str]:
        """The nodes of the source's last landed reports, freest first (made once per set,
        off the loop: Landing); whether one is up and fresh is for the reader to ask."""
        return self._source.freest

    def items(self) -> ItemsView[str, NodeReport]:
        return _ReportItems(self)

    def pairs(self) -> Iterator[tuple[str, NodeReport]]:
        """(node, report) for every node, without a lookup by name for each (a full walk:
        the first sync, which reads every node)."""
        sizes, now, max_age = self._source.sizes, self._now, self._max_age
        for name, up in self._source.up.items():     # _judged inlined: 10,000 a walk
            seen = sizes.get(name)
            if seen is None:
                yield name, NEVER_SAMPLED
            elif seen.up == (up and seen.at is not None and now - seen.at <= max_age):
                yield name, seen
            else:
                yield name, replace(seen, up=not seen.up)

    def __iter__(self) -> Iterator[str]:
        return iter(self._source.up)

    def __len__(self) -> int:
        return len(self._source.up)

    def __contains__(self, name: object) -> bool:
        return name in self._source.up

    def changes_since(self, version: int) -> frozenset[str] | None:
        return self._source.changes_since(version)


class _ReportItems(ItemsView[str, NodeReport]):
    _mapping: NodeReports

    def __iter__(self) -> Iterator[tuple[str, NodeReport]]:
        return self._mapping.pairs()


def report_of(sample: Sample) -> NodeReport:
    rates, mem = sample.rates, sample.memory
    total = mem.total if mem is not None else None
    return NodeReport(True, sample.ts, rates.cores if rates is not None else None,
                      int(total // 1048576) if total else None,
                      sample.load.load1 if sample.load is not None else None)


@dataclass(frozen=True, slots=True)
class Landing:
    """One tick's report set as the worker thread makes it beside the tick's assembly, with
    what the loop would otherwise walk every node for: the nodes new or resized (cores,
    memory) since the tick before, and the nodes by free cores (placement's order)."""
    reports: dict[str, NodeReport]
    resized: frozenset[str]
    freest: tuple[str, ...]        # cores less load1, most first (ties in the reports' order)


def landing(reports: dict[str, NodeReport], before: Mapping[str, NodeReport]) -> Landing:
    """reports compared with the tick before's (a node absent from it counts as new) and
    ordered by freeness once per set, for every reader (not sorted per placement pass)."""
    get = before.get
    resized = frozenset(n for n, r in reports.items() if (o := get(n)) is None
                        or o.cores != r.cores or o.mem_mb != r.mem_mb)
    names = list(reports)
    free = [r.free for r in reports.values()]
    order = sorted(range(len(names)), key=free.__getitem__, reverse=True)   # stable
    return Landing(reports, resized, tuple(names[i] for i in order))


def assemble_landing(results: Mapping[str, list[Series]], names: NodeNames, ts: float,
                     before: Mapping[str, NodeReport]) -> tuple[Snapshot, Landing]:
    """assemble() and the tick's report set (both off the event loop)."""
    snap = assemble(results, names, ts)
    return snap, landing({s.node: report_of(s) for s in snap.samples.values()}, before)


class _Stop:
    pass


_STOP = _Stop()


class PromSource:
    """A fleet source (start / stream / stop / run_command, like collectors.fleet.Fleet) over a
    Prometheus API. Commands go through an on-demand SSH pool (collectors.sshpool) if given.

    interval: seconds between ticks; budget: how long a tick waits for its queries before it
    assembles what it has; timeout: how long a query may run in all (a late one keeps running
    past the budget, never re-sent while it runs, and lands for the next tick); parallel: queries
    in flight at once, sent in FAMILIES' order (`up` first: the cheap ones are not queued behind
    the heavy ones on a busy Prometheus); every: seconds between queries of a family that
    changes slowly (EVERY); overrides: a family's PromQL replaced (a recording rule)."""

    def __init__(self, client: PromClient, names: NodeNames, *, interval: float = 5.0,
                 budget: float | None = None, window: float = 60.0, selector: str = "",
                 pool: SshPool | None = None, clock: Callable[[], float] = time.time,
                 keep_ticks: int = 1000, timeout: float | None = None, parallel: int = 3,
                 every: Mapping[str, float] | None = None, overrides: Mapping[str, str] | None = None):
        self.client, self.names, self.pool, self.clock = client, names, pool, clock
        # how to reach a node over SSH (the console's `t` builds its ssh line from it)
        self.target_of: Callable[[str], NodeTarget | None] = (
            pool.target_of if pool is not None else (lambda node: None))
        self.interval = interval
        self.budget = budget if budget is not None else 0.8 * interval
        self.timeout = max(self.budget, timeout if timeout is not None else 3.0 * interval)
        self.queries = queries(selector, names.label, window, overrides)
        self.overridden = frozenset(overrides or ())
        self.every = dict(EVERY if every is None else every)
        self.selector, self.window = selector, window
        self.labels: dict[str, str] = {}
        self.ticks: deque[Tick] = deque(maxlen=keep_ticks)
        self.up: dict[str, bool] = {}
        self.targets: dict[str, str] = {}
        self.groups: dict[str, tuple[str, ...]] = {}
        self.sizes: dict[str, NodeReport] = {}        # node -> its last sample's size and load
        self.version = 0                              # report sets made (one per tick)
        self._changes: deque[tuple[int, frozenset[str]]] = deque(maxlen=KEEP_CHANGES)
        self._changed: set[str] = set()               # new or resized since the last set
        self._last_reports: dict[str, NodeReport] = {}   # the last tick's (landing compares)
        self.freest: tuple[str, ...] = ()             # the last tick's sampled nodes, freest first
        self.failures = 0
        self.last_ok: float | None = None
        self.next_try: float | None = None
        self.refused: dict[str, str] = {}             # family -> the API's error (a bad override)
        self._queue: asyncio.Queue[Sample | NodeEvent | _Stop] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._replies: dict[str, list[Series]] = {}   # each family's last answer (kept when late)
        self._asked: dict[str, float] = {}            # family -> when it was last sent
        self._running: dict[str, asyncio.Task[list[Series]]] = {}
        self._slots = asyncio.Semaphore(max(1, parallel))
        self._landed = asyncio.Event()                # a family answered for the first time
        self._late: set[str] = set()                  # families the last tick went without

    # ---- the Source protocol -----------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="prom-source")

    async def stream(self) -> AsyncIterator[Sample | NodeEvent]:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Stop):
                self._queue.put_nowait(_STOP)
                return
            yield item

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        if self.pool is not None:
            await self.pool.close()
        await self.client.aclose()
        self._queue.put_nowait(_STOP)

    async def run_command(self, node: str, command: str, timeout: float) -> CommandResult:
        if self.pool is None:
            from collectors.transport import TransportError
            raise TransportError(node, "no SSH access configured for the Prometheus source")
        return await self.pool.run(node, command, timeout)

    # ---- ticks -------------------------------------------------------------------------------
    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            ok = await self.tick()
            delay = self.interval if ok else min(BACKOFF_CAP, self.interval * 2 ** max(0, self.failures - 1))
            self.next_try = self.clock() + max(0.0, delay - (loop.time() - started))
            await self._until(started + delay)

    async def _until(self, when: float) -> None:
        """Sleep until the next tick, showing a family that answers for the first time meanwhile
        (a slow Prometheus' first cpu reply is on screen when it lands, not a tick later)."""
        loop = asyncio.get_running_loop()
        while (left := when - loop.time()) > 0:
            self._landed.clear()
            try:
                await asyncio.wait_for(self._landed.wait(), left)
            except TimeoutError:
                return
            if "up" in self._replies:
                await self._assemble(self.clock())

    async def tick(self) -> bool:
        """Send the families that are due and not still running (`up` first, `parallel` at a
        time), wait for them up to the budget, then assemble every family's latest answer; those
        still running are late (their last reply is kept, they land for the next tick). True
        when the fleet was assembled; without any answer from `up` yet the tick fails as slow,
        on a connection error or an HTTP error as down (and the next try backs off)."""
        at, t0 = self.clock(), time.perf_counter()
        times: dict[str, float] = {}
        sent = {f: self._send(f, at, times) for f in self.queries if self._due(f, at)}
        if sent:
            await asyncio.wait(sent.values(), timeout=self.budget)
        errors = {f: e for f, t in sent.items() if t.done() and (e := _error(t)) is not None}
        down = [e for e in errors.values() if not isinstance(e, (PromTimeout, PromRefused))]
        refused = [e for e in errors.values() if isinstance(e, PromRefused)]
        if down or (refused and "up" not in self._replies):
            self.failures += 1
            return self._failed(at, t0, times, str((down or refused)[0]))
        late = tuple(f for f in self.queries
                     if f in self._running or isinstance(errors.get(f), PromTimeout))
        self._late = set(late)
        if "up" not in self._replies:
            return self._failed(at, t0, times, f"no answer from up within the {self.budget:g} s "
                                f"budget ({len(self._running)} queries still running)", slow=True)
        nodes = await self._assemble(at)
        self.failures, self.last_ok = 0, at
        self.ticks.append(Tick(at, time.perf_counter() - t0, times, nodes, late=late))
        return True

    def _due(self, family: str, at: float) -> bool:
        if family in self._running:
            return False
        last = self._asked.get(family)
        return last is None or family not in self._replies or at - last >= self.every.get(family, 0.0) - 0.5

    def _send(self, family: str, at: float, times: dict[str, float]) -> asyncio.Task[list[Series]]:
        self._asked[family] = at
        task = asyncio.get_running_loop().create_task(self._query(family, at, times))
        task.add_done_callback(_error)     # a late one's failure is retrieved (never a warning)
        self._running[family] = task
        return task

    async def _query(self, family: str, at: float, times: dict[str, float]) -> list[Series]:
        try:
            async with self._slots:
                t0 = time.perf_counter()
                try:
                    reply = await self.client.instant(self.queries[family], at=at, timeout=self.timeout)
                except PromError as exc:
                    if isinstance(exc, PromRefused):
                        self.refused[family] = str(exc)
                    raise type(exc)(f"{family}: {exc}") from None
                finally:
                    times[family] = time.perf_counter() - t0
        finally:
            self._running.pop(family, None)
        self.refused.pop(family, None)
        first = family not in self._replies
        self._replies[family] = reply
        if first:
            self._landed.set()
        elif family == "up" and family in self._late:   # who went down is news now, not next tick
            self._late.discard(family)
            self._emit_up(assemble({"up": reply}, self.names, at), self.clock())
            self.commit_reports()
        return reply

    async def _assemble(self, at: float) -> int:
        # off the event loop: at 3,000 nodes it is ~45 k rows (the console's keys go on
        # meanwhile); the tick's report set is made there too (landing())
        snap, reports = await off_loop(assemble_landing, dict(self._replies), self.names, at,
                                       self._last_reports)
        self._emit(snap, at, reports)
        return len(snap.up)

    def _failed(self, at: float, t0: float, times: dict[str, float], error: str,
                slow: bool = False) -> bool:
        self.ticks.append(Tick(at, time.perf_counter() - t0, times, 0, error, slow=slow))
        return False

    def _emit(self, snap: Snapshot, at: float, reports: Landing | None = None) -> None:
        """The snapshot's events, report set (made here when not given) and samples."""
        self._emit_up(snap, at)
        if reports is None:
            self.land_reports({s.node: report_of(s) for s in snap.samples.values()})
        else:
            self.land(reports)
        for sample in snap.samples.values():
            self._queue.put_nowait(sample)
        self.commit_reports()

    def land_reports(self, reports: dict[str, NodeReport]) -> None:
        """A tick's reports kept, compared and ordered here (a tick does that off the loop)."""
        self.land(landing(reports, self._last_reports))

    def land(self, reports: Landing) -> None:
        """A tick's reports kept (the dict as it is: never changed after, a landing in the
        worker thread compares the next tick's with it), the nodes new or resized noted for
        the next report set (load and time change every tick: readers take them from the set
        itself), and its order by freeness for placement."""
        self._changed.update(reports.resized)
        self.sizes.update(reports.reports)
        self._last_reports, self.freest = reports.reports, reports.freest

    def commit_reports(self) -> None:
        """A new report set: its version and the nodes new or resized since the last one."""
        self.version += 1
        self._changes.append((self.version, frozenset(self._changed)))
        self._changed.clear()

    def changes_since(self, version: int) -> frozenset[str] | None:
        """The nodes new or resized after report set `version` (None: too far behind, or
        ahead of this source: read them all)."""
        if version == self.version:
            return frozenset()
        if not self._changes or version < self._changes[0][0] - 1 or version > self.version:
            return None
        return frozenset().union(*(names for v, names in self._changes if v > version))

    def reports(self, max_age: float) -> NodeReports:
        """Every node Prometheus has named: up only when up == 1 and sampled within max_age
        seconds (a stale node is not up), with its last size and load (a view: NodeReports)."""
        return NodeReports(self, max_age, self.clock())

    def _emit_up(self, snap: Snapshot, at: float) -> None:
        self.targets.update(snap.targets)
        self.labels.update(snap.labels)
        for name, up in snap.up.items():
            groups = snap.groups.get(name, ())
            if groups:
                self.groups[name] = groups
            if name not in self.up:
                self._changed.add(name)
            if self.up.get(name) != up:
                reason = "Prometheus: target up" if up else \
                    f"Prometheus: up == 0 for {snap.targets.get(name, name)} (scrape failed)"
                self._queue.put_nowait(NodeEvent(name, at, "up" if up else "down", reason, groups))
            self.up[name] = up

    # ---- a node's history (the node screen's graphs) -----------------------------------------
    async def history(self, node: str, seconds: float, points: int = 180
                      ) -> tuple[list[float], dict[str, list[float | None]]]:
        """(times, series) over the last `seconds` from range queries, keyed as FleetState keys
        a node's history ("cpu", "core:0", "temp:LABEL", "fan:CHIP/SENSOR", "pwm:...",
        "freq:0", "rx", "tx"); a gap is None. Raises PromError."""
        end = self.clock()
        step = max(1.0, seconds / points)
        start = end - seconds
        grid = [start + i * step for i in range(int(seconds / step) + 1)]
        value = self.labels.get(node, node).replace("\\", "\\\\").replace('"', '\\"')
        sel = f"{self.selector.strip().rstrip(',')}," if self.selector.strip() else ""
        win = f"{max(1, round(self.window))}s"
        exprs = {k: q.format(S=sel, N=f'{self.names.label}="{value}",', W=win)
                 for k, q in HISTORY.items()}
        replies = await asyncio.gather(*(self.client.range(e, start, end, step, self.budget)
                                         for e in exprs.values()))
        out: dict[str, list[float | None]] = {}
        for kind, rows in zip(exprs, replies):
            for r in rows:
                key = _history_key(kind, r.labels)
                values = _on_grid(r.points, grid, step)
                if key.startswith("pwm:"):      # FleetState keeps pwm as percent
                    values = [None if v is None else v * 100.0 / 255.0 for v in values]
                out[key] = values
        cores = [v for k, v in out.items() if k.startswith("core:")]
        if cores:
            out["cpu"] = [_mean(col) for col in zip(*cores)]
        return grid, out

    # ---- what the console shows --------------------------------------------------------------
    def status(self, now: float | None = None) -> tuple[str, str]:
        """(one line, ok | warn | crit) for the summary bar: DOWN only when Prometheus could not
        be reached or answered with an error; slow (with the query times) when it answers late."""
        now = self.clock() if now is None else now
        last = self.ticks[-1] if self.ticks else None
        if last is None:
            return ("prometheus: first query…", "warn")
        age = f"data {now - self.last_ok:.0f} s old" if self.last_ok else "no data yet"
        if last.error and not last.slow:
            retry = f"retry in {max(0.0, (self.next_try or now) - now):.0f} s"
            return (f"prometheus DOWN: {last.error} · {age}, kept (stale) · {retry}", "crit")
        slowest = self._slowest()
        if last.error:
            return (f"prometheus slow: {last.error}{slowest} · {age}", "warn")
        text = f"prometheus {len(self.queries)} queries {last.seconds * 1000:.0f} ms"
        if last.late:
            text = (f"prometheus slow: {text[11:]}; {', '.join(last.late)} late "
                    f"(last values kept){slowest}")
        if self.refused:
            text += " · " + "; ".join(self.refused.values())
        # an override naming a recording rule Prometheus does not have answers with nothing
        empty = [f for f in sorted(self.overridden & EVERY_NODE)
                 if f in self._replies and not self._replies[f]]
        if empty and last.nodes:
            text += f" · {', '.join(empty)}: no series (is the recording rule loaded?)"
        slow = last.seconds > 0.5 * self.budget or bool(last.late) or bool(self.refused) or bool(empty)
        return (text, "warn" if slow else "ok")

    def _slowest(self) -> str:
        """The slowest query of the last few ticks (a late one's time is known once it lands)."""
        times = [(s, f) for t in list(self.ticks)[-4:] for f, s in t.families.items()]
        if not times:
            return ""
        seconds, family = max(times)
        return f"; slowest {family} {seconds:.1f} s"


def _error(task: asyncio.Task[list[Series]]) -> BaseException | None:
    return None if task.cancelled() else task.exception()


def _history_key(kind: str, labels: Mapping[str, str]) -> str:
    if kind in ("core", "freq"):
        return f"{kind}:{labels.get('cpu', '')}"
    if kind == "net":
        return labels.get("dir", "rx")
    if kind == "temp":
        if labels.get("__name__") == "node_thermal_zone_temp":
            return f"temp:{labels.get('type') or 'zone' + labels.get('zone', '')}"
        return f"temp:{labels.get('chip', '')}/{labels.get('sensor', '')}"
    prefix = "fan" if labels.get("__name__") == "node_hwmon_fan_rpm" else "pwm"
    return f"{prefix}:{labels.get('chip', '')}/{labels.get('sensor', '')}"


def _on_grid(points: Iterable[tuple[float, float]], grid: list[float], step: float) -> list[float | None]:
    out: list[float | None] = [None] * len(grid)
    start = grid[0] if grid else 0.0
    for t, v in points:
        i = round((t - start) / step)
        if 0 <= i < len(out) and math.isfinite(v):
            out[i] = v
    return out


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
