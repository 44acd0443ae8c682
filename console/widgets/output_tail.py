"""The end of a job's output file, followed live. The text is the job's: every line goes through
cells.safe (no escape sequences reach the terminal) into plain Text (no markup); lines arrive
already cut to a bounded length (console.jobs.board.Tail) and only the last MAX_LINES are kept.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from console.text import safe


class OutputTail(RichLog):
    DEFAULT_CSS = "OutputTail { height: 1fr; }"
    MAX_LINES = 2000

    def __init__(self, **kw) -> None:
        super().__init__(wrap=False, markup=False, highlight=False, max_lines=self.MAX_LINES,
                         auto_scroll=True, **kw)
        self.shown = 0

    def feed(self, restart: bool, lines: list[str]) -> None:
        if restart:
            self.clear()
            self.shown = 0
        for line in lines[-self.MAX_LINES:]:
            self.write(Text(safe(line).replace("\t", "    ")))
        self.shown += len(lines)
