"""The plain JSONL format: readable fields and rates a jq user can read, from real board trees,
with the arithmetic checked against hand-computed deltas; jq itself reads the lines."""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess

import pytest
from hypothesis import given, strategies as st

from collectors.model import CpuTimes, HwmonSensor, NetCounters, RpiThrottle, Sample, ThermalZone
from collectors.sinks.jsonl import JsonlSink, Records, encode
from collectors.sinks.plain import plain_record, throttle_flags
from collectors.snapshot import build_sample
from collectors.tree import read_tree
from tests.conftest import SHARED, need

BOARDS = SHARED / "fixtures" / "boards"


def board(name: str, ts: float = 1000.0) -> Sample:
    need((BOARDS / name).is_dir(), f"board fixtures missing: {BOARDS / name}")
    return build_sample(name, read_tree(str(BOARDS / name / "proc"), str(BOARDS / name / "sys")), ts)


def later(s: Sample, seconds: float, busy: float, idle: float, rx: int, tx: int) -> Sample:
    """s, `seconds` later: every core spent `busy` s in user and `idle` s idle; every
    interface received rx and sent tx more bytes."""
    def cpu(t: CpuTimes) -> CpuTimes:
        return dataclasses.replace(t, user=t.user + busy, idle=t.idle + idle)
    n = len(s.cpus)
    total = dataclasses.replace(s.cpu_total, user=s.cpu_total.user + busy * n,
                                idle=s.cpu_total.idle + idle * n)
    net = tuple(dataclasses.replace(x, rx_bytes=x.rx_bytes + rx, tx_bytes=x.tx_bytes + tx) for x in s.net)
    return dataclasses.replace(s, ts=s.ts + seconds, seq=s.seq + 1, node_clock=None,
                               cpus=tuple(cpu(t) for t in s.cpus), cpu_total=total, net=net)


def test_a_rpi4_sample_in_plain_fields():
    first = board("rpi4")
    rec = plain_record(first)
    assert rec["node"] == "rpi4" and rec["time"] == 1000.0
    assert rec["cpu_percent"] is None and rec["core_percent"] == [None] * 4   # no previous yet
    assert (rec["load1"], rec["load5"], rec["load15"]) == (0.52, 0.58, 0.59)
    assert rec["mem_total_bytes"] == 3977601024
    assert rec["mem_used_bytes"] == 3977601024 - 3186728960
    assert rec["mem_percent"] == round(100 * (3977601024 - 3186728960) / 3977601024, 2)
    assert rec["temp_c"]["cpu-thermal"] == pytest.approx(52.582)
    assert rec["freq_mhz"] == {"0": 1500, "1": 1500, "2": 1500, "3": 1500}
    assert set(rec["net"]) == {"lo", "eth0", "wlan0"}
    assert rec["net"]["eth0"] == {"rx_bytes_per_s": None, "tx_bytes_per_s": None}
    assert rec["flags"] == throttle_flags(first.throttle.raw) and "under_voltage_now" in rec["flags"]
    second = plain_record(later(first, 2.0, busy=0.5, idle=1.5, rx=3000, tx=1000), first)
    assert second["cpu_percent"] == 25.0 and second["core_percent"] == [25.0] * 4
    assert second["net"]["eth0"] == {"rx_bytes_per_s": 1500.0, "tx_bytes_per_s": 500.0}
    assert "fan_rpm" not in second                    # a Pi 4 without a fan has no fan section


def test_fans_pwm_and_hwmon_temps_by_chip():
    rec = plain_record(board("rockpro64"))
    assert rec["fan_pwm"] and all(0 <= v <= 255 for v in rec["fan_pwm"].values())
    assert all("/" in k for k in rec["fan_pwm"])
    zones = {k for k in rec["temp_c"] if "/" not in k}
    assert zones                                       # thermal zones by type, hwmon by chip/sensor


def test_a_reboot_or_a_wrap_never_gives_a_false_rate():
    first = board("rpi4")
    rebooted = dataclasses.replace(later(first, 1.0, 0.1, 0.9, 10, 10), boot_time=first.boot_time + 500)
    rec = plain_record(rebooted, first)
    assert rec["cpu_percent"] is None and rec["net"]["eth0"]["rx_bytes_per_s"] is None
    eth = NetCounters("eth0", 2**32 - 100, 0, 0, 0, 5, 0, 0, 0)
    a = Sample("n", 10.0, net=(eth,))
    b = Sample("n", 11.0, net=(dataclasses.replace(eth, rx_bytes=50, tx_bytes=5),),)
    rate = plain_record(b, a)["net"]["eth0"]
    assert rate == {"rx_bytes_per_s": 150.0, "tx_bytes_per_s": 0.0}    # a 32-bit rx counter wrapped
    big = Sample("n", 10.0, net=(dataclasses.replace(eth, rx_bytes=2**40),))
    assert plain_record(b, big)["net"]["eth0"]["rx_bytes_per_s"] is None  # a 64-bit counter fell


def test_records_remember_each_node_and_series_stays_available():
    a, b = board("rpi4"), board("rk1")
    records = Records("plain")
    records(a), records(b)
    assert records(later(a, 1.0, 0.2, 0.8, 0, 0))["cpu_percent"] == 20.0
    series = Records("series")(a)
    assert series["ts"] == 1000.0 and series["node_load1"] == 0.52
    assert any(k.startswith('node_cpu_seconds_total{cpu="0"') for k in series)
    with pytest.raises(ValueError, match="plain or series"):
        Records("yaml")


def test_non_finite_readings_are_null_in_valid_json():
    s = Sample("n", 1.0, thermal=(ThermalZone("0", "cpu", math.nan),),
               hwmon=(HwmonSensor("c", "chip", "fan", "fan1", math.inf),))
    line = encode(plain_record(s))
    obj = json.loads(line)
    assert obj["temp_c"] == {"cpu": None} and obj["fan_rpm"] == {"chip/fan1": None}


@given(st.integers(0, 2**20 - 1))
def test_flags_name_exactly_the_set_bits(raw):
    flags = throttle_flags(raw)
    t = RpiThrottle(raw)
    for name in ("under_voltage", "freq_capped", "throttled", "soft_temp_limit"):
        assert (f"{name}_now" in flags) == getattr(t, f"{name}_now")
        assert (f"{name}_occurred" in flags) == getattr(t, f"{name}_occurred")


modes = st.floats(0, 1e6, allow_nan=False)


@given(st.tuples(modes, modes, modes, modes), st.tuples(modes, modes, modes, modes))
def test_cpu_percent_is_a_percentage_or_null(before, after):
    a = CpuTimes("", user=before[0], system=before[1], idle=before[2], iowait=before[3])
    b = CpuTimes("", user=after[0], system=after[1], idle=after[2], iowait=after[3])
    value = plain_record(Sample("n", 2.0, cpu_total=b), Sample("n", 1.0, cpu_total=a))["cpu_percent"]
    assert value is None or 0.0 <= value <= 100.0


@pytest.mark.peers
def test_jq_reads_the_lines(tmp_path):
    need(shutil.which("jq") is not None, "jq is not installed")
    path = tmp_path / "m.jsonl"
    sink = JsonlSink(str(path))
    first = board("rpi4")
    sink.write([first])
    sink.write([later(first, 1.0, 0.3, 0.7, 2048, 0)])
    sink.close()
    done = subprocess.run(["jq", "-r", 'select(.cpu_percent != null) | '
                           '"\\(.node) \\(.cpu_percent) \\(.net.eth0.rx_bytes_per_s) \\(.temp_c["cpu-thermal"])"',
                           str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "rpi4 30 2048 52.582\n"


def test_disks_filesystems_io_errors_and_power_when_the_node_has_them():
    """The Pi 5 rack controller tree: NVMe and a USB disk with I/O errors, a full backup
    filesystem, INA226 power monitors."""
    from tests.helpers.trees import sample as board_sample
    first = board_sample("rack-ina226", 100.0)

    def moved(d):
        c = list(d.counters)
        c[2], c[6] = c[2] + 4, c[6] + 2                  # 4 sectors read, 2 written in 2 s
        return dataclasses.replace(d, counters=tuple(c))
    second = dataclasses.replace(first, ts=102.0, node_clock=102.0,
                                 disks=tuple(moved(d) for d in first.disks))
    rec = json.loads(encode(plain_record(second, first)))
    assert set(rec["disk"]) == {"nvme0n1", "sda"}                 # whole disks, no partitions
    assert rec["disk"]["sda"] == {"read_bytes_per_s": 1024.0, "write_bytes_per_s": 512.0}
    assert rec["fs"]["/srv/backup"]["used_percent"] == 100.0 and rec["fs"]["/"]["avail_bytes"] > 0
    assert rec["io_errors"] == {"sda": 3} and rec["power_w"] == pytest.approx(6.03)
    assert "disk" not in plain_record(board("rpi4"))               # absent, never 0
