"""Storage and power health on board trees: the exposition, the alerts, the console's numbers.

tests/fixtures/boards holds two trees shaped like real SBCs (see its README): a CM4 with a worn
eMMC and a read-only root, and a Pi 5 rack controller with INA226/INA3221 power monitors, a PoE
HAT, NVMe and a USB SSD with I/O errors. expected.prom is node_exporter 1.5.0's own output for the
tree plus roost's series; roost must print every one of them, with the same value, HELP and TYPE.
The same trees are then read by the real samplers (bash and sh) in sshd lab sessions.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collectors.frame import FrameDecoder
from collectors.health import power_draw, wear_level
from collectors.model import Snapshot
from collectors.probe import sampler_command
from collectors.sinks.prometheus import node_text, render_text
from collectors.snapshot import build_sample
from collectors.transport import connect
from collectors.tree import read_tree
from console.state import CRIT, WARN, FleetState
from tests.helpers.trees import BOARDS, sample

NAMES = ("cm4-emmc-worn", "rack-ina226")


def parse(text: str) -> tuple[dict, dict]:
    values, meta = {}, {}
    for fam in text_string_to_metric_families(text):
        meta[fam.name] = (fam.type, fam.documentation)
        for s in fam.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return values, meta


@pytest.mark.parametrize("board", NAMES)
def test_every_expected_series_value_help_and_type(board):
    expected, expected_meta = parse((BOARDS / board / "expected.prom").read_text())
    ours, our_meta = parse(render_text([sample(board)], now=0.0))
    assert len(expected) > 200
    missing = sorted(str(k) for k in expected if k not in ours)
    assert not missing, missing[:10]
    wrong = [f"{k}: {ours[k]} != {v}" for k, v in expected.items() if ours[k] != v]
    assert not wrong, wrong[:10]
    meta = [f"{n}: {our_meta.get(n)} != {m}" for n, m in expected_meta.items() if our_meta.get(n) != m]
    assert not meta, meta[:10]


def test_the_per_node_target_is_the_same_without_a_node_label():
    s = sample("rack-ina226")
    one, _ = parse(node_text(s))
    fleet, _ = parse(render_text([s], fleet=True, now=0.0))
    assert not any("node" in dict(labels) for _, labels in one)
    stripped = {(n, frozenset((k, v) for k, v in labels if k != "node")): v
                for (n, labels), v in fleet.items() if not n.startswith(("roost_sample_age", "node_scrape"))}
    assert {k: v for k, v in one.items() if not k[0].startswith("node_scrape")} == stripped


def test_power_draw_from_the_monitors():
    rack = sample("rack-ina226")
    assert power_draw(rack) == pytest.approx(6.025)          # the INA226's power1_input
    # without power*_input: bus voltage x current per channel (the INA3221 way)
    no_power = sample("rack-ina226", **{"sys/class/hwmon/hwmon2/power1_input": "x"})
    assert power_draw(no_power) == pytest.approx(5.096 * 1.183 + 5.080 * 0.712 + 5.072 * 1.304
                                                 + 5.090 * 0.655)
    assert power_draw(sample("cm4-emmc-worn")) is None


def alerts_of(state: FleetState, node: str) -> dict[str, str]:
    return {kind: ev.severity for (n, kind), ev in state.alerts.items() if n == node}


def test_worn_emmc_and_read_only_root_raise_alerts():
    state = FleetState(["cm4-emmc-worn"])
    s = sample("cm4-emmc-worn", ts=100.0)
    (card,) = s.mmc
    assert (card.block, card.life_time, card.pre_eol, wear_level(card)) == ("mmcblk0", (10, 11), 2, "crit")
    state.apply(s)
    alerts = alerts_of(state, "cm4-emmc-worn")
    assert alerts["emmc_wear"] == CRIT and alerts["root_readonly"] == WARN
    assert "fs_readonly" not in alerts          # never seen read-write: a warning, not a remount
    assert "fs_full" not in alerts              # 90% used, but read-only: it cannot fill up
    row = state.rows(now=100.0)[0]
    assert row.disk_pct == pytest.approx(100 * 6482432 / (6482432 + 710912)) and row.disk_level == "crit"


def test_a_read_write_root_going_read_only_is_critical():
    state = FleetState(["n"])
    rw = sample("cm4-emmc-worn", ts=1.0, **{"cmd/filesystems": FS.replace(" ro,", " rw,")})
    state.apply(replace(rw, node="n"))
    assert "fs_readonly" not in alerts_of(state, "n") and "root_readonly" not in alerts_of(state, "n")
    state.apply(replace(sample("cm4-emmc-worn", ts=2.0), node="n"))
    events = [e for e in state.events if e.kind == "fs_readonly"]
    assert alerts_of(state, "n")["fs_readonly"] == CRIT
    assert events and "/ remounted read-only (was read-write)" in events[-1].message


FS = (BOARDS / "cm4-emmc-worn" / "cmd" / "filesystems").read_text()


def test_full_disk_io_errors_and_fleet_watts():
    state = FleetState(["rack"])
    first = replace(sample("rack-ina226", ts=10.0), node="rack")
    state.apply(first)
    assert alerts_of(state, "rack")["fs_full"] == CRIT       # /srv/backup: 0 bytes available
    assert "io_errors" not in alerts_of(state, "rack")        # 3 errors, but none new yet
    more = replace(sample("rack-ina226", ts=11.0, **{"sys/block/sda/device/ioerr_cnt": "0x5\n"}),
                   node="rack")
    state.apply(more)
    assert alerts_of(state, "rack")["io_errors"] == WARN
    assert "sda +2 (total 5)" in [e for e in state.events if e.kind == "io_errors"][-1].message
    summary = state.summary(now=11.0)
    assert summary.watts == pytest.approx(6.025) and summary.watts_nodes == 1
    row = state.rows(now=11.0)[0]
    assert row.watts == pytest.approx(6.025) and row.disk_pct is not None


def test_disk_rates_count_whole_disks_once():
    state = FleetState(["n"])
    a = replace(sample("cm4-emmc-worn", ts=1.0), node="n")
    stats = (BOARDS / "cm4-emmc-worn" / "proc" / "diskstats").read_text()
    # 1 s later: mmcblk0 and its partition p2 both read 512 KiB more (the partition is inside)
    later = stats.replace(" 21234567 ", f" {21234567 + 1024} ").replace(" 21111111 ", f" {21111111 + 1024} ")
    b = replace(sample("cm4-emmc-worn", ts=2.0, **{"proc/diskstats": later}), node="n")
    state.apply(a)
    state.apply(b)
    assert state.node("n").disk_rates == {"mmcblk0": (512 * 1024.0, 0.0)}


# ---- the real samplers over SSH read the same trees --------------------------------------------

@pytest.fixture(scope="module")
def public_boards():
    path = Path(tempfile.mkdtemp(prefix="roost-boards-"))
    shutil.copytree(BOARDS, path / "boards", symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(path)], check=True)
    yield path / "boards"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def two_shells(ssh_lab):
    return ssh_lab.start(1) + ssh_lab.start(1, no_bash=True)


@pytest.mark.peers
@pytest.mark.parametrize("board", NAMES)
@pytest.mark.parametrize("which", [0, 1], ids=["bash", "sh"])
async def test_the_sampler_reads_what_the_tree_holds(two_shells, public_boards, board, which):
    root = public_boards / board
    target = two_shells[which].target(procfs=str(root / "proc"), sysfs=str(root / "sys"), interval=0.1)
    async with await connect(target) as conn:
        proc = await conn.create_process(sampler_command(target), encoding=None)
        decoder, frames = FrameDecoder(), []
        while len(frames) < 2:
            frames += decoder.feed(await proc.stdout.read(65536))
        proc.close()
    live = frames[-1].snapshot
    recorded = read_tree(str(root / "proc"), str(root / "sys"))
    # the node's own commands ran live (this host's statfs, clock): take the recorded ones
    snap = Snapshot({**{k: v for k, v in live.files.items() if not k.startswith("cmd/")},
                     **{k: v for k, v in recorded.files.items() if k.startswith("cmd/")}}, live.links)
    ours, _ = parse(render_text([build_sample(board, snap, 0.0, node_clock=0.0)], now=0.0))
    expected, _ = parse((BOARDS / board / "expected.prom").read_text())
    missing = sorted(str(k) for k in expected if ours.get(k) != expected[k])
    assert not missing, missing[:10]
