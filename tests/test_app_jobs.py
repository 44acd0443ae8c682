"""Pilot tests of the Jobs screen against a real job store (submitted through console.jobs), and
one end to end run: a job from the form runs on lab sshd nodes under the console's scheduler and
its output is followed live.

Waits are on conditions (tests.helpers.pilot.until), never fixed sleeps.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, Static

from console.jobs.model import State
from console.jobs.queue_view import Tail, job_lines, submit_form
from console.jobs.store import Store
from console.screens.confirm import ConfirmScreen
from console.screens.job_detail import JobDetailScreen
from console.screens.jobs import Done, JobsScreen
from console.screens.submit import SubmitScreen
from console.widgets.job_table import JobTable
from console.widgets.output_tail import OutputTail
from tests.helpers.cli import lab_config
from tests.helpers.pilot import SIZE, make_app, until
from tests.helpers.samples import T0

HOSTILE = "[bold red]x[/] \x1b[2J\x1b]0;pwned\x07\x1b[31mred\x07\x08"


def submit(db: Path, command: str, **fields) -> int:
    values = {"command": command, **{k: str(v) for k, v in fields.items()}}
    job_id, _warnings = submit_form(str(db), values, [f"n{i}" for i in range(1, 13)], cwd="/tmp")
    return job_id


def text_of(widget) -> str:
    return "\n".join(strip.text for strip in widget.lines)


def cells(app, job_id: int) -> list[str]:
    table = app.screen.query_one(JobTable)
    return [str(getattr(c, "plain", c)) for c in table.get_row(str(job_id))]


async def open_jobs(pilot) -> JobsScreen:
    await pilot.press("j")
    await until(pilot, lambda: isinstance(pilot.app.screen, JobsScreen), what="jobs screen")
    return pilot.app.screen


def store_of(db: Path) -> Store:
    return Store(db)


async def test_j_opens_the_queue_with_state_progress_node_and_reason(tmp_path):
    db = tmp_path / "jobs.db"
    pending = submit(db, "sleep 1", array="1-4", name="sweep")
    running = submit(db, "echo hi", name=HOSTILE)
    store = store_of(db)
    t = store.tasks(pending)
    store.start(t[0], "n2", T0)
    store.finish(t[0], State.COMPLETED, 0, T0 + 5)
    store.start(store.tasks(running)[0], "n3", T0)
    store.close()
    app = make_app(jobs_db=str(db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await until(pilot, lambda: len(screen.query_one(JobTable).lines) == 2, what="two rows")
        row = cells(app, pending)
        assert row[1] == "sweep" and row[2] == "PENDING"
        assert "25%" in row[3] and "1/4" in row[3]
        assert row[6] == "(Priority)"
        row = cells(app, running)
        assert row[2] == "RUNNING" and row[4] == "n3"
        assert "\x1b" not in row[1] and "[bold red]x[/]" in row[1]     # shown literally
        await pilot.press("f")
        await until(pilot, lambda: app.screen.name == "fleet")


async def test_a_notice_without_a_queue_reads_no_queue_and_keeps_the_screen():
    """No queue here (no state directory): a notice (a BOINC control's Done) must not re-read
    the missing queue; it did, and the failed read's handler crashed the console on None."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        screen.post_message(Done("BOINC abort: wu_1 on n1"))
        await until(pilot, lambda: any("BOINC abort" in n.message for n in app._notifications),
                    what="the notice")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is screen and app.is_running
        assert "no job queue" in str(screen.query_one("#jobs-status", Static).render())


async def test_command_line_and_palette_open_the_jobs_screen(tmp_path):
    app = make_app(jobs_db=str(tmp_path / "jobs.db"))
    async with app.run_test(size=SIZE) as pilot:
        app.commands.run("jobs")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen), what=":jobs")
        await pilot.press("f")
        await until(pilot, lambda: app.screen.name == "fleet")
        palette = {c.title: c for c in app.get_system_commands(app.screen)}
        palette["Jobs"].callback()
        await until(pilot, lambda: isinstance(app.screen, JobsScreen), what="palette Jobs")


async def test_submit_form_checks_fields_as_typed_and_queues_a_valid_job(tmp_path):
    db = tmp_path / "jobs.db"
    app = make_app(jobs_db=str(db))
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen), what="form")
        form = app.screen
        await pilot.press(*"echo hi")
        form.query_one("#f-time", Input).focus()
        await pilot.press(*"1:x")
        await until(pilot, lambda: "time" in form.errors, what="time error")
        err = form.query_one("#e-time", Static)
        assert err.display and err.has_class("bad")
        assert "Invalid time limit" in str(err.render())
        for name, bad in (("mem", "2Q"), ("array", "5-1"), ("cpus", "0"), ("nodelist", "n99")):
            form.query_one(f"#f-{name}", Input).value = bad
        await until(pilot, lambda: {"mem", "array", "cpus", "nodelist"} <= set(form.errors),
                    what="inline errors")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "fix" in str(form.query_one("#submit-status").render()))
        assert isinstance(app.screen, SubmitScreen) and store_of(db).job_ids() == []
        values = {"time": "1:30", "mem": "2G", "array": "0-7:2%2", "cpus": "2",
                  "nodelist": "n[1-3]", "name": "form-job"}
        for name, good in values.items():
            form.query_one(f"#f-{name}", Input).value = good
        await until(pilot, lambda: not form.errors, what="errors cleared")
        assert not form.query_one("#e-time", Static).has_class("bad")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen), what="form closed")
        await until(pilot, lambda: len(app.screen.query_one(JobTable).lines) == 1, what="row")
    store = store_of(db)
    job = store.job(store.job_ids()[0])
    # "1:30" is 1 min 30 s, rounded up to whole minutes as Slurm does
    assert (job.name, job.spec.time_limit, job.spec.mem_mb, job.spec.cpus) == ("form-job", 120,
                                                                                2048, 2)
    assert job.spec.array == (0, 2, 4, 6) and job.spec.array_limit == 2
    assert job.spec.nodelist == ("n1", "n2", "n3") and "echo hi" in job.spec.script


async def test_cancel_confirms_then_cancels(tmp_path):
    db = tmp_path / "jobs.db"
    job = submit(db, "sleep 100", name="victim")
    app = make_app(jobs_db=str(db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await until(pilot, lambda: screen.query_one(JobTable).lines, what="row")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        assert str(app.screen.query_one("#confirm-yes").label) == "Cancel 1 job (y)"
        await pilot.press("enter")             # Enter is the safe answer: nothing is cancelled
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        await pilot.pause()
        assert job_lines(store_of(db))[0].state == "PENDING"
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(pilot, lambda: cells(app, job)[2] == "CANCELLED", what="cancelled row")
        await pilot.press("A")                 # abort confirms too; nothing left to kill
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="abort confirm")
        await pilot.press("y")
        await until(pilot, lambda: any("nothing to cancel" in n.message
                                       for n in app._notifications), what="notice")


async def test_suspend_and_resume_are_requests_to_the_scheduler(tmp_path):
    db = tmp_path / "jobs.db"
    job = submit(db, "sleep 100")
    store = store_of(db)
    store.start(store.tasks(job)[0], "n1", T0)
    app = make_app(jobs_db=str(db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await until(pilot, lambda: screen.query_one(JobTable).lines, what="row")
        await pilot.press("S")
        await until(pilot, lambda: store.tasks(job)[0].want == "suspend", what="suspend want")
        await pilot.press("R")
        await until(pilot, lambda: store.tasks(job)[0].want == "resume", what="resume want")
        assert any("resume requested" in n.message for n in app._notifications)


async def test_details_and_follow_show_an_escaped_bounded_tail(tmp_path):
    db = tmp_path / "jobs.db"
    out = tmp_path / "out.txt"
    job = submit(db, "true", name="noisy", output=str(out))
    store = store_of(db)
    store.start(store.tasks(job)[0], "n1", T0)
    # 10 MB of one line, escape sequences and markup, then a readable last line
    out.write_bytes(b"early\n" + b"A" * 10_000_000 + b"\n" + HOSTILE.encode() + b"\nlast line\n")
    app = make_app(jobs_db=str(db))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await until(pilot, lambda: screen.query_one(JobTable).lines, what="row")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen), what="details")
        detail = app.screen
        log = detail.query_one(OutputTail)
        await until(pilot, lambda: "last line" in text_of(log), what="tail")
        shown = text_of(log)
        assert "early" not in shown and "earlier bytes not shown" in shown
        assert "[bold red]x[/]" in shown and "\x1b" not in shown and "\x07" not in shown
        assert max(len(ln) for ln in shown.splitlines()) < 2000
        assert "noisy" in str(detail.query_one("#job-facts").render())
        assert not detail.following
        await pilot.press("l")
        assert detail.following
        with out.open("ab") as f:
            f.write(b"appended \x1b[1mbold\x1b[0m\n" + b"B" * 5000 + b"\n")
        await until(pilot, lambda: "appended bold" in text_of(log), what="followed line")
        assert "more characters" in text_of(log)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("l")                 # l on the board opens the output, following
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen)
                    and app.screen.following, what="follow from the board")


async def test_an_arrays_tasks_show_in_the_details_at_80x24(tmp_path):
    """At 80x24 the facts get half the screen: every task of a 4-task array, with its node,
    is in the part shown, before how the job was asked for (work dir, output paths)."""
    db = tmp_path / "jobs.db"
    job = submit(db, "true", name="wide", array="1-4", output=str(tmp_path / "o-%a.txt"))
    store = store_of(db)
    for i, task in enumerate(store.tasks(job)):
        store.start(task, f"n{i + 1}", T0)
    store.close()
    app = make_app(jobs_db=str(db))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_jobs(pilot)
        await until(pilot, lambda: screen.query_one(JobTable).lines, what="row")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen), what="details")
        facts = app.screen.query_one("#job-facts", Static)
        await until(pilot, lambda: "RUNNING" in str(facts.render()), what="facts")
        shown = str(facts.render()).splitlines()[:facts.content_region.height]
        for i in range(1, 5):
            assert any(f"{job}_{i}" in line and f"n{i}" in line for line in shown), shown


def test_tail_reads_only_the_end_and_cuts_long_lines(tmp_path):
    path = tmp_path / "o"
    tail = Tail(str(path), tail_bytes=1000, max_line=50)
    assert tail.poll() == (False, [])
    path.write_bytes(b"x" * 5000 + b"\nshort\n" + b"y" * 120)
    restart, lines = tail.poll()
    assert restart and lines[0].startswith("… 4127 earlier bytes") and lines[1] == "short"
    assert lines[2].endswith("(line continues)")
    with path.open("ab") as f:
        f.write(b"y" * 30 + b"\nnext\n")
    restart, lines = tail.poll()
    assert not restart and lines[-1] == "next" and "not shown" in lines[0]


# ---- end to end: the form -> the console's scheduler -> lab sshd nodes -> followed output -----

async def linked_for(db: Path) -> set[str]:
    """The nodes the scheduler links to start the queue's job, on the fleet of
    tests/test_jobs_ondemand.py's spread test: a (4 free cores) would hold 4 tasks alone,
    b, c (2 free) and d (3 free) are next; six nodes with one free core after them."""
    import asyncio

    from collectors.model import NodeTarget
    from collectors.promsource import NodeReport
    from console.jobs.ondemand import NodeSource
    from console.jobs.scheduler import Options, Scheduler
    reports = {"a": NodeReport(True, T0, 4, 3800, 0.0), "b": NodeReport(True, T0, 2, 900, 0.0),
               "c": NodeReport(True, T0, 2, 900, 0.0), "d": NodeReport(True, T0, 4, 3800, 1.0)}
    reports |= {f"one{i}": NodeReport(True, T0, 2, 900, 1.0) for i in range(6)}
    never = asyncio.Event()

    async def connect(target):                    # links never come up: placement alone
        await never.wait()
    with Store(db) as store:
        nodes = NodeSource(lambda: reports, lambda name: NodeTarget(name, f"{name}.lab"))
        sched = Scheduler(store, [], Options(), connect, nodes=nodes)
        sched._sync_nodes()
        await sched._schedule(T0)
        linking = {name for kind, name in sched._inflight if kind == "up"}
        await sched.close()
    return linking


@pytest.mark.parametrize("spread", [True, False])
async def test_submit_form_spread_toggle_spreads_an_array_and_off_packs_it(tmp_path, spread):
    """At 80x24 the form's spread checkbox is reached by the arrows and flipped by space, or
    from any field by ctrl+t; the job it queues is --spread-job's: its 4 tasks go one per node
    (4 nodes linked), where the same form with spread off packs them onto one node."""
    db = tmp_path / "jobs.db"
    app = make_app(jobs_db=str(db))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_jobs(pilot)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen), what="form")
        form = app.screen
        toggle = form.query_one("#t-spread", Checkbox)
        form.query_one("#f-array", Input).value = "1-4"
        form.query_one("#f-array", Input).focus()
        await pilot.press("down")                 # the arrows reach it, scrolled into view
        await until(pilot, lambda: toggle.has_focus, what="checkbox focused")
        await until(pilot, lambda: form.screen.find_widget(toggle).region.bottom <= 24,
                    what="checkbox on screen")
        await pilot.press("space")
        await until(pilot, lambda: toggle.value, what="spread on by space")
        await pilot.press("space")
        await until(pilot, lambda: not toggle.value, what="spread off again")
        form.query_one("#f-command", Input).focus()
        await pilot.press(*"true")
        if spread:
            await pilot.press("ctrl+t")           # from a text field: the key's Binding
            await until(pilot, lambda: toggle.value, what="spread on by ctrl+t")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen), what="submitted")
    store = store_of(db)
    job = store.job(store.job_ids()[0])
    store.close()
    assert job.spec.spread is spread and job.spec.array == (1, 2, 3, 4)
    assert await linked_for(db) == ({"a", "b", "c", "d"} if spread else {"a"})


@pytest.mark.peers
async def test_form_job_runs_on_lab_nodes_and_output_is_followed(tmp_path, ssh_lab, shared_dir):
    from collectors.fleet import Fleet
    from console.app import RoostApp
    from console.config import load_config
    from console.jobs.service import jobs_db
    from console.state import FleetState
    nodes = ssh_lab.start(2)
    try:
        cfg = lab_config(tmp_path, ssh_lab, nodes, "\n[jobs]\nuse_load = false\npoll_every = 0.3\n")
        config = load_config(cfg, state_dir=tmp_path / "state", env={})
        targets = config.targets()
        fleet = Fleet(targets)
        state = FleetState([t.name for t in targets])
        app = RoostApp(state, fleet, targets=targets, config=config,
                       jobs_db=str(jobs_db(config)))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.jobs.role == "held", what="scheduler held")
            await open_jobs(pilot)
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, SubmitScreen), what="form")
            form = app.screen
            form.query_one("#f-command", Input).value = (
                "for i in 1 2 3; do echo step$i; sleep 0.3; done; "
                "printf '\\033[31m[red]x\\n'; echo done-$SLURMD_NODENAME")
            form.query_one("#f-workdir", Input).value = str(shared_dir)
            form.query_one("#f-name", Input).value = "e2e"
            await until(pilot, lambda: not form.errors, what="valid form")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, JobsScreen), what="submitted")
            board = app.screen.query_one(JobTable)
            await until(pilot, lambda: board.lines, what="row")
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, JobDetailScreen), what="follow")
            log = app.screen.query_one(OutputTail)
            await until(pilot, lambda: "step1" in text_of(log), timeout=60, what="live output")
            await until(pilot, lambda: "done-" in text_of(log), timeout=60, what="whole output")
            shown = text_of(log)
            assert "[red]x" in shown and "\x1b" not in shown
            assert any(f"done-{n.name}" in shown for n in nodes)
            await until(pilot, lambda: "COMPLETED" in str(app.screen.query_one("#job-facts")
                                                          .render()), timeout=30, what="done")
            # a running job cancelled from the board: the console's scheduler kills it
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, JobsScreen), what="board")
            sleeper = submit_form(str(app.jobs.db_path), {"command": "sleep 60", "name": "sleeper",
                                                "workdir": str(shared_dir)}, [n.name for n in nodes],
                                  cwd=str(shared_dir))[0]
            await until(pilot, lambda: board.lines and board.lines[0].job_id == sleeper
                        and board.lines[0].state == "RUNNING", timeout=30, what="sleeper runs")
            board.move_cursor(row=0)
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
            await pilot.press("y")
            await until(pilot, lambda: board.lines[0].state == "CANCELLED", timeout=30,
                        what="cancelled on the node")
        await fleet.stop()
    finally:
        ssh_lab.stop(nodes)


# ---- BOINC tasks of the fleet in the same screen (tests/lab/boinc.py: a real boinc-client) ----

BOINC_NAMES = ["wu_plain_0", "wu [bold]x[/] \x1b[31m <i> ünï"]


@pytest.mark.peers
async def test_boinc_section_lists_and_controls_fleet_tasks(tmp_path, ssh_lab, boinc):
    from collectors.fleet import Fleet
    from console.app import RoostApp
    from console.config import load_config
    from console.jobs.service import jobs_db
    from console.state import FleetState
    from console.widgets.boinc_table import BoincTable
    client = boinc.start([(BOINC_NAMES[0], 300), (BOINC_NAMES[1], 300)], project="Lab [red]P")
    nodes = ssh_lab.start(2)       # the second node has no BOINC client: no section for it, no noise
    try:
        extra = (f"\n[jobs.boinc.nodes.{nodes[0].name}]\nport = {client.bridge_port}\n"
                 f'auth_file = "{client.auth_file}"\n')
        config = load_config(lab_config(tmp_path, ssh_lab, nodes, extra), state_dir=tmp_path / "s",
                             env={})
        targets = config.targets()
        fleet = Fleet(targets)
        app = RoostApp(FleetState([t.name for t in targets]), fleet, targets=targets,
                       config=config, jobs_db=str(jobs_db(config)))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: all(fleet.connection(n.name) for n in nodes), what="up")
            screen = await open_jobs(pilot)
            screen.poll_boinc()
            table = screen.query_one(BoincTable)
            await until(pilot, lambda: len(table.tasks) == 2, timeout=30, what="BOINC tasks")
            assert table.display and "2 tasks on 1 node" in str(screen.query_one("#boinc-head")
                                                                   .render())
            rows = [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(2)]
            row = next(r for r in rows if r[2].startswith("wu "))
            assert "[bold]x[/]" in row[2] and "\x1b" not in row[2] and row[1] == "Lab [red]P"
            table.focus()
            await pilot.press("S")
            await until(pilot, lambda: any("Suspended" in t.state for t in table.tasks),
                        timeout=30, what="suspended")
            await pilot.press("R")
            await until(pilot, lambda: not any("Suspended" in t.state for t in table.tasks),
                        timeout=30, what="resumed")
            await pilot.press("A")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="abort confirm")
            await pilot.press("y")
            await until(pilot, lambda: any("abort" in n.message.lower() for n in app._notifications),
                        timeout=30, what="aborted")
            assert not [n for n in app._notifications if n.severity == "error"]
        await fleet.stop()
    finally:
        ssh_lab.stop(nodes)


async def test_console_is_a_client_when_another_roost_holds_the_scheduler(tmp_path):
    from console.app import RoostApp
    from console.config import Config
    from console.jobs.service import jobs_db, scheduler_lock
    from console.state import FleetState

    class Source:          # Fleet-like: connection() makes the console try to schedule
        async def start(self): ...
        async def stop(self): ...
        def connection(self, _node): return None

        async def stream(self):
            return
            yield

    config = Config(state_dir=tmp_path)
    other = scheduler_lock(config)
    assert other.acquire()
    try:
        app = RoostApp(FleetState(["n1"]), Source(), config=config,
                       jobs_db=str(jobs_db(config)))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.jobs.role == "client", what="client")
            await until(pilot, lambda: any("another roost holds the job scheduler" in n.message
                                           for n in app._notifications), what="notice")
            screen = await open_jobs(pilot)
            await until(pilot, lambda: "scheduler: pid" in str(
                screen.query_one("#jobs-status").render()), what="holder shown")
    finally:
        other.release()


# ---- issue 11: finished jobs' nodes and mixed states, held tasks' reason, the form -----------
def test_finished_jobs_show_their_nodes_mixed_states_and_held_tasks_their_jobs_reason(tmp_path):
    from console.jobs.submission import job_details
    db = tmp_path / "jobs.db"
    sweep = submit(db, "true", array="1-8", name="sweep")
    held = submit(db, "sleep 9", array="1-4%1", name="held")
    store = store_of(db)
    for i, t in enumerate(store.tasks(sweep)[:5]):
        store.start(t, f"n{1 + i % 3}", T0 + i)
        store.finish(t, State.COMPLETED, 0, T0 + 9)
    store.cancel_pending(sweep, "cancel", T0 + 10)
    store.start(store.tasks(held)[0], "n4", T0)
    store.set_job_reason(held, "JobArrayTaskLimit")
    wide = submit(db, "hostname", name="wide")             # -N 2: the script runs on the first
    task = store.tasks(wide)[0]
    store.start(task, "n5", T0, alloc=[("n5", 1), ("n6", 1)])
    store.finish(task, State.COMPLETED, 0, T0 + 2)
    lines = {ln.job_id: ln for ln in job_lines(store, T0 + 20)}
    assert lines[sweep].nodes == "n[1-3]"             # was empty once the job had finished
    assert lines[wide].nodes == "n[5-6]"              # was n5 alone once it had finished
    assert lines[sweep].summary == "5 CD 3 CA"         # was CANCELLED 8/8
    assert lines[held].summary == "RUNNING" and lines[held].nodes == "n4"
    tasks = job_details(store, held, T0 + 20)["tasks"]
    assert [t["reason"] for t in tasks[1:]] == ["JobArrayTaskLimit"] * 3   # not (Priority)
    assert tasks[0]["reason"] is None
    store.close()


async def test_form_moves_with_arrows_starts_in_the_configured_workdir_and_selects_the_job(
        tmp_path):

    from console.config import Config, JobsConfig
    db = tmp_path / "jobs.db"
    older = submit(db, "sleep 1", name="older")
    work = tmp_path / "work"
    work.mkdir()
    config = Config(jobs=JobsConfig(workdir=str(work)), state_dir=tmp_path)
    app = make_app(jobs_db=str(db), config=config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.current is not None and table.current.job_id == older)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SubmitScreen), what="form")
        form = app.screen
        assert form.query_one("#f-workdir", Input).value == str(work)   # not the console's cwd
        await until(pilot, lambda: app.focused is form.query_one("#f-command", Input))
        await pilot.press("down")
        assert app.focused is form.query_one("#f-name", Input)
        await pilot.press(*"fresh", "up")
        assert app.focused is form.query_one("#f-command", Input)
        await pilot.press(*"echo new", "enter")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen), what="form closed")
        await until(pilot, lambda: table.current is not None and table.current.name == "fresh",
                    what="the new job selected")
    job = store_of(db).job(table.current.job_id)
    assert job.spec.work_dir == str(work)
    no_config = make_app(jobs_db=str(db))
    assert no_config.jobs.form_workdir == "~"          # the node login user's home, on the node
