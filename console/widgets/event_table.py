"""Events and alerts, newest first, with timestamps, severity symbols and colours."""
from __future__ import annotations

import time

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from console.messages import NodeChosen
from console.state import Event
from console.text import safe_line

SYMBOL = {"crit": "✖ crit", "warn": "▲ warn", "info": "• info"}


class EventTable(DataTable):
    DEFAULT_CSS = "EventTable { height: 1fr; }"
    BINDINGS = [Binding("enter", "open_node", "Node", id="node")]

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", **kw)
        self._count = -1
        self._row_nodes: list[str] = []     # node of each row, top to bottom

    def on_mount(self) -> None:
        for label, width in (("Time (UTC)", 19), ("Severity", 8), ("Node", 14), ("Kind", 12),
                             ("What", None)):
            self.add_column(label, width=width)

    def show(self, events: list[Event], pal: dict[str, str], force: bool = False) -> None:
        if len(events) == self._count and not force:
            return   # events only ever append; same count means nothing new (bounded deque aside)
        self._count = len(events)
        self.clear()
        shown = list(reversed(events[-500:]))
        self._row_nodes = [e.node for e in shown]
        for e in shown:
            style = {"crit": pal["roost-crit"], "warn": pal["roost-warn"]}.get(e.severity, "")
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.ts))
            self.add_row(stamp, Text(SYMBOL.get(e.severity, e.severity), style=style),
                         Text(safe_line(e.node)), e.kind + (" ✓" if e.cleared else ""),
                         Text(safe_line(e.message)))

    def action_open_node(self) -> None:
        if 0 <= self.cursor_row < len(self._row_nodes):
            self.post_message(NodeChosen(self._row_nodes[self.cursor_row]))
