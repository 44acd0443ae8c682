"""`j`: the job queue (squeue + boinctui): jobs of the built-in queue, BOINC tasks of the fleet.

Reads run in thread workers about once a second (SQLite stays off the event loop) and post
messages; the handlers own what is shown. Requests (cancel, suspend, resume) are writes to the
queue that the scheduler acts on, exactly what `roost cancel` etc. do.

With [jobs] backend = "slurm" the same board shows Slurm's queue instead: an async worker asks
console.jobs.slurm_board.SlurmBoard (squeue over SSH to the controller) about every 2 s, and
submit/cancel/suspend/resume/details go to sbatch/scancel/scontrol; the built-in scheduler is
not started.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from console.jobs.board import JobLine, job_lines, request
from console.jobs.boinc_rpc import BoincTask
from console.screens.base import View
from console.widgets.boinc_table import BoincTable
from console.widgets.cells import safe_line
from console.widgets.job_table import JobTable


@dataclass
class Board(Message):
    """A fresh read of the queue (lines None: it could not be read)."""
    lines: list[JobLine] | None
    scheduler: str
    error: str = ""


@dataclass
class BoincSeen(Message):
    tasks: list[BoincTask]


@dataclass
class Done(Message):
    """A request or control finished: a one-line notice."""
    text: str
    severity: str = "information"


class JobConfirm(ModalScreen[bool]):
    """y/n before cancelling or aborting."""
    BINDINGS = [Binding("y,enter", "answer(True)", "Yes", id="confirm_yes"),
                Binding("n,escape", "answer(False)", "No", id="confirm_no")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(Text(self.question + "  [y/n]"), id="confirm-box")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class JobsScreen(View):
    BINDINGS = [
        Binding("s", "submit", "Submit", id="job_submit"),
        Binding("c", "cancel", "Cancel", id="job_cancel"),
        Binding("A", "abort", "Abort", id="job_abort"),
        Binding("S", "control('suspend')", "Suspend", id="job_suspend"),
        Binding("R", "control('resume')", "Resume", id="job_resume"),
        Binding("l", "follow", "Follow output", id="job_follow"),
        Binding("escape", "back", "Back", id="back", show=False),
    ]
    POLL_EVERY = 1.0
    BOINC_EVERY = 5.0

    def __init__(self, jobs_db: str | None, known: list[str], source: Any = None,
                 config: Any = None, slurm: Any = None) -> None:
        super().__init__(name="jobs")
        self.jobs_db, self.known, self.source, self.config = jobs_db, known, source, config
        self.slurm = slurm        # a SlurmBoard when [jobs] backend = "slurm"
        self.lines: list[JobLine] = []
        self._reading = False

    def compose(self) -> ComposeResult:
        yield Static(id="jobs-status")
        yield JobTable(id="job-table")
        yield Static(id="boinc-head")
        yield BoincTable(id="boinc-table")
        yield Footer()

    def on_mount(self) -> None:
        for wid in ("#boinc-head", "#boinc-table"):
            self.query_one(wid).display = False
        if self.slurm is not None:
            self.status(f"reading Slurm's queue on {self.slurm.controller} …")
            self.set_interval(self.slurm.EVERY, self.poll)
            self.poll()
        elif getattr(self.app, "jobs_slurm_problem", ""):
            self.status(self.app.jobs_slurm_problem)
        elif self.jobs_db is None:
            self.status("no job queue: roost has no state directory here")
        else:
            self.set_interval(self.POLL_EVERY, self.poll)
            self.poll()
        if callable(getattr(self.source, "connection", None)):
            self.set_interval(self.BOINC_EVERY, self.poll_boinc)
            self.poll_boinc()
        self.query_one(JobTable).focus()

    def restyle(self) -> None:
        self._pal = None
        self.query_one(JobTable).show(self.lines, self.pal, force=True)

    def status(self, text: str) -> None:
        self.query_one("#jobs-status", Static).update(Text(text))

    # ---- reads (thread workers) -> messages -> handlers -------------------------------------
    def poll(self) -> None:
        if not self._reading:      # ticks never overlap: a slow read skips the next tick
            self._reading = True
            self.read_slurm() if self.slurm is not None else self.read_board()

    @work(group="jobs-board", exit_on_error=False)
    async def read_slurm(self) -> None:
        try:
            lines = await self.slurm.lines()
        except Exception as exc:  # controller down, Slurm down: say so, keep polling
            self.post_message(Board(None, "", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(Board(lines, f"Slurm on {self.slurm.controller}"))

    @work(thread=True, group="jobs-board", exit_on_error=False)
    def read_board(self) -> None:
        from console.jobs.store import Store
        try:
            store = Store(self.jobs_db)
            try:
                lines = job_lines(store)
            finally:
                store.close()
            self.post_message(Board(lines, scheduler_note(self.app, self.jobs_db)))
        except Exception as exc:  # a locked or damaged database must not stop the console
            self.post_message(Board(None, "", f"{type(exc).__name__}: {exc}"))

    def on_board(self, msg: Board) -> None:
        self._reading = False
        if msg.lines is None:
            what = "Slurm's queue" if self.slurm is not None else "the job queue"
            self.status(f"cannot read {what}: {safe_line(msg.error)}")
            return
        self.lines = msg.lines
        live = sum(1 for ln in msg.lines if ln.live)
        self.status(f"{live} live jobs, {len(msg.lines) - live} finished shown · {msg.scheduler}")
        self.query_one(JobTable).show(msg.lines, self.pal)

    @work(group="jobs-boinc", exclusive=True, exit_on_error=False)
    async def poll_boinc(self) -> None:
        from console.jobs.boinc import fleet_tasks
        try:
            view = await fleet_tasks(self.source, getattr(self.config, "jobs", None) or {})
        except Exception:  # BOINC is optional: no client, no section, no error spam
            return
        self.post_message(BoincSeen(list(view.tasks)))

    def on_boinc_seen(self, msg: BoincSeen) -> None:
        have = bool(msg.tasks)
        head, table = self.query_one("#boinc-head", Static), self.query_one(BoincTable)
        head.display = table.display = have
        if have:
            nodes = len({t.node for t in msg.tasks})
            head.update(Text(f"BOINC: {len(msg.tasks)} tasks on {nodes} nodes", style="bold"))
            table.show(msg.tasks, self.pal)

    # ---- actions ------------------------------------------------------------------------------
    def boinc_focused(self) -> BoincTask | None:
        table = self.query_one(BoincTable)
        return table.current if table.display and table.has_focus else None

    def job(self) -> JobLine | None:
        line = self.query_one(JobTable).current
        if line is None:
            self.app.notify("no job selected", severity="warning")
        return line

    def action_submit(self) -> None:
        from console.screens.submit import SubmitScreen
        if self.slurm is not None:
            self.app.push_screen(SubmitScreen(self.jobs_db, [], board=self.slurm), self.submitted)
            return
        problem = getattr(self.app, "jobs_slurm_problem", "")
        if problem:        # backend = "slurm" but unusable: never the built-in queue instead
            self.app.notify(safe_line(problem), severity="warning", markup=False)
            return
        if self.jobs_db is None:
            self.app.notify("no job queue here", severity="warning")
            return
        self.app.push_screen(SubmitScreen(self.jobs_db, self.known), self.submitted)

    def submitted(self, job_id: int | None) -> None:
        if job_id is not None:
            self.app.notify(f"Submitted batch job {job_id}", title="jobs")
            self.poll()

    def action_cancel(self) -> None:
        if self.boinc_focused():
            return self.action_abort()
        line = self.job()
        if line is not None:
            self.confirm(f"Cancel job {line.job_id} ({safe_line(line.name)})?",
                         lambda: self.act(line.job_id, "cancel"))

    def action_abort(self) -> None:
        task = self.boinc_focused()
        if task is not None:
            self.confirm(f"Abort BOINC task {safe_line(task.name)} on {safe_line(task.node)}?",
                         lambda: self.boinc(task, "abort"))
            return
        line = self.job()
        if line is not None:
            self.confirm(f"Abort job {line.job_id} ({safe_line(line.name)}): kill all its tasks?",
                         lambda: self.act(line.job_id, "cancel"))

    def confirm(self, question: str, then) -> None:
        self.app.push_screen(JobConfirm(question), lambda yes: then() if yes else None)

    def action_control(self, want: str) -> None:
        task = self.boinc_focused()
        if task is not None:
            self.boinc(task, want)
            return
        line = self.job()
        if line is not None:
            self.act(line.job_id, want)

    def act(self, job_id: int, want: str) -> None:
        self.slurm_act(job_id, want) if self.slurm is not None else self.send(job_id, want)

    @work(group="jobs-request", exit_on_error=False)
    async def slurm_act(self, job_id: int, want: str) -> None:
        try:
            text, severity = await self.slurm.act(job_id, want)
        except Exception as exc:
            text, severity = f"{want} {job_id}: {type(exc).__name__}: {exc}", "error"
        self.post_message(Done(text, severity))

    @work(thread=True, group="jobs-request", exit_on_error=False)
    def send(self, job_id: int, want: str) -> None:
        try:
            n = request(self.jobs_db, job_id, want)
        except Exception as exc:
            self.post_message(Done(f"{want} {job_id}: {type(exc).__name__}: {exc}", "error"))
            return
        if n == 0:
            self.post_message(Done(f"{want} {job_id}: nothing to {want}", "warning"))
            return
        self.post_message(Done(f"{want} requested for job {job_id} ({n} tasks)"))
        if self.config is not None and getattr(self.app, "jobs_scheduler", None) != "held":
            self.settle()

    def settle(self) -> None:
        """Nobody schedules: act on the requests here, as `roost cancel` does (own loop, this
        worker thread; settle_requests gives way when a holder appears)."""
        from console.jobs.service import settle_requests
        from console.jobs.store import Store
        store = Store(self.jobs_db)
        try:
            if store.wants():
                asyncio.run(settle_requests(self.config, store, timeout=30.0))
        except Exception as exc:
            self.post_message(Done(f"acting on requests: {type(exc).__name__}: {exc}", "error"))
        finally:
            store.close()

    @work(group="jobs-boinc-control", exit_on_error=False)
    async def boinc(self, task: BoincTask, op: str) -> None:
        from console.jobs.boinc import fleet_control
        try:
            await fleet_control(self.source, task.node, op, task.project_url, task.name,
                                getattr(self.config, "jobs", None) or {})
        except Exception as exc:
            self.post_message(Done(f"BOINC {op}: {exc}", "error"))
            return
        self.post_message(Done(f"BOINC {op}: {task.name} on {task.node}"))
        self.poll_boinc()

    def on_done(self, msg: Done) -> None:
        self.app.notify(safe_line(msg.text), severity=msg.severity, markup=False)
        self.poll()

    def on_job_table_chosen(self, msg: JobTable.Chosen) -> None:
        self.open_detail(msg.job_id, follow=False)

    def action_follow(self) -> None:
        line = self.job()
        if line is not None:
            self.open_detail(line.job_id, follow=True)

    def open_detail(self, job_id: int, follow: bool) -> None:
        from console.screens.job_detail import JobDetailScreen
        self.app.push_screen(JobDetailScreen(self.jobs_db, job_id, follow=follow,
                                             board=self.slurm))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()


_HOLDER: dict[Path, tuple[float, int | None]] = {}
HOLDER_EVERY = 10.0


def lock_holder(state_dir: Path) -> int | None:
    """SchedulerLock.holder() at most every HOLDER_EVERY seconds: with nobody holding it, the
    probe takes the lock for an instant, and a `roost serve` starting then would miss it."""
    import time
    from console.jobs.lock import SchedulerLock
    seen = _HOLDER.get(state_dir)
    if seen is None or time.monotonic() - seen[0] > HOLDER_EVERY:
        seen = _HOLDER[state_dir] = (time.monotonic(), SchedulerLock(state_dir).holder())
    return seen[1]


def scheduler_note(app, jobs_db: str) -> str:
    """Who schedules this queue, for the status line (called from the read thread)."""
    mine = getattr(app, "jobs_scheduler", None)
    if mine == "held":
        return "scheduler: this console"
    if mine == "starting":
        return "scheduler: starting"
    holder = lock_holder(Path(jobs_db).parent)
    if holder is None:
        return "no scheduler running: pending jobs wait (roost serve, or the console on a fleet)"
    return f"scheduler: pid {holder}" + (" (this console)" if holder == os.getpid() else "")


async def open_jobs(app) -> None:
    """Show the jobs screen in place of the current view (a fresh one: its polls stop with it)."""
    if app.screen.name == "jobs":
        return
    while len(app.screen_stack) > 2:
        await app.pop_screen()
    config = getattr(app, "config", None)
    await app.switch_screen(JobsScreen(app.jobs_db, list(app.state.nodes), app.source,
                                       config, slurm_board(app, config)))


def slurm_board(app, config: Any):
    """The app's one SlurmBoard (one SSH connection to the controller) when [jobs] backend =
    "slurm", made on first use; close_jobs closes it. A bad [jobs] table is one notice."""
    from console.jobs.slurm_board import SlurmBoard, uses_slurm
    if not uses_slurm(config):
        return None
    board = getattr(app, "jobs_slurm", None)
    if board is None:
        try:
            board = app.jobs_slurm = SlurmBoard.from_config(config)
        except Exception as exc:
            app.jobs_slurm_problem = f"Slurm backend: {exc}"
            app.notify(safe_line(app.jobs_slurm_problem), title="jobs", severity="error",
                       markup=False)
    return board


async def close_jobs(app) -> None:
    board = getattr(app, "jobs_slurm", None)
    if board is not None:
        app.jobs_slurm = None
        await board.close()


def start_scheduler(app, config: Any) -> None:
    """Hold the job scheduler in the console when it watches a real fleet (Fleet.connection)."""
    from console.jobs.slurm_board import uses_slurm
    source = app.source
    if config is None or not callable(getattr(source, "connection", None)) or uses_slurm(config):
        return      # no fleet to place work on, or Slurm schedules ([jobs] backend = "slurm")
    app.jobs_scheduler = "starting"
    app.run_worker(_schedule(app, config, source), group="scheduler", name="scheduler",
                   exit_on_error=False)


async def _schedule(app, config: Any, source: Any) -> None:
    from console.jobs.service import run_scheduler
    stop = asyncio.Event()
    app.jobs_scheduler_stop = stop
    task = asyncio.ensure_future(run_scheduler(config, stop, fleet=source))
    await asyncio.sleep(0)     # run_scheduler takes the lock (or not) before its first await
    app.jobs_scheduler = "client" if task.done() and task.exception() is None \
        and task.result() is False else "held"
    try:
        if not await task:
            app.notify("another roost holds the job scheduler; this console is its client",
                       title="jobs", markup=False)
    except Exception as exc:  # the console stays up; the queue waits for another holder
        app.jobs_scheduler = "client"
        app.notify(safe_line(f"job scheduler stopped: {type(exc).__name__}: {exc}"),
                   title="jobs", severity="error", markup=False)
    else:
        if app.jobs_scheduler == "held":
            app.jobs_scheduler = None
