"""The power screen's log: every step and outcome of the power sequences, oldest first.

Entries (console.power.control.LogEntry) live in PowerControl, so they outlive the screen; the
widget writes the ones it has not written yet, so reopening the screen shows the history and a
running sequence streams.
"""
from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import RichLog

from console.power.control import LogEntry
from console.text import safe_line


class PowerLog(RichLog):
    DEFAULT_CSS = "PowerLog { height: 10; }"

    def __init__(self, **kw) -> None:
        super().__init__(wrap=False, markup=False, highlight=False, **kw)
        self.last_seq = 0

    def show(self, entries: Iterable[LogEntry], pal: dict[str, str]) -> None:
        for e in entries:
            if e.seq <= self.last_seq:
                continue
            self.last_seq = e.seq
            style = {"ok": pal.get("roost-up", ""), "fail": pal.get("roost-crit", "")}.get(
                e.level, "")
            stamp = time.strftime("%H:%M:%S", time.gmtime(e.ts))
            line = Text(f"{stamp} ", style="dim")
            line.append(safe_line(e.node) + ": " if e.node else "")
            line.append(safe_line(e.text), style=style)
            self.write(line)
