"""Pilot tests of Ray in the console, against the lab's real Ray cluster (tests/lab/ray.py): the
fleet table's Ray column (ALIVE, CPUs in use), the node screen's Ray section (the node's tasks
and actors). Jobs are submitted with roost's CLI in a thread (it runs its own event loop).
Waits are on conditions (tests.test_app_common.until), never fixed sleeps.
"""
from __future__ import annotations

import asyncio

import pytest

from console.app import RoostApp
from console.config import load_config
from console.screens.node import NodeScreen
from console.state import FleetState
from console.widgets.node_table import NodeTable
from console.widgets.ray_panel import RayPanel
from tests.test_app_common import until

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
    return table.cell(node, "ray").plain if "ray" in table._keys else ""


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
