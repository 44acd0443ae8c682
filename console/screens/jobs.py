"""`j`: the job queue (squeue + boinctui): jobs of the built-in queue, BOINC tasks of the fleet.

Everything the screen shows or does goes through the app's JobsService (console.jobs.service):
its view (QueueView, or SlurmView with [jobs] backend = "slurm", RayView with "ray") is read
by an async worker about once a second (the view keeps SQLite and SSH off the event loop) and
posts a message; the handlers own what is shown. Requests (cancel, suspend, resume) go to the
view, exactly what `roost cancel` etc. do. On Ray a task summary (per function: running,
pending, finished, failed) sits under the jobs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import Static

from console.errors import RoostError
from console.jobs.boinc import BoincFleet
from console.jobs.boinc_rpc import BoincTask
from console.jobs.queue_view import JobLine, JobsView
from console.jobs.service import JobsService
from console.ray.parse import FuncSummary
from console.screens.base import View
from console.screens.confirm import ConfirmScreen
from console.text import plural, safe_line
from console.widgets.boinc_table import BoincTable
from console.widgets.job_table import JobTable
from console.widgets.key_footer import KeyFooter
from console.widgets.ray_summary import RaySummary

SEVERITIES: dict[str, SeverityLevel] = {"information": "information", "warning": "warning",
                                        "error": "error"}


def severity(word: str) -> SeverityLevel:
    """A notice's severity as the jobs layer words it, as Textual takes it."""
    return SEVERITIES.get(word, "information")


@runtime_checkable
class SummaryView(Protocol):
    """A view with a task summary per function (console.ray.view.RayView)."""
    EVERY: float

    async def summary(self) -> list[FuncSummary]: ...


@dataclass
class QueueRead(Message):
    """A fresh read of the queue (lines None: it could not be read, from where)."""
    lines: list[JobLine] | None
    scheduler: str
    error: str = ""
    where: str = ""


@dataclass
class RayTasksSeen(Message):
    """Ray's task summary (None: it could not be read)."""
    rows: list[FuncSummary] | None


@dataclass
class BoincSeen(Message):
    tasks: list[BoincTask]


@dataclass
class Done(Message):
    """A request or control finished: a one-line notice."""
    text: str
    severity: SeverityLevel = "information"


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
    BOINC_EVERY = 5.0

    def __init__(self, service: JobsService, known: list[str], source: object = None) -> None:
        super().__init__(name="jobs")
        self.service, self.known = service, known
        # BOINC tasks are read over the fleet's live connections (collectors.fleet.Fleet)
        self.fleet = source if isinstance(source, BoincFleet) else None
        self.view = service.view()   # QueueView | SlurmView | None (service.problem says why)
        self.lines: list[JobLine] = []
        self._reading = False
        self.select_job: int | None = None     # a job just submitted: the cursor goes there

    def compose(self) -> ComposeResult:
        yield Static(id="jobs-status")
        yield JobTable(id="job-table")
        yield RaySummary(id="ray-summary")
        yield Static(id="boinc-head")
        yield BoincTable(id="boinc-table")
        yield KeyFooter()

    def on_mount(self) -> None:
        for wid in ("#boinc-head", "#boinc-table", "#ray-summary"):
            self.query_one(wid).display = False
        if isinstance(self.view, SummaryView):     # RayView
            ray = self.view
            self.set_interval(ray.EVERY, lambda: self.poll_ray_tasks(ray))
            self.poll_ray_tasks(ray)
        if self.view is None:
            self.status(self.service.problem)
        else:
            if self.view.where:
                self.status(f"reading {self.view.where} …")
            self.set_interval(self.view.EVERY, self.poll)
            self.poll()
        if self.fleet is not None:
            self.set_interval(self.BOINC_EVERY, self.poll_boinc)
            self.poll_boinc()
        self.query_one(JobTable).focus()

    def restyle(self) -> None:
        self._pal = None
        self.query_one(JobTable).show(self.lines, self.pal, force=True)

    def status(self, text: str) -> None:
        self.query_one("#jobs-status", Static).update(Text(text))

    # ---- reads (async workers; the view keeps I/O off the loop) -> messages -> handlers -----
    def poll(self) -> None:
        # no queue here (view None: the status says why): nothing to read, whoever asks
        if self.view is not None and not self._reading:   # a slow read skips the next tick
            self._reading = True
            self.read_queue(self.view)

    @work(group="jobs-queue", exit_on_error=False)
    async def read_queue(self, view: JobsView) -> None:
        try:
            lines, note = await view.read()
        except RoostError as exc:  # said in one line already (a full state file system)
            self.post_message(QueueRead(None, "", str(exc), view.where))
            return
        except Exception as exc:  # a locked database, Slurm down: say so, keep polling
            self.post_message(QueueRead(None, "", f"{type(exc).__name__}: {exc}", view.where))
            return
        self.post_message(QueueRead(lines, note))

    def on_queue_read(self, msg: QueueRead) -> None:
        self._reading = False
        if msg.lines is None:
            what = msg.where or "the job queue"
            self.status(f"cannot read {what}: {safe_line(msg.error)}")
            return
        self.lines = msg.lines
        live = sum(1 for ln in msg.lines if ln.live)
        self.status(f"{plural(live, 'live job')}, {len(msg.lines) - live} finished shown · "
                    f"{msg.scheduler}")
        table = self.query_one(JobTable)
        table.show(msg.lines, self.pal)
        if self.select_job is not None and table.select(self.select_job):
            self.select_job = None
    @work(group="jobs-ray-tasks", exclusive=True, exit_on_error=False)
    async def poll_ray_tasks(self, ray: SummaryView) -> None:
        rows: list[FuncSummary] | None
        try:
            rows = await ray.summary()
        except Exception:  # the queue's status line already says why Ray cannot be read
            rows = None
        self.post_message(RayTasksSeen(rows))

    def on_ray_tasks_seen(self, msg: RayTasksSeen) -> None:
        summary = self.query_one(RaySummary)
        summary.display = msg.rows is not None
        if msg.rows is not None:
            summary.show(msg.rows, self.pal)

    def poll_boinc(self) -> None:
        if self.fleet is not None:
            self.read_boinc(self.fleet)

    @work(group="jobs-boinc", exclusive=True, exit_on_error=False)
    async def read_boinc(self, fleet: BoincFleet) -> None:
        try:
            tasks = await self.service.boinc_tasks(fleet)
        except Exception:  # BOINC is optional: no client, no section, no error spam
            return
        self.post_message(BoincSeen(tasks))

    def on_boinc_seen(self, msg: BoincSeen) -> None:
        have = bool(msg.tasks)
        head, table = self.query_one("#boinc-head", Static), self.query_one(BoincTable)
        head.display = table.display = have
        if have:
            nodes = len({t.node for t in msg.tasks})
            head.update(Text(f"BOINC: {plural(len(msg.tasks), 'task')} on {plural(nodes, 'node')}",
                             style="bold"))
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
        if self.view is None:   # backend = "slurm" but unusable: never the built-in queue instead
            self.app.notify(safe_line(self.service.problem), severity="warning", markup=False)
            return
        self.app.push_screen(SubmitScreen(self.view, self.known,
                                          workdir=self.service.form_workdir), self.submitted)

    def submitted(self, job_id: int | None) -> None:
        if job_id is not None:
            self.app.notify(f"Submitted batch job {job_id}", title="jobs")
            self.select_job = job_id
            self.poll()

    def action_cancel(self) -> None:
        if self.boinc_focused():
            return self.action_abort()
        line = self.job()
        if line is not None:
            self.confirm(f"Cancel job {line.job_id} ({safe_line(line.name)})?", "Cancel 1 job",
                         lambda: self.act(line.job_id, "cancel"))

    def action_abort(self) -> None:
        task = self.boinc_focused()
        if task is not None:
            self.confirm(f"Abort BOINC task {safe_line(task.name)} on {safe_line(task.node)}?",
                         "Abort 1 task", lambda: self.boinc(task, "abort"))
            return
        line = self.job()
        if line is not None:
            self.confirm(f"Abort job {line.job_id} ({safe_line(line.name)}): kill all its tasks?",
                         "Abort 1 job", lambda: self.act(line.job_id, "cancel"))

    def confirm(self, question: str, yes: str, then: Callable[[], object]) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()
        self.app.push_screen(ConfirmScreen(question, yes=yes), answered)

    def action_control(self, want: str) -> None:
        task = self.boinc_focused()
        if task is not None:
            self.boinc(task, want)
            return
        line = self.job()
        if line is not None:
            self.act(line.job_id, want)

    def act(self, job_id: int, want: str) -> None:
        """A request on a job of the queue (a job is only shown when there is one)."""
        if self.view is not None:
            self.request(self.view, job_id, want)

    @work(group="jobs-request", exit_on_error=False)
    async def request(self, view: JobsView, job_id: int, want: str) -> None:
        try:
            text, word = await view.act(job_id, want)
        except Exception as exc:
            text, word = f"{want} {job_id}: {type(exc).__name__}: {exc}", "error"
        self.post_message(Done(text, severity(word)))

    def boinc(self, task: BoincTask, op: str) -> None:
        """A control on a BOINC task (tasks are only shown when there is a fleet)."""
        if self.fleet is not None:
            self.control_boinc(self.fleet, task, op)

    @work(group="jobs-boinc-control", exit_on_error=False)
    async def control_boinc(self, fleet: BoincFleet, task: BoincTask, op: str) -> None:
        try:
            await self.service.boinc_control(fleet, task.node, op, task.project_url, task.name)
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
        if self.view is not None:
            self.app.push_screen(JobDetailScreen(self.view, job_id, follow=follow))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()


async def open_jobs(app: App[object], jobs: JobsService, nodes: list[str], source: object
                    ) -> None:
    """Show the jobs screen in place of the current view (a fresh one: its polls stop with it)."""
    if app.screen.name == "jobs":
        return
    while len(app.screen_stack) > 2:
        await app.pop_screen()
    screen = JobsScreen(jobs, nodes, source)
    if screen.view is None and jobs.external:
        app.notify(safe_line(jobs.problem), title="jobs", severity="error", markup=False)
    await app.switch_screen(screen)


def start_scheduler(app: App[object], jobs: JobsService, source: object) -> None:
    """Hold the job scheduler in the console when it watches a real fleet (Fleet.connection,
    or the Prometheus source's SSH pool: links on demand)."""
    if not jobs.can_schedule(source):
        return      # no fleet to place work on, or Slurm schedules ([jobs] backend = "slurm")

    def notice(text: str, word: str) -> None:
        app.notify(safe_line(text), title="jobs", severity=severity(word), markup=False)
    app.run_worker(jobs.hold_scheduler(source, notice), group="scheduler",
                   name="scheduler", exit_on_error=False)
