"""`enter`/`l` on a job: its details and the end of a task's output, followed live.

Details come from the Jobs screen's view (QueueView: what `roost job ID` prints; SlurmView:
`scontrol show job`) in an async worker; the output is read from the end of the file by
console.jobs.queue_view.Tail in a thread worker, so a 10 MB output (or one 10 MB line) costs one
bounded read per look; the text is shown escaped (OutputTail). On Slurm the output file is
followed when this host can read its path (a shared directory), else the screen says where on
the cluster it lives. On Ray the driver's log comes from the view (RayView.output: its last
lines over the head's REST API) and replaces what is shown at each look.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from console.jobs.queue_view import JobsView, Tail
from console.jobs.submission import Details as JobInfo, task_entries
from console.screens.base import View
from console.widgets.cells import safe_line
from console.widgets.key_footer import KeyFooter
from console.widgets.output_tail import OutputTail

TASKS_SHOWN = 12
# what a job is and how it stands, then its tasks, then how it was asked for: at 80x24 the facts
# get half the screen, and the tasks' nodes and exits matter more than the paths
HEADLINE = ("name", "user", "states", "reason")
REQUEST = ("cpus_per_task", "mem_mb", "time_limit", "array", "dependency", "nodelist", "work_dir",
           "output", "error")


@runtime_checkable
class LogView(Protocol):
    """A view that reads a job's output itself (RayView: the driver's log over REST)."""
    async def output(self, job_id: int, lines: int = ...) -> list[str]: ...


@runtime_checkable
class ClusterView(Protocol):
    """A view whose outputs live on a cluster (SlurmView, RayView): where it is."""
    controller: str


@dataclass
class Details(Message):
    info: JobInfo | None
    error: str = ""


@dataclass
class Lines(Message):
    path: str
    restart: bool
    lines: list[str]
    exists: bool


class JobDetailScreen(View):
    BINDINGS = [
        Binding("l", "follow", "Follow on/off", id="job_follow"),
        Binding("n", "next_task", "Next task", id="job_next_task"),
        Binding("escape", "back", "Back", id="back"),
    ]
    POLL_EVERY = 1.0
    FOLLOW_EVERY = 1.0     # DB and file reads about once a second (house style)

    def __init__(self, view: JobsView, job_id: int, follow: bool = False) -> None:
        """view: the Jobs screen's QueueView or SlurmView."""
        super().__init__()
        self.view, self.job_id, self.following = view, job_id, follow
        self.info: JobInfo | None = None
        self.task_pos: int | None = None     # which task's output; None: the first running
        self.tail: Tail | None = None
        self._busy = {"details": False, "tail": False}

    def compose(self) -> ComposeResult:
        yield Static(id="job-facts")
        yield Static(id="job-output-head")
        yield OutputTail(id="job-output")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.set_interval(max(self.POLL_EVERY, self.view.EVERY), self.poll)
        self.set_interval(self.FOLLOW_EVERY, self.poll_tail)
        self.poll()

    # ---- reads ------------------------------------------------------------------------------
    def poll(self) -> None:
        if not self._busy["details"]:
            self._busy["details"] = True
            self.read_details()

    @work(group="job-details", exit_on_error=False)
    async def read_details(self) -> None:
        try:
            self.post_message(Details(await self.view.details(self.job_id)))
        except Exception as exc:
            self.post_message(Details(None, f"{type(exc).__name__}: {exc}"))

    def on_details(self, msg: Details) -> None:
        self._busy["details"] = False
        if msg.info is None:
            self.query_one("#job-facts", Static).update(
                Text(f"job {self.job_id}: {safe_line(msg.error) or 'no such job'}"))
            return
        first = self.info is None
        self.info = msg.info
        self.query_one("#job-facts", Static).update(self.facts(msg.info))
        self.pick_output()
        if first:
            self.poll_tail(force=True)

    def shown_task(self) -> JobInfo | None:
        """The task whose output is shown (named so as not to hide MessagePump.task)."""
        tasks = task_entries(self.info) if self.info else []
        if not tasks:
            return None
        if self.task_pos is None:
            live = [i for i, t in enumerate(tasks) if t["state"] in ("RUNNING", "SUSPENDED")]
            started = [i for i, t in enumerate(tasks) if t["node"]]
            return tasks[(live or started or [0])[0]]
        return tasks[self.task_pos % len(tasks)]

    def pick_output(self) -> None:
        task = self.shown_task()
        path = task.get("output") if task else None
        if isinstance(path, str) and path and (self.tail is None or self.tail.path != path):
            self.tail = Tail(path)
            self.query_one(OutputTail).feed(True, [])
            self.poll_tail(force=True)

    def poll_tail(self, force: bool = False) -> None:
        if self.tail is None or self._busy["tail"] or not (self.following or force):
            return
        self._busy["tail"] = True
        if isinstance(self.view, LogView):     # RayView: the log over REST
            self.read_log(self.view, self.tail.path)
            return
        self.read_tail(self.tail)

    @work(group="job-tail", exit_on_error=False)
    async def read_log(self, view: LogView, path: str) -> None:
        try:
            lines = await view.output(self.job_id)
        except Exception as exc:
            lines = [f"cannot read the job's log: {type(exc).__name__}: {exc}"]
        self.post_message(Lines(path, True, lines, True))

    @work(thread=True, group="job-tail", exit_on_error=False)
    def read_tail(self, tail: Tail) -> None:
        try:
            restart, lines = tail.poll()
        except Exception as exc:   # unreadable file: say so in the output's head
            restart, lines = False, [f"cannot read {tail.path}: {type(exc).__name__}: {exc}"]
        self.post_message(Lines(tail.path, restart, lines, os.path.exists(tail.path)))

    def on_lines(self, msg: Lines) -> None:
        self._busy["tail"] = False
        if self.tail is None or msg.path != self.tail.path:
            return
        out = self.query_one(OutputTail)
        if msg.restart or msg.lines:
            out.feed(msg.restart, msg.lines)
        self.head(msg.exists)

    def head(self, exists: bool) -> None:
        task = self.shown_task() or {}
        t = Text(f"output of {task.get('task', self.job_id)} ", style="bold")
        t.append(safe_line(self.tail.path if self.tail else ""))
        t.append("  following (l: stop)" if self.following else "  not following (l: follow)")
        if not exists and self.view.remote_outputs:
            where = self.view.controller if isinstance(self.view, ClusterView) else "its controller"
            t.append(f"\n  not readable from this host: the output lives on the cluster "
                     f"({safe_line(where)} or the job's node); it shows here "
                     "once the job has started and when the path is shared with this host")
        elif not exists:
            t.append("\n  no output file yet: it appears when the task starts (on a node-local "
                     "directory it is copied here when the task ends)")
        self.query_one("#job-output-head", Static).update(t)

    # ---- view -------------------------------------------------------------------------------
    def facts(self, info: JobInfo) -> Text:
        where = f" ({info['cluster']})" if info.get("cluster") else ""
        t = Text(f"job {info['job_id']}{where}\n", style="bold")
        self._fact_lines(t, info, HEADLINE)
        tasks = task_entries(info)
        for task in tasks[:TASKS_SHOWN]:
            code = "-" if task["exit_code"] is None else task["exit_code"]
            line = (f"  {task['task']:<12} {task['state']:<10} {task['node'] or '-':<12} "
                    f"{task['elapsed']:>9}  exit {code}")
            why = f"  ({task['reason']})" if task.get("reason") else ""
            t.append(safe_line(line + why) + "\n")
        if len(tasks) > TASKS_SHOWN:
            t.append(f"  … {len(tasks) - TASKS_SHOWN} more tasks (roost job {info['job_id']})\n")
        self._fact_lines(t, info, REQUEST)
        return t

    @staticmethod
    def _fact_lines(t: Text, info: JobInfo, keys: tuple[str, ...]) -> None:
        states = info.get("states")
        pending = isinstance(states, dict) and "PENDING" in states
        for key in keys:
            value = info.get(key)
            if value in (None, False, "", {}) or (key == "reason" and not pending):
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in value.items())
            t.append(f"{key:>14}: {safe_line(str(value))[:200]}\n")

    def action_follow(self) -> None:
        self.following = not self.following
        self.head(self.tail is not None and os.path.exists(self.tail.path))
        self.poll_tail()

    def action_next_task(self) -> None:
        tasks = task_entries(self.info) if self.info else []
        if len(tasks) > 1:
            current = self.shown_task()
            self.task_pos = (tasks.index(current) + 1) % len(tasks) if current else 0
            self.pick_output()
            self.head(False)

    def action_back(self) -> None:
        self.app.pop_screen()
