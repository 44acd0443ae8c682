"""Pilot tests of Ray in the console, against the lab's real Ray cluster (tests/lab/ray.py): the
fleet table's Ray column (ALIVE, CPUs in use), the node screen's Ray section (the node's tasks
and actors), and the Jobs screen on [jobs] backend = "ray" (the job, its state, the task
summary, the driver's log). Jobs are submitted with roost's CLI in a thread (it runs its own
event loop), as a user would from another terminal.
Waits are on conditions (tests.helpers.pilot.until), never fixed sleeps.
"""
from __future__ import annotations

import asyncio

import pytest

from console.app import RoostApp
from console.config import load_config
from console.screens.job_detail import JobDetailScreen
from console.screens.jobs import JobsScreen
from console.screens.node import NodeScreen
from console.state import FleetState
from console.widgets.job_table import JobTable
from console.widgets.node_table import NodeTable
from console.widgets.output_tail import OutputTail
from console.widgets.ray_panel import RayPanel
from console.widgets.ray_summary import RaySummary
from tests.helpers.pilot import until

pytestmark = pytest.mark.peers
SIZE = (160, 40)

# runs on ray-w1 (its node:IP resource): an actor and two tasks that hold on until cancelled
HOLD = """#!/bin/sh
python - <<'EOF'
import time, ray
ray.init()
pin = {"node:%s": 0.001}
@ray.remote(num_cpus=0, resources=pin)
class Keeper:
    def ping(self): return 1
@ray.remote(num_cpus=1, resources=pin)
def hold(): time.sleep(600)
keeper = Keeper.remote(); ray.get(keeper.ping.remote())
refs = [hold.remote() for _ in range(2)]
print("holding", flush=True)
time.sleep(600)
EOF
"""


class Source:
    """No fleet stream: these tests look at Ray only."""
    async def start(self): ...
    async def stop(self): ...

    async def stream(self):
        return
        yield


def make_app(lab) -> RoostApp:
    config = load_config(lab.config, ssh_config=lab.ssh_config, state_dir=lab.state_dir)
    targets = config.targets()
    return RoostApp(FleetState([t.name for t in targets]), Source(), targets=targets,
                    config=config)


def ray_text(table: NodeTable, node: str) -> str:
    return table.cell(node, "ray").plain if "ray" in table.columns else ""


async def submit(lab, *words: str) -> int:
    code, out, err = await asyncio.to_thread(lab.roost, "submit", "--parsable", *words)
    assert code == 0, err
    return int(out)


async def test_fleet_ray_column_and_node_screen_tasks_and_actors(ray_cluster, tmp_path):
    lab = ray_cluster
    script = lab.root / "hold.sh"
    script.write_text(HOLD % lab.nodes["ray-w1"].host)
    script.chmod(0o644)
    app = make_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(NodeTable)
        await until(pilot, lambda: ray_text(table, "ray-w1").endswith(f"/{2}"), 30,
                    what="the Ray column")
        assert ray_text(table, "ray-head").startswith(("0/", "?/"))
        job = await submit(lab, "-J", "hold", str(script))
        try:
            await until(pilot, lambda: ray_text(table, "ray-w1") == "2/2", 60,
                        what="ray-w1's CPUs in use")
            app.open_node("ray-w1")
            await until(pilot, lambda: isinstance(app.screen, NodeScreen)
                        and app.screen.query(RayPanel), what="node screen")
            panel = app.screen.query_one(RayPanel)
            shown = lambda: str(panel.render())  # noqa: E731
            await until(pilot, lambda: "hold RUNNING ×2" in shown() and "Keeper" in shown(),
                        60, what="ray-w1's tasks and actors")
            assert "ALIVE" in shown() and "2/2 CPUs in use" in shown()
            assert lab.nodes["ray-w1"].host in shown()
        finally:
            await asyncio.to_thread(lab.roost, "cancel", str(job))
        await until(pilot, lambda: "hold RUNNING" not in shown(), 60, what="tasks gone")


SQUARES = ("python -c 'import ray; ray.init(); "
           "print(\"sum\", sum(ray.get([ray.remote(lambda x: x * x).remote(i) for i in range(6)])))'")


def job_line(screen: JobsScreen, job: int):
    return next((ln for ln in screen.query_one(JobTable).lines if ln.job_id == job), None)


def text_of(widget) -> str:
    return "\n".join(strip.text for strip in widget.lines)


async def test_jobs_screen_shows_a_ray_job_its_task_summary_and_driver_log(ray_cluster):
    lab = ray_cluster
    app = make_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen), what="jobs screen")
        screen = app.screen
        assert app.jobs.uses_ray and not app.jobs.can_schedule(app.source)
        job = await submit(lab, "-J", "squares", "--wrap", SQUARES)
        await until(pilot, lambda: job_line(screen, job) is not None, 30, what="the job's line")
        await until(pilot, lambda: job_line(screen, job).state == "COMPLETED", 60,
                    what="the job completed")
        line = job_line(screen, job)
        assert (line.name, line.done, line.total, line.exit_code) == ("squares", 1, 1, 0)
        status = str(screen.query_one("#jobs-status").render())
        assert "Ray on ray-head" in status
        summary = screen.query_one(RaySummary)
        await until(pilot, lambda: summary.display and "<lambda>" in str(summary.render()), 30,
                    what="the task summary")
        row = next(r for r in str(summary.render()).splitlines() if r.startswith("<lambda>"))
        assert int(row.split()[3]) >= 6                    # finished (earlier jobs add theirs)
        table = screen.query_one(JobTable)
        table.move_cursor(row=[ln.job_id for ln in table.lines].index(job), animate=False)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen), what="details")
        out = app.screen.query_one(OutputTail)
        await until(pilot, lambda: "sum 55" in text_of(out), 30, what="the driver's log")
        facts = str(app.screen.query_one("#job-facts").render())
        assert "COMPLETED" in facts and "ray-head" in facts
        await pilot.press("escape")
        await pilot.press("S")                             # suspend: one notice, no crash
        await until(pilot, lambda: any("not supported by Ray" in n.message
                                       for n in app._notifications), 10, what="the notice")
