"""Small messages between the background workers and the handlers that own state.

The fleet pump does not post one message per sample: it appends to an Inbox and posts a single
FleetDrain while none is pending, so a busy screen takes every queued item in one handler call
instead of lagging behind hundreds of per-node messages, and a node's newer sample replaces its
older queued one (toolong's can_replace idea, applied per node).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from textual.message import Message

from collectors.model import NodeEvent, Sample
from console.power.control import PowerEvent


class Inbox:
    """Items from the fleet stream waiting for the app's handler (single event loop, no locks)."""

    def __init__(self) -> None:
        self._items: deque[Sample | NodeEvent] = deque()
        self.pending = False
        self.skipped = 0    # older samples dropped because a newer one of that node was queued

    def put(self, item: Sample | NodeEvent) -> bool:
        """Queue an item; True when the caller must post a FleetDrain."""
        self._items.append(item)
        if self.pending:
            return False
        self.pending = True
        return True

    def requeue(self, items: list[Sample | NodeEvent]) -> None:
        """Put back what a handler did not get to (in front: older than anything queued since)."""
        self._items.extendleft(reversed(items))
        self.pending = True

    def drain(self) -> list[Sample | NodeEvent]:
        """Everything queued, in order, except samples superseded by a newer one of the same
        node (a console that fell behind skips stale samples instead of replaying them; rates
        come from counters, so they stay exact). Node events are always kept."""
        self.pending = False
        items, self._items = list(self._items), deque()
        last = {it.node: i for i, it in enumerate(items) if isinstance(it, Sample)}
        kept = [it for i, it in enumerate(items)
                if not isinstance(it, Sample) or last[it.node] == i]
        self.skipped += len(items) - len(kept)
        return kept


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
    series: object = None          # a console.history.service.NodeSeries
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
