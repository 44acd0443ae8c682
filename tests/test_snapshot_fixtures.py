"""Real trees end to end: read_tree -> build_sample -> render_text must carry node_exporter's values.

Fixtures are read from ../shared (tests/conftest.py SHARED); node_exporter's sys.ttar is extracted
once per session; board trees are copied to a tmp dir because their class symlinks were stored as
plain files holding the link target (restored here).
"""
from __future__ import annotations

import fnmatch
import math
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from prometheus_client.parser import text_string_to_metric_families

from collectors.fileset import FILES, LINKS
from collectors.model import Snapshot
from collectors.sinks.prometheus import render_text
from collectors.snapshot import build_sample
from collectors.tree import read_tree
from tests.conftest import SHARED, need
from tests.helpers.trees import COLLECTORS, NODE_EXPORTER, copy_board
from tests.helpers.ttar import extract
from tests.lab.peers import starting

NE = SHARED / "fixtures" / "node_exporter"
BOARDS = SHARED / "fixtures" / "boards"
E2E_NAMES = ("node_thermal_zone_temp", "node_hwmon_temp_celsius", "node_hwmon_fan_rpm", "node_hwmon_pwm",
             "node_cpu_scaling_frequency_hertz", "node_cpu_seconds_total", "node_load1", "node_load5",
             "node_load15")
# node_exporter prints more chips/labels than roost reads (pwm*_enable, freq*): ours must be a subset.
SUBSET_NAMES = ("node_hwmon_chip_names", "node_hwmon_sensor_label")


def series(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def by_name(all_series: dict, wanted) -> dict:
    return {k: v for k, v in all_series.items() if wanted(k[0])}


@pytest.fixture(scope="session")
def ne_roots(tmp_path_factory) -> tuple[str, str]:
    need((NE / "sys.ttar").is_file(), f"node_exporter fixtures missing under {NE}")
    dest = tmp_path_factory.mktemp("node_exporter")
    assert extract(NE / "sys.ttar", dest) > 2000
    return str(NE / "proc"), str(dest / "sys")


@pytest.fixture(scope="session")
def ne_text(ne_roots) -> str:
    return render_text([build_sample("fixture", read_tree(*ne_roots), ts=0.0)], now=0.0)


def parse_expected(path: Path) -> tuple[dict, dict[str, str]]:
    """expected.prom: series (a trailing "# chip=X" adds the chip label) and "# rpi k=v" flags."""
    expected, rpi = {}, {}
    for line in path.read_text().splitlines():
        if line.startswith("# rpi "):
            rpi.update(tok.split("=", 1) for tok in line[6:].split())
        elif line.strip() and not line.startswith("#"):
            metric, _, comment = line.partition(" # ")
            ((key, value),) = series(metric + "\n").items()
            extra = dict(tok.split("=", 1) for tok in comment.split())
            expected[(key[0], key[1] | frozenset(extra.items()))] = value
    return expected, rpi


def assert_same(ours: dict, theirs: dict, what: str) -> None:
    missing = sorted(set(theirs) - set(ours), key=str)
    extra = sorted(set(ours) - set(theirs), key=str)
    assert not missing, f"{what}: roost lacks {missing[:5]}"
    assert not extra, f"{what}: roost has extra {extra[:5]}"
    for key, value in theirs.items():
        assert math.isclose(ours[key], value, rel_tol=1e-9, abs_tol=1e-9), f"{what}: {key} {ours[key]} != {value}"


# -- node_exporter's own fixture ------------------------------------------------------------------

@pytest.mark.parametrize("name", E2E_NAMES)
def test_node_exporter_values_match(ne_text, name):
    theirs = by_name(series((NE / "e2e-output.txt").read_text()), lambda n: n == name)
    assert_same(by_name(series(ne_text), lambda n: n == name), theirs, name)


def test_node_exporter_memory_matches(ne_text):
    is_mem = lambda n: n.startswith("node_memory_") and not n.startswith("node_memory_numa_")  # noqa: E731
    theirs = by_name(series((NE / "e2e-output.txt").read_text()), is_mem)
    assert len(theirs) >= 40
    assert_same(by_name(series(ne_text), is_mem), theirs, "node_memory_*")


@pytest.mark.parametrize("name", SUBSET_NAMES)
def test_node_exporter_chip_names_and_labels_subset(ne_text, name):
    theirs = by_name(series((NE / "e2e-output.txt").read_text()), lambda n: n == name)
    ours = by_name(series(ne_text), lambda n: n == name)
    assert len(ours) >= 6 and set(ours) <= set(theirs), set(ours) - set(theirs)


def test_node_exporter_cooling_and_boot_time(ne_text):
    want = ("node_cooling_device_cur_state", "node_cooling_device_max_state", "node_boot_time_seconds",
            "node_cpu_scaling_frequency_min_hertz", "node_cpu_scaling_frequency_max_hertz",
            "node_cpu_guest_seconds_total")
    theirs = by_name(series((NE / "e2e-output.txt").read_text()), lambda n: n in want)
    assert_same(by_name(series(ne_text), lambda n: n in want), theirs, "cooling/boot/freq limits")


# -- board trees: any dir with an expected.prom is picked up ---------------------------------------

BOARD_DIRS = sorted(p.parent.name for p in BOARDS.glob("*/expected.prom")) or ["(none)"]


@pytest.fixture(scope="session")
def board_roots(tmp_path_factory):
    def roots(board: str) -> tuple[str, str, Path]:
        need((BOARDS / board / "expected.prom").is_file(), f"board fixture {board} missing under {BOARDS}")
        dest = copy_board(BOARDS / board, tmp_path_factory.mktemp(board))
        return str(dest / "proc"), str(dest / "sys"), BOARDS / board / "expected.prom"
    return roots


@pytest.mark.parametrize("board", BOARD_DIRS)
def test_board_matches_expected(board_roots, board):
    procfs, sysfs, expected_path = board_roots(board)
    sample = build_sample(board, read_tree(procfs, sysfs), ts=0.0)
    theirs, rpi = parse_expected(expected_path)
    names = {k[0] for k in theirs}
    ours = by_name(series(render_text([sample], now=0.0)), lambda n: n in names)
    # expected.prom gives hwmon chips only as comments: compare on (name, labels) incl. chip.
    assert_same(ours, theirs, board)
    check_rpi(sample, rpi)


@pytest.mark.parametrize("board", BOARD_DIRS)
def test_board_read_in_place_with_flattened_links(board):
    """The shared trees hold class symlinks as plain files naming their target; read as they are."""
    need((BOARDS / board / "expected.prom").is_file(), f"board fixture {board} missing under {BOARDS}")
    root = BOARDS / board
    sample = build_sample(board, read_tree(str(root / "proc"), str(root / "sys")), ts=0.0)
    theirs, rpi = parse_expected(root / "expected.prom")
    names = {k[0] for k in theirs}
    ours = by_name(series(render_text([sample], now=0.0)), lambda n: n in names)
    assert_same(ours, theirs, board)
    check_rpi(sample, rpi)


def test_materialised_link_must_stay_inside_the_tree(tmp_path):
    (tmp_path / "outside" / "hwmon9").mkdir(parents=True)
    (tmp_path / "outside" / "hwmon9" / "temp1_input").write_text("99000\n")
    hw = tmp_path / "sys" / "class" / "hwmon"
    hw.mkdir(parents=True)
    (hw / "hwmon0").write_text("../../../outside/hwmon9")
    snap = read_tree(str(tmp_path / "proc"), str(tmp_path / "sys"))
    assert not any("hwmon" in k for k in snap.files)


def check_rpi(sample, rpi: dict[str, str]) -> None:
    if not rpi:
        assert sample.throttle is None
        return
    assert sample.throttle.raw == int(rpi.pop("throttled"), 16)
    flags = {f"{kind}_{when}": getattr(sample.throttle, f"{attr}_{when}")
             for kind, attr in (("undervoltage", "under_voltage"), ("freq_capped", "freq_capped"),
                                ("throttled", "throttled"), ("soft_temp_limit", "soft_temp_limit"))
             for when in ("now", "occurred")}
    # the comment names some flags (0x50005 also has throttled_occurred); the raw value pins the rest
    assert {k for k, v in rpi.items() if v == "1"} <= {k for k, v in flags.items() if v}
    assert not {k for k, v in rpi.items() if v == "0"} & {k for k, v in flags.items() if v}


def test_board_clusters_and_facts(board_roots):
    from collectors.sysfs import clusters
    procfs, sysfs, _ = board_roots("rockpro64")
    sample = build_sample("rp", read_tree(procfs, sysfs), ts=0.0)
    assert clusters(sample.cpufreq) == ((0, 1, 2, 3), (4, 5))
    assert sample.problems == ()


# -- side by side with the real node_exporter binary (a peer: skipped, or failed under REQUIRE) ----

SIDE_BY_SIDE = E2E_NAMES + ("node_boot_time_seconds", "node_cpu_scaling_frequency_min_hertz",
                            "node_cpu_scaling_frequency_max_hertz", "node_cooling_device_cur_state",
                            "node_cooling_device_max_state", "node_network_receive_bytes_total",
                            "node_network_transmit_bytes_total", "node_network_receive_packets_total",
                            "node_network_transmit_drop_total")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape_node_exporter(procfs: str, sysfs: str, log: Path) -> str:
    need(os.access(NODE_EXPORTER, os.X_OK), f"{NODE_EXPORTER} not installed (prometheus-node-exporter)")
    starting("node_exporter")
    port = _free_port()
    args = [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", f"--path.procfs={procfs}",
            f"--path.sysfs={sysfs}", "--collector.disable-defaults", "--no-collector.netdev.netlink",
            "--collector.netdev.device-exclude=^$",  # Debian's build hides lo by default
            *(f"--collector.{c}" for c in COLLECTORS)]
    with open(log, "wb") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 10
        while True:  # wait for the listener: poll the endpoint until it answers
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-500:]
                time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()


def is_side_by_side(name: str) -> bool:
    return name in SIDE_BY_SIDE or (name.startswith("node_memory_") and not name.startswith("node_memory_numa"))


def failed_collectors(log: Path) -> set[str]:
    return set(re.findall(r'collector failed" name=(\w+)', log.read_text()))


@pytest.mark.peers
@pytest.mark.parametrize("board", BOARD_DIRS)
def test_board_same_as_real_node_exporter(board_roots, board, tmp_path):
    procfs, sysfs, _ = board_roots(board)
    log = tmp_path / "ne.log"
    theirs = by_name(series(scrape_node_exporter(procfs, sysfs, log)), is_side_by_side)
    ours = by_name(series(render_text([build_sample(board, read_tree(procfs, sysfs), ts=0.0)], now=0.0)),
                   is_side_by_side)
    # 1.5.0's cpufreq collector gives up when scaling_available_governors is absent (the board trees
    # are minimal); roost reads what is there, and expected.prom pins those values instead.
    failed = failed_collectors(log)
    assert failed <= {"cpufreq"}, log.read_text()[-800:]
    if failed:
        ours = {k: v for k, v in ours.items() if not k[0].startswith("node_cpu_scaling_frequency")}
    assert len(theirs) > 20
    assert_same(ours, theirs, f"{board} vs node_exporter")


@pytest.mark.peers
def test_node_exporter_tree_same_as_real_node_exporter(ne_roots, tmp_path):
    # node_exporter 1.5.0 names hwmon chips that share a device identically (it then logs duplicate
    # series); the newer rule that appends the chip name is pinned by the e2e tests above.
    same = lambda n: is_side_by_side(n) and not n.startswith("node_hwmon_")  # noqa: E731
    theirs = by_name(series(scrape_node_exporter(*ne_roots, tmp_path / "ne.log")), same)
    ours = by_name(series(render_text([build_sample("f", read_tree(*ne_roots), ts=0.0)], now=0.0)), same)
    assert_same(ours, theirs, "node_exporter tree vs node_exporter 1.5.0")


# -- the tree reader -------------------------------------------------------------------------------

def test_tree_keys_are_fileset_keys(ne_roots):
    snap = read_tree(*ne_roots)
    patterns = [f.pattern for f in FILES]
    assert all(any(fnmatch.fnmatchcase(k, p) for p in patterns) for k in snap.files)
    assert all(any(fnmatch.fnmatchcase(k, p) for p in LINKS) for k in snap.links)
    # symlinked class dirs are followed; links are resolved fully and root-relative
    assert "sys/class/hwmon/hwmon0/temp1_input" in snap.files
    assert snap.links["sys/class/hwmon/hwmon0/device"] == "sys/devices/platform/coretemp.0"
    assert snap.links["sys/class/hwmon/hwmon8/device"] == "sys/devices/platform/soc/18000000.wifi/ieee80211/phy0"


def test_local_machine_smoke():
    sample = build_sample("here", read_tree("/proc", "/sys"), ts=0.0)
    assert sample.cpus and sample.cpu_total is not None
    assert sample.memory is not None and sample.memory.total > 0
    assert sample.facts is not None and sample.facts.cores == len(sample.cpus)
    assert sample.load is not None and sample.uptime > 0 and sample.net


def test_missing_and_garbage_files_give_notes_not_numbers():
    snap = Snapshot({"proc/stat": "cpu0 a b c d\n", "proc/loadavg": "x y z",
                     "sys/class/thermal/thermal_zone0/temp": "hot", "sys/class/thermal/thermal_zone0/type": "t",
                     "sys/class/hwmon/hwmon0/temp1_input": "NaN", "sys/class/hwmon/hwmon0/name": "x",
                     "sys/devices/platform/soc/soc:firmware/get_throttled": "zz"})
    s = build_sample("bad", snap, ts=1.0)
    assert s.cpus == () and s.load is None and s.thermal == () and s.hwmon == () and s.throttle is None
    notes = "\n".join(s.problems)
    for where in ("proc/stat", "proc/loadavg", "thermal_zone0/temp", "hwmon0/temp1_input",
                  "get_throttled", "missing: proc/meminfo"):
        assert where in notes
    assert all("\n" not in p for p in s.problems)


KEYS = ["proc/stat", "proc/loadavg", "proc/meminfo", "proc/uptime", "proc/net/dev", "proc/cpuinfo",
        "sys/class/thermal/thermal_zone0/temp", "sys/class/thermal/cooling_device0/cur_state",
        "sys/class/hwmon/hwmon0/temp1_input", "sys/class/hwmon/hwmon0/name", "sys/class/hwmon/hwmon0/pwm1",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq",
        "sys/devices/system/cpu/cpu0/cpufreq/related_cpus",
        "sys/devices/platform/soc/soc:firmware/get_throttled"]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), st.text(max_size=80)),
       st.dictionaries(st.just("sys/class/hwmon/hwmon0/device"), st.text(max_size=30)))
def test_build_sample_and_render_never_raise(files, links):
    sample = build_sample("n\"{}\n", Snapshot(files, links), ts=1.0)
    text = render_text([sample], fleet=True, up={"n": True}, now=2.0)
    assert series(text)  # the exposition stays parseable whatever the node sent


def test_copy_board_keeps_and_restores_links(tmp_path):
    src = tmp_path / "src"
    (src / "sys/devices/virtual/thermal/thermal_zone0").mkdir(parents=True)
    (src / "sys/devices/virtual/thermal/thermal_zone0/temp").write_text("1000\n")
    (src / "sys/class/thermal").mkdir(parents=True)
    (src / "sys/class/thermal/thermal_zone0").write_text("../../devices/virtual/thermal/thermal_zone0")
    os.symlink("../../devices/virtual/thermal/thermal_zone0", src / "sys/class/thermal/thermal_zone1")
    out = copy_board(src, tmp_path / "out")
    for zone in ("thermal_zone0", "thermal_zone1"):
        assert (out / "sys/class/thermal" / zone).is_symlink()
        assert (out / "sys/class/thermal" / zone / "temp").read_text() == "1000\n"


def test_ttar_edge_cases(tmp_path):
    sep = "# ttar - - - - - -\n"
    archive = tmp_path / "a.ttar"
    archive.write_text(
        "# Archive created by ttar\nDirectory: d\nMode: 755\n" + sep
        + "Path: d/noeol\nLines: 1\n12376EOF\nMode: 644\n" + sep
        + "Path: d/nul\nLines: 2\naNULLBYTEb\nlit \\NULLBYTE and \\EOF\nMode: 644\n" + sep
        + "Path: d/empty\nLines: 0\nMode: 644\n" + sep
        + "Path: d/link\nSymlinkTo: noeol\n" + sep)
    assert extract(archive, tmp_path / "out") == 5
    out = tmp_path / "out" / "d"
    assert (out / "noeol").read_bytes() == b"12376"
    assert (out / "nul").read_bytes() == b"a\0b\nlit NULLBYTE and EOF\n"
    assert (out / "empty").read_bytes() == b""
    assert os.readlink(out / "link") == "noeol" and (out / "link").read_text() == "12376"


def test_empty_or_missing_roots_give_notes(tmp_path):
    (tmp_path / "proc").mkdir()
    for roots in ((str(tmp_path / "proc"), str(tmp_path / "nope")), ("/nonexistent/proc", "/nonexistent/sys")):
        snap = read_tree(*roots)
        assert snap.files == {} and snap.links == {}
        sample = build_sample("empty", snap, ts=0.0)
        assert sample.cpus == () and sample.memory is None and sample.facts is None
        assert "missing: proc/stat" in sample.problems
