"""Storage and power in the console (Pilot): the Disk column, the node screen's storage section and
the fleet's watts in the summary bar, from the board trees of tests/fixtures/boards."""
from __future__ import annotations

from dataclasses import replace

from console.app import RoostApp
from console.state import FleetState
from tests.helpers.pilot import until
from tests.helpers.trees import sample

SIZE = (200, 40)


def app_with_boards() -> RoostApp:
    state = FleetState(["cm4", "ctl"])
    for ts in (10.0, 11.0):
        state.apply(replace(sample("cm4-emmc-worn", ts=ts), node="cm4"))
        state.apply(replace(sample("rack-ina226", ts=ts), node="ctl"))
    return RoostApp(state, clock=lambda: 11.5, refresh=3600)


async def test_disk_column_and_fleet_watts():
    app = app_with_boards()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.screen.table._order) == 2, what="two rows")
        summary = str(app.screen.query_one("#summary").render())
        assert "⚡ 6.0 W (1 metered)" in summary
        cm4 = str(app.screen.table.cell("cm4", "disk"))
        ctl = str(app.screen.table.cell("ctl", "disk"))
        assert cm4.startswith(" 90%") and cm4.endswith("!!")      # worn eMMC: critical
        assert ctl.startswith(" 87% 0B/s") and ctl.endswith("!!")  # /srv/backup is full


async def test_node_screen_storage_section():
    app = app_with_boards()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.screen.table._order) == 2, what="two rows")
        await pilot.press("enter")                                 # the first row: cm4
        await until(pilot, lambda: type(app.screen).__name__ == "NodeScreen", what="node screen")
        text = str(app.screen.query_one("#storage").render())
        assert "/             90% of 28.9GB ext4 ro" in text
        assert "eMMC mmcblk0 life 100%/over pre-EOL 2" in text
        await pilot.press("escape")
        await pilot.press("down", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "NodeScreen", what="node screen")
        text = str(app.screen.query_one("#storage").render())
        assert "sda          3 I/O errors" in text and "power        6.03 W" in text
        assert "/srv/backup  100% of 932GB ext4" in text and "nvme0n1      ↓0B/s ↑0B/s" in text
