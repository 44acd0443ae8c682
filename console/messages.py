"""Small messages between the background workers and the handlers that own state.

The fleet pump does not post one message per sample: it appends to an Inbox and posts a single
FleetDrain while none is pending, so a busy screen takes every queued item in one handler call
instead of lagging behind hundreds of per-node messages.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from textual.message import Message

from collectors.model import NodeEvent, Sample


class Inbox:
    """Items from the fleet stream waiting for the app's handler (single event loop, no locks)."""

    def __init__(self) -> None:
        self._items: deque[Sample | NodeEvent] = deque()
        self.pending = False

    def put(self, item: Sample | NodeEvent) -> bool:
        """Queue an item; True when the caller must post a FleetDrain."""
        self._items.append(item)
        if self.pending:
            return False
        self.pending = True
        return True

    def drain(self) -> list[Sample | NodeEvent]:
        self.pending = False
        items = list(self._items)
        self._items.clear()
        return items


@dataclass
class FleetDrain(Message):
    """Items are waiting in the inbox."""


@dataclass
class SourceEnded(Message):
    """The fleet stream stopped; error is one line, empty on a clean stop."""
    error: str = ""


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
