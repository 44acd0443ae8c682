"""The Prometheus text format 0.0.4 writer, and the flat {series: value} form of the same series.

Hand-made rather than prometheus_client's Metric objects: those cost most of the time per
sample, and the per-node cache wants plain text. Label values and HELP are escaped as the
format says, so hostile strings from a node cannot break the exposition. HELP and TYPE come from
node_exporter's table when the name is there.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from operator import itemgetter
from sys import intern
from typing import Any

from .node_help import NODE_HELP

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """As short as exact: integers without ".0", NaN and infinities in the format's spelling."""
    if (type(value) is int and -_EXACT < value < _EXACT) or type(value) is bool:
        return str(int(value))       # most counters: no float round trip (floats beyond 2**53
    value = float(value)             # are what node_exporter, all float64, prints too)
    if value != value:
        return "NaN"
    if value in (_INF, -_INF):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and -1e15 < value < 1e15:
        return str(int(value))
    return repr(value)


_INF = float("inf")
_EXACT = 2 ** 53


# a rendered part: (name, TYPE, HELP, the series' name{labels}, their lines) per family
Frozen = tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...]


class Families:
    """Metric families built up sample by sample, rendered as text format 0.0.4.

    fleet=True adds node="NAME" to every series. A duplicate series (same name and labels)
    is dropped: one would make Prometheus reject the whole scrape. HELP and TYPE come from
    node_exporter's table when the name is there, else from the caller."""

    def __init__(self, fleet: bool = False):
        self.fleet = fleet
        self.count = 0                          # series added so far
        self._families: dict[str, list[Any]] = {}   # name -> [type, help, {series: line}]

    def add(self, node: str, name: str, help_: str, labels: Mapping[str, str], value: float,
            counter: bool = False, node_label: bool = False, kind: str | None = None) -> None:
        if self.fleet or node_label:
            labels = {**labels, "node": node}
        fam = self._families.get(name)
        if fam is None:
            kind = kind or ("counter" if counter else "gauge")
            kind, help_ = NODE_HELP.get(name, (kind, help_))
            fam = self._families[name] = [kind, help_, {}]
        # the escaped name{labels} is cached: the same series come back every scrape of every node
        head = series_of(name, labels)
        lines = fam[2]
        if head in lines:
            return
        self.count += 1
        if type(value) is int and -_EXACT < value < _EXACT:   # most values: no call, no float
            lines[head] = f"{head} {value}\n"
        else:
            lines[head] = f"{head} {format_value(value)}\n"

    def put(self, node: str, name: str, help_: str, head: str, value: float,
            kind: str = "gauge") -> None:
        """add() for a series whose name{labels} (series_key) the caller made once and keeps:
        the path of the sections that add hundreds of series a scrape."""
        if self.fleet:
            head = _node_head(head, node)
        fam = self._families.get(name)
        if fam is None:
            kind, help_ = NODE_HELP.get(name, (kind, help_))
            fam = self._families[name] = [kind, help_, {}]
        lines = fam[2]
        if head in lines:
            return
        self.count += 1
        if type(value) is int and -_EXACT < value < _EXACT:
            lines[head] = f"{head} {value}\n"
        else:
            lines[head] = f"{head} {format_value(value)}\n"

    def frozen(self) -> Frozen:
        """The series so far in a compact, immutable form for merge() (a cache holds many; the
        family names are interned, so a thousand nodes' caches hold one copy of each)."""
        return tuple((intern(name), kind, help_, tuple(lines), tuple(lines.values()))
                     for name, (kind, help_, lines) in self._families.items())

    def merge(self, part: Frozen) -> None:
        """Add every series of a frozen() part, in its order, as add() would have (the first of
        a series wins, the family's first HELP and TYPE win): how a cached section is replayed."""
        for name, kind, help_, heads_, lines in part:
            fam = self._families.get(name)
            if fam is None:
                self._families[name] = [kind, help_, dict(zip(heads_, lines))]
                self.count += len(lines)
                continue
            mine = fam[2]
            for head, line in zip(heads_, lines):
                if head not in mine:
                    mine[head] = line
                    self.count += 1

    def text(self) -> str:
        parts = []
        for name in sorted(self._families):
            kind, help_, lines = self._families[name]
            parts.append(_family_head(name, kind, help_))
            parts += lines.values()
        return "".join(parts)


@lru_cache(maxsize=65536)
def _node_head(head: str, node: str) -> str:
    """head with node="NAME" last, as add() makes it from {**labels, "node": node}."""
    label = f'node="{_escape(node)}"'
    return f"{head[:-1]},{label}}}" if head.endswith("}") else f"{head}{{{label}}}"


# one series as the sections give it: (name, HELP, TYPE, name{labels}, value)
Record = tuple[str, str, str, str, float]


class Recorder:
    """Families' add() and put() for one node's target (no node label), only recorded in call
    order: a Layout turns the records into text, duplicates dropped and families sorted as
    Families.text() does, at a join per scrape when the series are those of the last one."""

    __slots__ = ("records",)
    fleet = False

    def __init__(self) -> None:
        self.records: list[Record] = []

    @property
    def count(self) -> int:
        return len(self.records)

    def add(self, node: str, name: str, help_: str, labels: Mapping[str, str], value: float,
            counter: bool = False, node_label: bool = False, kind: str | None = None) -> None:
        if node_label:
            labels = {**labels, "node": node}
        head = series_of(name, labels)
        self.records.append((name, help_, kind or ("counter" if counter else "gauge"), head, value))

    def put(self, node: str, name: str, help_: str, head: str, value: float,
            kind: str = "gauge") -> None:
        self.records.append((name, help_, kind, head, value))

    def frozen(self) -> tuple[Record, ...]:
        return tuple(self.records)

    def merge(self, part: tuple[Record, ...]) -> None:
        self.records += part


class Layout:
    """Where each recorded series goes in a node's text: made from one scrape's records (as
    Families renders them) and reused while a scrape records the same series in the same order,
    which on a live node is every scrape but those after a device comes or goes. Replaced
    whole, so scrape threads may share one."""

    __slots__ = ("_made",)

    def __init__(self) -> None:
        # (the records' heads, HELPs and TYPEs, the output's records by index, the text before
        # each value's slot)
        self._made: tuple[list[list[str]], Callable[[list[Any]], Any], list[str]] | None = None

    def text(self, records: list[Record]) -> str:
        # the same series with the same HELP and TYPE (name is in the head): 3 passes in C
        heads = [list(map(_HEAD, records)), list(map(_HELP, records)), list(map(_KIND, records))]
        made = self._made
        if made is None or made[0] != heads:
            return self._make(records, heads)
        known = _SHOWN.get
        shown = [known(v) or _shown(v) for v in made[1](list(map(_VALUE, records)))]
        parts = made[2][:]     # HELP, TYPE, name{labels} and a space before each value's slot
        parts[1::2] = shown
        return "".join(parts)

    def _make(self, records: list[Record], heads: list[list[str]]) -> str:
        f = Families()
        for name, help_, kind, head, value in records:
            f.put("", name, help_, head, value, kind)
        first: dict[str, int] = {}
        for i, head in enumerate(heads[0]):
            first.setdefault(head, i)
        order: list[int] = []
        pieces: list[str] = []    # (text before a value, its slot) by turns, then "\n"
        for name in sorted(f._families):
            kind, help_, lines = f._families[name]
            for j, head in enumerate(lines):
                order.append(first[head])
                family = _family_head(name, kind, help_) if j == 0 else ""
                pieces += (_piece("\n" if pieces else "", family, head), "")
        pieces.append("\n" if pieces else "")
        self._made = (heads, _picker(order), pieces)
        return f.text()


_HELP, _KIND, _HEAD, _VALUE = itemgetter(1), itemgetter(2), itemgetter(3), itemgetter(4)

# values as text, shared by all nodes: most of a scrape's values are ones already written (zeros,
# frequencies, limits, counters at rest), and a lookup costs a fifth of a float's formatting.
# Only |v| < 1e15 goes in: equal values there (1, 1.0, True) are written alike, so a hit is
# exactly what format_value would give.
_SHOWN: dict[float, str] = {}
SHOWN_CAP = 1 << 15


def _shown(value: float) -> str:
    text = str(value) if type(value) is int and -_EXACT < value < _EXACT else format_value(value)
    if -1e15 < value < 1e15:
        if len(_SHOWN) >= SHOWN_CAP:
            _SHOWN.clear()
        _SHOWN[value] = text
    return text


def _picker(order: list[int]) -> Callable[[list[Any]], Any]:
    """values -> the values at order's indices, as a sequence (itemgetter of one index gives
    the value itself)."""
    if len(order) == 1:
        index = order[0]
        return lambda values: (values[index],)
    return itemgetter(*order) if order else (lambda values: ())


@lru_cache(maxsize=1 << 17)
def _piece(before: str, family: str, head: str) -> str:
    """The text before a value, one copy for every node with that series (a thousand nodes'
    layouts would otherwise hold ~90 MB of the same HELP lines and names)."""
    return before + family + head + " "


@lru_cache(maxsize=4096)
def _family_head(name: str, kind: str, help_: str) -> str:
    return f"# HELP {name} {_escape_help(help_)}\n# TYPE {name} {kind}\n"


# What history leaves to Prometheus: disk counters beyond bytes, ops and busy time, inode counts,
# the per-disk info line (a point per second each would triple the rows for little use)
HISTORY_SKIP = frozenset({
    "node_disk_info", "node_disk_reads_merged_total", "node_disk_read_time_seconds_total",
    "node_disk_writes_merged_total", "node_disk_write_time_seconds_total", "node_disk_io_now",
    "node_disk_io_time_weighted_seconds_total", "node_disk_discards_completed_total",
    "node_disk_discards_merged_total", "node_disk_discarded_sectors_total",
    "node_disk_discard_time_seconds_total", "node_disk_flush_requests_total",
    "node_disk_flush_requests_time_seconds_total", "node_filesystem_files",
    "node_filesystem_files_free", "node_filesystem_device_error"})


class Flat:
    """The same sections into {series: value} for JSONL and SQLite: no text to build, and not
    the series in HISTORY_SKIP."""

    def __init__(self) -> None:
        self.series: dict[str, float] = {}

    def add(self, node: str, name: str, help_: str, labels: Mapping[str, str], value: float,
            counter: bool = False, node_label: bool = False, kind: str | None = None) -> None:
        if name in HISTORY_SKIP:
            return
        key = series_of(name, labels)
        if key not in self.series:  # first wins, as Families drops duplicate series
            self.series[key] = float(value)

    def put(self, node: str, name: str, help_: str, head: str, value: float,
            kind: str = "gauge") -> None:
        if name not in HISTORY_SKIP and head not in self.series:
            self.series[head] = float(value)


@lru_cache(maxsize=16384)
def heads(names: tuple[str, ...], labels: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """series_key of each name with the same labels (one device's or CPU's series, for put())."""
    return tuple(series_key(name, labels) for name in names)


def series_of(name: str, labels: Mapping[str, str]) -> str:
    """name{k="v",...} of a series, or name alone without labels (what add() writes)."""
    return series_key(name, tuple(labels.items())) if labels else name


@lru_cache(maxsize=65536)  # a fleet repeats the same few hundred series every tick
def series_key(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    """name{k="v",...} with exposition-format escaping: the JSONL key and SQLite metric name."""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return f"{name}{{{inner}}}"


