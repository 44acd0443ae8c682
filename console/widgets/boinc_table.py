"""BOINC tasks of the fleet, like boinctui's task list: node, project, task, state, done %.

Names and states come from the nodes' BOINC clients: shown as plain, control-free Text.
"""
from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import DataTable

from console.jobs.boinc_rpc import BoincTask
from console.jobs.spec import format_time
from console.widgets.cells import safe_line


def task_key(t: BoincTask) -> str:
    return f"{t.node}\x00{t.project_url}\x00{t.name}"


class BoincTable(DataTable):
    DEFAULT_CSS = "BoincTable { height: auto; max-height: 12; }"

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", **kw)
        self.tasks: list[BoincTask] = []

    def on_mount(self) -> None:
        for label, width in (("Node", 12), ("Project", 18), ("Task", 30), ("State", 20),
                             ("Done", 7), ("Elapsed", 10), ("Left", 10), ("Deadline", 11)):
            self.add_column(label, width=width)

    @property
    def current(self) -> BoincTask | None:
        if not self.tasks or not 0 <= self.cursor_row < len(self.tasks):
            return None
        return self.tasks[self.cursor_row]

    def show(self, tasks: list[BoincTask], pal: dict[str, str]) -> None:
        tasks = sorted(tasks, key=lambda t: (t.node, t.project_name, t.name))
        if tasks == self.tasks:
            return
        keep = task_key(self.current) if self.current else None
        self.tasks = tasks
        self.clear()
        for t in tasks:
            style = pal["roost-warn"] if t.suspended or t.project_suspended else ""
            deadline = time.strftime("%m-%d %H:%M", time.gmtime(t.deadline)) if t.deadline else ""
            self.add_row(Text(safe_line(t.node)), Text(safe_line(t.project_name)[:18]),
                         Text(safe_line(t.name)[:60]), Text(safe_line(t.state), style=style),
                         f"{100 * t.fraction_done:5.1f}%", format_time(t.elapsed),
                         format_time(t.remaining), deadline)
        if keep is not None:
            row = next((i for i, t in enumerate(tasks) if task_key(t) == keep), 0)
            self.move_cursor(row=row, animate=False)
