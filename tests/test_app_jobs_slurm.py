"""Pilot tests of the Jobs screen with [jobs] backend = "slurm": the board, the form, cancel,
suspend and details act on a real Slurm 22.05 (tests/lab/slurm.py: munged, slurmctld, slurmd
n1..n3 on loopback) through a lab sshd node acting as the controller; the console does not start
its built-in scheduler.

Waits are on conditions (tests.helpers.pilot.until), never fixed sleeps.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from textual.widgets import Input

from console.app import RoostApp
from console.config import JobsConfig
from console.jobs.model import State
from console.jobs.service import jobs_db
from console.jobs.slurm import SlurmBackend
from console.jobs.slurm_parse import JobRow, parse_scontrol
from console.jobs.slurm_view import details_of, form_job, job_lines_of, seconds
from console.screens.confirm import ConfirmScreen
from console.screens.job_detail import JobDetailScreen
from console.screens.jobs import JobsScreen
from console.screens.submit import SubmitScreen
from console.state import FleetState
from console.widgets.job_table import JobTable
from console.widgets.output_tail import OutputTail
from tests.helpers.pilot import SIZE, until
from tests.lab.slurm import write_config


class Source:
    """Fleet-like (connection()): on a builtin config this makes the console schedule."""
    async def start(self): ...
    async def stop(self): ...
    def connection(self, _node): return None

    async def stream(self):
        return
        yield


@pytest.fixture
def config(controller, slurm, ssh_lab, tmp_path):
    node, _ = controller
    return write_config(tmp_path, ssh_lab, node,
                        f'backend = "slurm"\ncontroller = "ctl"\nslurm_conf = "{slurm.conf}"')


def make_app(config) -> RoostApp:
    targets = config.targets()
    return RoostApp(FleetState([t.name for t in targets]), Source(), targets=targets,
                    config=config, jobs_db=str(jobs_db(config)))


def backend(controller, slurm) -> SlurmBackend:
    node, _ = controller
    return SlurmBackend(node.target(), slurm_conf=str(slurm.conf))


async def open_jobs(pilot) -> JobsScreen:
    await pilot.press("j")
    await until(pilot, lambda: isinstance(pilot.app.screen, JobsScreen), what="jobs screen")
    return pilot.app.screen


def line(screen: JobsScreen, job: int):
    return next((ln for ln in screen.query_one(JobTable).lines if ln.job_id == job), None)


def state_of(screen: JobsScreen, job: int) -> str | None:
    found = line(screen, job)
    return found.state if found else None


def select(screen: JobsScreen, job: int) -> None:
    table = screen.query_one(JobTable)
    table.move_cursor(row=[ln.job_id for ln in table.lines].index(job), animate=False)


def squeue_state(slurm, job: int) -> str:
    return slurm.run("squeue", "-h", "-t", "all", "-j", str(job), "-o", "%T").strip()


def text_of(widget) -> str:
    return "\n".join(strip.text for strip in widget.lines)


@pytest.mark.peers
async def test_board_shows_an_sbatch_job_running_then_completed_without_builtin_scheduler(
        config, controller, slurm):
    _, out = controller
    gate = out / f"go-{uuid.uuid4().hex}"
    app = make_app(config)
    async with backend(controller, slurm) as b, app.run_test(size=SIZE) as pilot:
        job = await b.submit(None, ["--output=/dev/null", "-J", "lab [b]job"],
                             wrap=f"while [ ! -e {gate} ]; do sleep 0.1; done")
        screen = await open_jobs(pilot)
        await until(pilot, lambda: state_of(screen, job) == "RUNNING", timeout=30,
                    what="RUNNING row")
        row = line(screen, job)
        assert row.name == "lab [b]job" and row.nodes in ("n1", "n2", "n3")
        assert "Slurm on ctl" in str(screen.query_one("#jobs-status").render())
        gate.touch()
        await until(pilot, lambda: state_of(screen, job) == "COMPLETED", timeout=30,
                    what="COMPLETED row")
        assert line(screen, job).percent == 100.0
        # backend = "slurm": the console never started (or took the lock of) its own scheduler
        assert app.jobs.role is None
        assert not [w for w in app.workers if w.name == "scheduler"]
        assert not list(Path(config.state_dir).rglob("scheduler.lock"))   # lock never taken


@pytest.mark.peers
async def test_form_submits_to_slurm_and_details_follow_the_output(
        config, controller, slurm):
    _, out = controller
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen), what="form")
        form = app.screen
        assert form.query_one("#f-workdir", Input).value == ""   # a path on the cluster
        form.query_one("#f-command", Input).value = "echo form-out-$SLURM_JOB_NAME; sleep 1"
        form.query_one("#f-name", Input).value = "formjob"
        form.query_one("#f-output", Input).value = f"{out}/form-%j.out"
        form.query_one("#f-time", Input).value = "5"
        await until(pilot, lambda: not form.errors, what="valid form")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is screen, timeout=30, what="submitted")
        note = next(n.message for n in app._notifications if "Submitted batch job" in n.message)
        job = int(note.rsplit(" ", 1)[1])
        await until(pilot, lambda: line(screen, job) is not None, timeout=30, what="form row")
        assert line(screen, job).name == "formjob"
        info = slurm.run("scontrol", "show", "job", "-o", str(job))
        assert "JobName=formjob" in info and "TimeLimit=00:05:00" in info
        select(screen, job)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen), what="details")
        detail = app.screen
        await until(pilot, lambda: "formjob" in str(detail.query_one("#job-facts").render()),
                    timeout=30, what="scontrol facts")
        assert "Slurm on ctl" in str(detail.query_one("#job-facts").render())
        log = detail.query_one(OutputTail)
        await until(pilot, lambda: "form-out-formjob" in text_of(log), timeout=30,
                    what="followed output")
        await until(pilot, lambda: "COMPLETED" in str(detail.query_one("#job-facts").render()),
                    timeout=30, what="completed in details")


@pytest.mark.peers
async def test_cancel_confirms_then_slurm_cancels_and_suspend_refusal_is_a_notice(
        config, controller, slurm):
    app = make_app(config)
    async with backend(controller, slurm) as b, app.run_test(size=SIZE) as pilot:
        job = await b.submit(None, ["--output=/dev/null", "-J", "victim"], wrap="sleep 300")
        screen = await open_jobs(pilot)
        await until(pilot, lambda: state_of(screen, job) == "RUNNING", timeout=30,
                    what="RUNNING row")
        select(screen, job)
        await pilot.press("S")      # the lab login user is no Slurm operator: Slurm refuses
        await until(pilot, lambda: any("needs root or SlurmUser" in n.message
                                       for n in app._notifications), timeout=30,
                    what="refusal notice")
        refusal = next(n for n in app._notifications if "needs root" in n.message)
        assert "\n" not in refusal.message and "denied" in refusal.message
        assert squeue_state(slurm, job) == "RUNNING"
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen, what="declined")
        await pilot.pause()
        assert squeue_state(slurm, job) == "RUNNING"
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(pilot, lambda: state_of(screen, job) == "CANCELLED", timeout=30,
                    what="CANCELLED row")
        assert squeue_state(slurm, job) == "CANCELLED"
        assert any(f"cancelled job {job}" in n.message for n in app._notifications)


@pytest.mark.peers
async def test_held_job_and_array_progress_and_output_on_the_cluster(
        config, controller, slurm):
    _, out = controller
    app = make_app(config)
    async with backend(controller, slurm) as b, app.run_test(size=SIZE) as pilot:
        held = await b.submit(None, ["--hold", f"--output={out}/held-%j.out"], wrap="true")
        array = await b.submit(None, ["--output=/dev/null", "--array=1-3"], wrap="true")
        screen = await open_jobs(pilot)
        await until(pilot, lambda: state_of(screen, array) == "COMPLETED", timeout=30,
                    what="array done")
        done = line(screen, array)
        assert (done.done, done.total, done.percent) == (3, 3, 100.0)
        waiting = line(screen, held)
        assert (waiting.state, waiting.reason) == ("PENDING", "JobHeldUser")
        select(screen, held)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen), what="details")
        head = app.screen.query_one("#job-output-head")
        await until(pilot, lambda: "lives on the cluster" in str(head.render()), timeout=30,
                    what="output elsewhere")
        assert f"held-{held}.out" in str(head.render())
        assert "(ctl or the job's node)" in str(head.render())    # the view names its controller
        await b.cancel([str(held)])


# ---- the adapter alone (console.jobs.slurm_view): squeue rows -> queue lines ----------------

def row(label: str, state: State, time: str = "0:00", where: str = "", task=None, code=None):
    job = int(label.split("_")[0])
    return JobRow(label, job, task, "sweep", "pi", "main", state, state.value, time, 1, where,
                  code)


def test_rows_fold_into_one_line_per_job_with_array_progress():
    rows = [row("12_1", State.RUNNING, "1:05", "n1", "1"),
            row("12_2", State.RUNNING, "0:07", "n2", "2"),
            row("12_3", State.COMPLETED, "0:03", "n2", "3", 0),
            row("12_[4-9]", State.PENDING, where="(Resources)", task="4-9"),
            row("13", State.PENDING, where="(Dependency)"),
            row("11", State.FAILED, "0:01", "n3", code=3)]
    lines = job_lines_of(rows)
    assert [ln.job_id for ln in lines] == [13, 12, 11]
    pending, array, failed = lines
    assert (pending.state, pending.reason, pending.total) == ("PENDING", "Dependency", 1)
    assert (array.state, array.done, array.total, array.nodes) == ("RUNNING", 1, 9, "n[1-2]")
    assert array.elapsed == "1:05" and array.reason == ""
    assert (failed.state, failed.exit_code, failed.live) == ("FAILED", 3, False)
    assert seconds("1-02:03:04") == 93784 and seconds("junk") == 0
    finished = [row(str(i), State.COMPLETED) for i in range(1, 6)]
    assert [ln.job_id for ln in job_lines_of(finished + rows[:1], recent=2)] == [12, 5, 4]


def test_scontrol_records_become_the_details_screen_facts():
    out = ("JobId=21 ArrayJobId=20 ArrayTaskId=1 JobName=my job UserId=pi(1000) "
           "JobState=RUNNING Reason=None ExitCode=0:0 RunTime=00:00:05 TimeLimit=00:05:00 "
           "NodeList=n1 WorkDir=/home/pi StdOut=/home/pi/o-20_1.out StdErr=/home/pi/o-20_1.out "
           "Dependency=(null) CPUs/Task=1\n"
           "JobId=20 ArrayJobId=20 ArrayTaskId=2-3 JobName=my job UserId=pi(1000) "
           "JobState=PENDING Reason=Resources ExitCode=0:0 RunTime=00:00:00 "
           "TimeLimit=00:05:00 NodeList=(null) StdOut=/home/pi/o-20_4294967294.out\n")
    info = details_of(20, parse_scontrol(out), "ctl")
    assert (info["name"], info["user"], info["cluster"]) == ("my job", "pi", "Slurm on ctl")
    assert info["states"] == {"RUNNING": 1, "PENDING": 1} and info["dependency"] == ""
    first, rest = info["tasks"]
    assert (first["task"], first["node"], first["output"]) == ("20_1", "n1", "/home/pi/o-20_1.out")
    assert (rest["task"], rest["reason"], rest["node"]) == ("20_2-3", "Resources", "")


def test_form_job_keeps_the_workdir_as_a_cluster_path():
    spec = form_job({"command": "echo hi", "name": "x", "workdir": "data/run1",
                     "nodelist": "n[1-2]", "time": "5"}, cwd="/tmp")
    assert (spec.chdir, spec.nodelist, spec.time_limit) == ("data/run1", ("n1", "n2"), 300)
    assert spec.script == "#!/bin/sh\necho hi\n" and spec.name == "x"
    assert form_job({"command": "true", "workdir": ""}).chdir is None


def test_the_forms_spread_toggle_goes_to_sbatch_as_spread_job():
    from console.jobs.queue_view import ON
    from console.jobs.slurm import spec_flags
    on = form_job({"command": "true", "array": "1-4", "spread": ON}, cwd="/tmp")
    off = form_job({"command": "true", "array": "1-4", "spread": ""}, cwd="/tmp")
    assert "--spread-job" in spec_flags(on) and "--spread-job" not in spec_flags(off)


async def test_bad_slurm_table_is_one_status_line_and_no_builtin_scheduler(tmp_path):
    from console.config import Config, NodeSpec
    config = Config(jobs=JobsConfig(backend="slurm", controller="nope"),
                    nodes=(NodeSpec("n1", 0),), state_dir=tmp_path)
    app = RoostApp(FleetState(["n1"]), Source(), config=config, jobs_db=str(tmp_path / "j.db"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        status = screen.query_one("#jobs-status")
        await until(pilot, lambda: "no node named 'nope'" in str(status.render()), what="status")
        assert str(status.render()).startswith("Slurm backend: [jobs] controller")
        assert app.jobs.role is None and not list(tmp_path.rglob("scheduler.lock"))
        await pilot.press("s")                      # no form against a queue that is not used
        await pilot.pause()
        assert app.screen is screen
