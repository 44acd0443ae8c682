"""Small messages between the background workers and the handlers that own state.

The fleet pump does not post one message per sample: it appends to an Inbox and posts a single
FleetDrain while none is pending, so a busy screen takes every queued item in one handler call
instead of lagging behind hundreds of per-node messages, and a node's newer sample replaces its
older queued one (toolong's can_replace idea, applied per node).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from collectors.model import NodeEvent, Sample
from console.power.control import PowerEvent

if TYPE_CHECKING:
    from console.history.service import NodeSeries


class Inbox:
    """Items from the fleet stream waiting for the app's handler (single event loop, no locks).

    Each item is numbered as it comes; a node's newest queued sample is remembered by number,
    so a drain of a few items at a time skips superseded samples without looking at the rest
    (a Prometheus tick queues every node at once: drained in chunks, a whole-queue pass per
    chunk took 12 ms of the console's loop per tick at 3,000 nodes)."""

    def __init__(self) -> None:
        self._items: deque[tuple[int, Sample | NodeEvent]] = deque()
        self._newest: dict[str, int] = {}    # node -> the number of its newest queued sample
        self._count = 0
        self.pending = False
        self.skipped = 0    # older samples dropped because a newer one of that node was queued

    def put(self, item: Sample | NodeEvent) -> bool:
        """Queue an item; True when the caller must post a FleetDrain."""
        self._count += 1
        if isinstance(item, Sample):
            self._newest[item.node] = self._count
        self._items.append((self._count, item))
        if self.pending:
            return False
        self.pending = True
        return True

    def drain(self, limit: int | None = None) -> list[Sample | NodeEvent]:
        """Up to `limit` items (all without one), in order, except samples superseded by a
        newer one of the same node (a console that fell behind skips stale samples instead of
        replaying them; rates come from counters, so they stay exact). Node events are always
        kept. Items left over keep `pending` set: the caller posts another FleetDrain."""
        items, newest = self._items, self._newest
        out: list[Sample | NodeEvent] = []
        while items and (limit is None or len(out) < limit):
            number, item = items.popleft()
            if isinstance(item, Sample):
                if newest[item.node] != number:
                    self.skipped += 1
                    continue
                del newest[item.node]
            out.append(item)
        self.pending = bool(items)
        return out


@dataclass
class FleetDrain(Message):
    """Items are waiting in the inbox."""


@dataclass
class SourceEnded(Message):
    """The fleet stream stopped; error is one line, empty on a clean stop."""
    error: str = ""


@dataclass
class NodeHistory(Message):
    """A node's stored history read from the database (or why it could not be)."""
    node: str
    span: str
    series: NodeSeries | None = None
    problem: str = ""


@dataclass
class NodeChosen(Message):
    """A widget asks to open a node's detail screen."""
    node: str


@dataclass
class CommandDone(Message):
    """One node finished a run-command request (status None: it could not run)."""
    run_id: int
    node: str
    status: int | None
    stdout: str
    stderr: str
    error: str = ""


@dataclass
class JobCounts(Message):
    """Running tasks per node from the job queue (None: the queue could not be read)."""
    counts: dict[str, int] | None
    error: str = ""


@dataclass
class PowerUpdate(Message):
    """A power status read or sequence reported something (console.power.control applies it)."""
    event: PowerEvent
