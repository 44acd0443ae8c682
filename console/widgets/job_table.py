"""The job queue table: one row per job (an array is one row with its progress), squeue's columns.

Job names come from users and scripts: every cell is a rich Text of control-free text, never
markup. Rows are rebuilt only when the queue changed (one batched update per poll).
"""
from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from console.jobs.queue_view import JobLine
from console.widgets.cells import safe_line

STATE_ROLE = {"RUNNING": "roost-ok", "SUSPENDED": "roost-warn", "PENDING": "dim",
              "COMPLETED": "roost-up", "CANCELLED": "roost-stale", "FAILED": "roost-crit",
              "TIMEOUT": "roost-crit", "NODE_FAIL": "roost-crit", "OUT_OF_MEMORY": "roost-crit"}
NAME_MAX = 40
BAR = 8
NARROW = 110     # below this many columns the table uses its compact widths
# (label, width at 110+ columns, compact width); None: as wide as the content
COLUMNS = (("JobID", 8, 6), ("Name", 24, 12), ("State", 12, 9), ("Done", 22, 13),
           ("Nodes", 16, 8), ("Elapsed", 10, 7), ("Reason / exit", None, None))


def progress(line: JobLine, bar: int = BAR) -> str:
    filled = round(bar * line.done / line.total) if line.total else 0
    meter = "█" * filled + "░" * (bar - filled)
    count = f" {line.done}/{line.total}" if line.total > 1 else ""
    return f"{meter} {line.percent:3.0f}%{count}"


class JobTable(DataTable):
    DEFAULT_CSS = "JobTable { height: 1fr; }"
    BINDINGS = [Binding("enter", "details", "Details", id="job_details")]

    class Chosen(Message):
        """enter on a row: open the job's details."""

        def __init__(self, job_id: int) -> None:
            super().__init__()
            self.job_id = job_id

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", **kw)
        self.lines: list[JobLine] = []
        self.compact: bool | None = None
        self.pal: dict[str, str] = {}

    def on_mount(self) -> None:
        self.set_widths()

    def on_resize(self) -> None:
        self.set_widths()

    def set_widths(self) -> None:
        """Full widths from NARROW columns up, compact ones below (80 columns fit)."""
        compact = (self.size.width or self.app.size.width) < NARROW
        if compact == self.compact:
            return
        self.compact = compact
        keep = self.current.job_id if self.current else None
        self.clear(columns=True)
        self.columns_keys = [self.add_column(label, width=small if compact else wide)
                             for label, wide, small in COLUMNS]
        lines, self.lines = self.lines, []
        self.show(lines, self.pal, force=True)
        self.select(keep)

    def select(self, job_id: int | None) -> bool:
        """Put the cursor on a job's row (a job just submitted); False when it is not shown."""
        row = next((i for i, ln in enumerate(self.lines) if ln.job_id == job_id), None)
        if row is None:
            return False
        self.move_cursor(row=row, animate=False)
        return True

    @property
    def current(self) -> JobLine | None:
        if not self.lines or not 0 <= self.cursor_row < len(self.lines):
            return None
        return self.lines[self.cursor_row]

    def show(self, lines: list[JobLine], pal: dict[str, str], force: bool = False) -> None:
        self.pal = pal
        if lines == self.lines and not force:
            return
        if not force and [ln.job_id for ln in lines] == [ln.job_id for ln in self.lines]:
            self.patch(lines, pal)     # same rows (the usual tick: elapsed moved): changed cells
            return
        keep = self.current.job_id if self.current else None
        self.lines = list(lines)
        self.clear()
        for line in self.lines:
            self.add_row(*self.cells(line, pal), key=str(line.job_id))
        if keep is not None:
            row = next((i for i, ln in enumerate(self.lines) if ln.job_id == keep), 0)
            self.move_cursor(row=row, animate=False)

    def patch(self, lines: list[JobLine], pal: dict[str, str]) -> None:
        old, self.lines = self.lines, list(lines)
        for before, line in zip(old, lines):
            if before == line:
                continue
            was = self.cells(before, pal)
            for col, (a, b) in zip(self.columns_keys, zip(was, self.cells(line, pal))):
                if a != b:
                    self.update_cell(str(line.job_id), col, b)

    def cells(self, line: JobLine, pal: dict[str, str]) -> tuple:
        role = STATE_ROLE.get(line.state, "dim")
        style = "dim" if role == "dim" else pal.get(role, "")   # theme "muted" may carry alpha
        name = safe_line(line.name)
        if len(name) > NAME_MAX:
            name = name[:NAME_MAX - 1] + "…"
        why = line.reason and f"({safe_line(line.reason)})"
        if not why and line.exit_code is not None and not line.live:
            why = f"exit {line.exit_code}"
        bar = 4 if self.compact else BAR
        return (str(line.job_id), Text(name), Text(line.summary, style=style),
                Text(progress(line, bar)), Text(safe_line(line.nodes)), line.elapsed, Text(why))

    def action_details(self) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(self.current.job_id))
