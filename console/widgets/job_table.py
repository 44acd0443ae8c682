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
              "TIMEOUT": "roost-crit", "NODE_FAIL": "roost-crit"}
NAME_MAX = 40
BAR = 8


def progress(line: JobLine) -> str:
    filled = round(BAR * line.done / line.total) if line.total else 0
    bar = "█" * filled + "░" * (BAR - filled)
    count = f" {line.done}/{line.total}" if line.total > 1 else ""
    return f"{bar} {line.percent:3.0f}%{count}"


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

    def on_mount(self) -> None:
        self.columns_keys = [self.add_column(label, width=width) for label, width in (
            ("JobID", 8), ("Name", 24), ("State", 10), ("Done", 22), ("Nodes", 16),
            ("Elapsed", 10), ("Reason / exit", None))]

    @property
    def current(self) -> JobLine | None:
        if not self.lines or not 0 <= self.cursor_row < len(self.lines):
            return None
        return self.lines[self.cursor_row]

    def show(self, lines: list[JobLine], pal: dict[str, str], force: bool = False) -> None:
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

    @staticmethod
    def cells(line: JobLine, pal: dict[str, str]) -> tuple:
        role = STATE_ROLE.get(line.state, "dim")
        style = "dim" if role == "dim" else pal.get(role, "")   # theme "muted" may carry alpha
        name = safe_line(line.name)
        if len(name) > NAME_MAX:
            name = name[:NAME_MAX - 1] + "…"
        why = line.reason and f"({safe_line(line.reason)})"
        if not why and line.exit_code is not None and not line.live:
            why = f"exit {line.exit_code}"
        return (str(line.job_id), Text(name), Text(line.state, style=style),
                Text(progress(line)), Text(safe_line(line.nodes)), line.elapsed, Text(why))

    def action_details(self) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(self.current.job_id))
