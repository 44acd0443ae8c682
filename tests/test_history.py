"""History you can look at: the --since parser, series names read back, the derived metrics from a
database the real SQLite sink wrote, and `roost history` as a user runs it after `roost collect`
against real sshd nodes (chart at 80x24, CSV, JSON, one-line errors)."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings, strategies as st

from collectors.model import CpuTimes, HwmonSensor, LoadAvg, Memory, NetCounters, Sample, ThermalZone
from collectors.sinks.prometheus import series_key
from collectors.sinks.sqlite import SqliteSink
from console.history import service
from console.history.series import parse_series
from console.history.since import format_duration, parse_duration, parse_when
from tests.helpers.cli import ROOST, lab_config, roost

NOW = 1_800_000_000.0


# ---------------------------------------------------------------- --since

@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800),
                                           ("1w", 604800), ("0.5h", 1800), (" 1H ", 3600)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds and parse_when(text, NOW) == NOW - seconds


def test_iso_times_and_one_line_errors():
    assert parse_when("2027-01-15T10:00:00+00:00", NOW) == datetime(2027, 1, 15, 10, tzinfo=UTC).timestamp()
    assert parse_when("2027-01-15", NOW) == datetime(2027, 1, 15).timestamp()   # local midnight
    for bad in ("", "yesterday", "5", "1hh", "h1", "-1h", "1h-", "2027-13-01"):
        with pytest.raises(ValueError, match="expected a duration like 90s") as info:
            parse_when(bad, NOW)
        assert "\n" not in str(info.value)


@given(st.integers(0, 10**8))
def test_a_formatted_duration_parses_back(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_any_text_parses_or_is_one_value_error(text):
    try:
        value = parse_when(text, NOW)
    except ValueError as exc:
        assert "\n" not in str(exc).replace(repr(text), "")
    else:
        assert isinstance(value, float)


# ---------------------------------------------------------------- series names

label_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True),
       st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True), label_values, max_size=4))
def test_a_series_name_reads_back_to_its_parts(name, labels):
    text = series_key(name, tuple(labels.items())) if labels else name
    assert parse_series(text) == (name, labels)


@pytest.mark.parametrize("bad", ["", "9abc", 'x{a="1"', 'x{a=1}', 'x{a="1"b="2"}', 'x{="1"}'])
def test_not_a_series_name(bad):
    with pytest.raises(ValueError):
        parse_series(bad)


# ---------------------------------------------------------------- metrics from a real sink's DB

def sample(node: str, k: int, *, boot: float = 1.0) -> Sample:
    """Node sample k seconds in: 2 cores each 25% busy, eth0 +2000/+500 bytes a second, lo busy
    (never counted), temps and a fan that follow k."""
    cpu = lambda c: CpuTimes(c, user=100 + 0.25 * k, idle=1000 + 0.75 * k)  # noqa: E731
    return Sample(
        node, NOW - 600 + k, seq=k, boot_time=boot,
        cpu_total=CpuTimes("", user=200 + 0.5 * k, idle=2000 + 1.5 * k), cpus=(cpu("0"), cpu("1")),
        load=LoadAvg(0.5, 0.4, 0.3), memory=Memory({"MemTotal": 4e9, "MemAvailable": 3e9}),
        net=(NetCounters("eth0", 10**6 + 2000 * k, 0, 0, 0, 10**5 + 500 * k, 0, 0, 0),
             NetCounters("lo", 10**9 * k, 0, 0, 0, 10**9 * k, 0, 0, 0)),
        thermal=(ThermalZone("0", "cpu-thermal", 40.0 + k % 2),),
        hwmon=(HwmonSensor("platform_pwmfan", "pwmfan", "fan", "fan1", 3000.0),
               HwmonSensor("platform_pwmfan", "pwmfan", "pwm", "pwm1", 255.0),
               HwmonSensor("platform_nct", "nct6775", "temp", "temp1", 55.0, label="SYSTIN")))


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "h.db"
    sink = SqliteSink(path)
    for k in range(600):
        sink.write([sample("n1", k), sample("n2", k)])
    sink.close()
    return path


def lines(db, metric, nodes=("n1",), step=60.0):
    h = service.read(db, metric, list(nodes), NOW - 600, NOW, step)
    return {(ln.node, ln.label): ln.points for ln in h.lines}, h


def test_cpu_percent_from_stored_counters(db):
    got, h = lines(db, "cpu")
    assert set(got) == {("n1", "all"), ("n1", "0"), ("n1", "1")}
    assert len(got[("n1", "all")]) == 9                          # 10 one-minute buckets, 9 steps
    assert {v for _, v in got[("n1", "all")]} == {25.0} == {v for _, v in got[("n1", "1")]}
    assert [ln.label for ln in h.folded()] == ["all"]


def test_net_rates_without_lo_memory_load_and_sensor_labels(db):
    net, _ = lines(db, "net")
    assert {v for _, v in net[("n1", "rx")]} == {2.0} and {v for _, v in net[("n1", "tx")]} == {0.5}
    mem, _ = lines(db, "mem")
    assert {v for _, v in mem[("n1", "used %")]} == {25.0}
    load, _ = lines(db, "load")
    assert {k[1] for k in load} == {"load1", "load5", "load15"}
    temp, h = lines(db, "temp", step=600.0)
    assert set(temp) == {("n1", "cpu-thermal"), ("n1", "SYSTIN")}   # the hwmon label, as the console
    assert temp[("n1", "cpu-thermal")][0][1] == pytest.approx(40.5)  # a bucket is the average
    fan, _ = lines(db, "fan")
    assert set(fan) == {("n1", "pwmfan/fan1")}
    pwm, _ = lines(db, "pwm")
    assert {round(v) for _, v in pwm[("n1", "pwmfan/pwm1")]} == {100}
    assert h.missing == []


def test_a_reboot_is_a_gap_not_a_spike(tmp_path):
    path = tmp_path / "r.db"
    sink = SqliteSink(path)
    for k in range(0, 300):
        sink.write([sample("n1", k)])
    for k in range(300, 600):      # counters start again from low values
        s = sample("n1", k - 300, boot=2.0)
        sink.write([dataclasses.replace(s, ts=NOW - 600 + k)])
    sink.close()
    got, _ = lines(path, "cpu")
    values = [v for _, v in got[("n1", "all")]]
    assert None in values and all(v is None or v == 25.0 for v in values)
    net, _ = lines(path, "net")
    assert all(v is None or v == 2.0 for _, v in net[("n1", "rx")])


def test_missing_nodes_and_no_database(db, tmp_path):
    h = service.read(db, "cpu", ["n1", "n9"], NOW - 600, NOW, 60.0)
    assert h.missing == ["n9"]
    from console.history.store import HistoryError
    with pytest.raises(HistoryError, match="no history database at .*nope.db"):
        service.read(tmp_path / "nope.db", "cpu", ["n1"], NOW - 600, NOW)


def test_the_chart_fits_80x24(db):
    from console.history.chart import render
    h = service.read(db, "temp", ["n1", "n2"], NOW - 600, NOW, points=160)
    text = render(h, "Temperature - all - last 10m", 80, 21, color=False)
    rows = text.splitlines()
    assert len(rows) <= 21 and max(len(r) for r in rows) <= 80
    assert "\x1b" not in text and "n1" in text and "n2" in text
    ticks = [r.split("┤")[0].strip() for r in rows if "┤" in r]
    assert len(ticks) >= 3 and all(re.fullmatch(r"-?\d+(\.\d+)?", t) for t in ticks)   # no collisions


def test_csv_and_json_exports(db):
    from console.history.cli import write_csv, write_json
    _, h = lines(db, "cpu", nodes=("n1", "n2"))
    out = io.StringIO()
    write_csv(h, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0].keys() == {"time", "epoch", "node", "label", "value"}
    assert rows[0]["time"].endswith("Z") and float(rows[0]["value"]) == 25.0
    assert {r["node"] for r in rows} == {"n1", "n2"}
    out = io.StringIO()
    write_json(h, out)
    doc = json.loads(out.getvalue())
    assert doc["metric"] == "cpu" and doc["unit"] == "%" and doc["step_s"] == 60.0
    assert {(ln["node"], ln["label"]) for ln in doc["lines"]} >= {("n1", "all"), ("n2", "all")}


# ---------------------------------------------------------------- the real program

@pytest.mark.peers
def test_roost_history_after_roost_collect_on_real_nodes(env, tmp_path, ssh_lab):
    nodes = ssh_lab.start(2)
    try:
        cfg = lab_config(tmp_path, ssh_lab, nodes, extra=f'[groups]\nfirst = "{nodes[0].name}"\n')
        db = tmp_path / "h.db"
        done = roost("--config", str(cfg), "collect", "--count", "8", "--db", str(db), env=env)
        assert done.returncode == 0, done.stderr
        assert oct(db.stat().st_mode & 0o777) in ("0o600", "0o644")
        run = lambda *a, **kw: roost("--config", str(cfg), "history", "--db", str(db), *a, env=kw.get("env", env))  # noqa: E731
        small = {**env, "COLUMNS": "80", "LINES": "24"}
        chart = run("--since", "5m", env=small)
        assert chart.returncode == 0, chart.stderr
        rows = chart.stdout.splitlines()
        assert len(rows) <= 22 and max(map(len, rows)) <= 80 and "\x1b" not in chart.stdout
        assert "CPU busy - all - last 5m" in rows[0] and nodes[0].name in chart.stdout
        exported = run("@first", "--metric", "load", "--since", "5m", "--csv")
        assert exported.returncode == 0, exported.stderr
        got = list(csv.DictReader(io.StringIO(exported.stdout)))
        assert {r["node"] for r in got} == {nodes[0].name} and {r["label"] for r in got} == {"load1", "load5", "load15"}
        got = run("--metric", "net", "--since", "5m", "--json", "--step", "1s")
        assert got.returncode == 0, got.stderr
        doc = json.loads(got.stdout)
        assert {ln["node"] for ln in doc["lines"]} == {n.name for n in nodes}
        old = run("--since", "2h", "--until", "1h")
        assert old.returncode == 1 and old.stdout == "" and old.stderr.count("\n") == 1
        assert old.stderr.startswith("roost history: nothing stored for cpu of any node from ")
        bad = run("--since", "yesterday")
        assert bad.returncode == 2 and bad.stderr.startswith("roost history: error: --since: expected")
        none = roost("--config", str(cfg), "history", "--db", str(tmp_path / "none.db"), env=env)
        assert none.returncode == 1 and "no history database at" in none.stderr
        assert not (tmp_path / "none.db").exists()                  # reading never creates one
    finally:
        ssh_lab.stop(nodes)


@pytest.mark.peers
def test_history_reads_while_a_collector_writes(env, tmp_path, ssh_lab):
    """Read-only: `roost history` works beside a running collector and never blocks it."""
    node, = ssh_lab.start(1)
    cfg = lab_config(tmp_path, ssh_lab, [node])
    db = tmp_path / "live.db"
    proc = subprocess.Popen([str(ROOST), "--config", str(cfg), "collect", "--interval", "0.2",
                             "--db", str(db)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            got = roost("--config", str(cfg), "history", "--db", str(db), "--csv", "--metric",
                        "load", env=env)
            if got.returncode == 0 and got.stdout.count("\n") > 3:
                break
            assert time.monotonic() < deadline, got.stderr
            time.sleep(0.2)
        assert proc.poll() is None                                  # the writer is still going
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        ssh_lab.stop([node])


# ---------------------------------------------------------------- two tiers

# where `now` falls in its minute decides how much raw data sits past the last rollup (a few
# seconds at 7.25 s in): the rate there divided by the wrong time when rollups were stamped at
# the minute's end (12% off; CI caught 1.2% at a random moment)
# (an hour of 1 s samples, raw kept 20 min, minutes 40: every tier and both expiries, at a third
# of the rows the same shape took with hours)
@pytest.mark.parametrize("into_minute", [0.0, 0.42, 7.25, 30.0, 59.92])
def test_old_samples_become_minutes_and_charts_read_both_tiers(tmp_path, into_minute):
    from collectors.sinks.sqlite import Retention
    path = tmp_path / "t.db"
    sink = SqliteSink(path, Retention(raw=1200, step=60, rollup=2400))
    now = (time.time() // 60) * 60 + into_minute
    t0 = now - 3600
    for chunk in range(0, 3600, 600):
        sink.write([dataclasses.replace(sample("n1", k), ts=t0 + k) for k in range(chunk, chunk + 600)])
    sink.maintain(now)
    sink.close()
    import sqlite3
    con = sqlite3.connect(path)
    oldest_raw = con.execute("SELECT MIN(ts) FROM points").fetchone()[0]
    load = con.execute("SELECT id FROM series WHERE metric = 'node_load1'").fetchone()[0]
    minutes = con.execute("SELECT ts FROM rollup WHERE series = ? ORDER BY ts", (load,)).fetchall()
    con.close()
    assert oldest_raw >= now - 1200 - 1                          # samples kept for 20 minutes
    assert minutes[0][0] >= now - 2400 - 60 and 38 <= len(minutes) <= 41    # minutes for 40
    h = service.read(path, "cpu", ["n1"], now - 2300, now, 60.0)
    values = [v for ln in h.lines if ln.label == "all" for _, v in ln.points]
    assert len(values) > 33 and set(values) == {25.0}            # exact across the tiers
    for step in (60.0, 300.0):
        net = service.read(path, "net", ["n1"], now - 2300, now, step)
        rx = [v for ln in net.lines if ln.label == "rx" for _, v in ln.points]
        # counters: their last value at its own time, so rates are exact in and across the tiers
        assert len(rx) > 2300 / step - 2 and set(rx) == {2.0}, (step, [v for v in rx if v != 2.0])
    temp = service.read(path, "temp", ["n1"], now - 2300, now - 1300, 60.0)
    hot = [v for ln in temp.lines if ln.label == "cpu-thermal" for _, v in ln.points]
    assert hot and all(v == pytest.approx(40.5) for v in hot)    # gauges: the minute's average
    fine = service.read(path, "load", ["n1"], now - 2300, now - 1300, 1.0)
    assert len(fine.lines[0].points) <= 19                       # 1 s asked, minutes are what is kept


def test_history_config_and_its_errors(tmp_path):
    from console.config import ConfigError, load_config
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[history]\nkeep_raw = "12h"\nrollup = "5m"\nkeep_rollup = "forever"\n')
    h = load_config(cfg, env={}).history
    assert (h.keep_raw, h.rollup, h.keep_rollup) == (43200.0, 300.0, None)
    r = h.retention()
    assert (r.raw, r.step, r.rollup) == (43200.0, 300.0, None) and h.retention(60).raw == 60
    for bad, where in (('keep_raw = "2 days"', "history.keep_raw"), ("rollup = 0", "history.rollup"),
                       ('keep_rollup = -1', "history.keep_rollup"), ('keep = "1d"', "history.keep")):
        cfg.write_text(f"[history]\n{bad}\n")
        with pytest.raises(ConfigError, match=rf"{cfg}:2: {where}"):
            load_config(cfg, env={})


def test_check_names_the_database_its_size_and_what_it_keeps(env, tmp_path):
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "n1"\nhost = "127.0.0.1"\nport = 9\n[history]\nkeep_raw = "6h"\n')
    state = env["ROOST_STATE_DIR"]
    done = roost("--config", str(cfg), "check", "--timeout", "2", env=env)
    line, = [ln for ln in done.stdout.splitlines() if ln.startswith("history: ")]
    assert line == (f"history: {state}/roost.db: none yet (`roost serve` writes it); keeps every "
                    "sample for 6h, 1m points for 30d")
    os.makedirs(state, mode=0o700, exist_ok=True)
    sink = SqliteSink(f"{state}/roost.db")
    sink.write([sample("n1", k) for k in range(100)])
    sink.close()
    done = roost("--config", str(cfg), "check", "--timeout", "2", env=env)
    line, = [ln for ln in done.stdout.splitlines() if ln.startswith("history: ")]
    assert re.fullmatch(rf"history: {re.escape(state)}/roost.db: \d+\.\d (KB|MB)( \+ .* WAL)?; keeps "
                        r"every sample for 6h, 1m points for 30d", line), line


def test_unchanged_values_are_stored_once_a_minute_and_read_as_unchanged(tmp_path):
    """MemTotal never changes: about one stored point a minute, yet memory % has a value at
    every step; a node that stops reporting leaves a gap, not a carried-forward line."""
    import sqlite3
    path = tmp_path / "c.db"
    sink = SqliteSink(path)
    now = time.time()
    t0 = now - 1200
    for k in list(range(0, 600)) + list(range(900, 1200)):      # silent from 600 s to 900 s
        sink.write([dataclasses.replace(sample("n1", k), ts=t0 + k)])
    sink.close()
    con = sqlite3.connect(path)
    count = lambda m: con.execute("SELECT COUNT(*) FROM points p JOIN series s ON s.id = p.series "  # noqa: E731
                                  "WHERE s.metric = ?", (m,)).fetchone()[0]
    assert count("node_memory_MemTotal_bytes") <= 900 / 60 + 2     # changes + a keep-alive a minute
    assert count('node_cpu_seconds_total{cpu="0",mode="user"}') == 900   # changes every sample
    con.close()
    mem = service.read(path, "mem", ["n1"], t0, now, 10.0).lines[0].points
    values = {round(t - t0): v for t, v in mem}
    assert all(v == 25.0 for t, v in values.items() if t < 600 or t >= 900)
    assert all(v is None for t, v in values.items() if 670 < t < 900)   # down: no made-up values
    cpu = service.read(path, "cpu", ["n1"], t0 + 30, now, 10.0)     # a window opening mid-minute
    assert {v for ln in cpu.lines if ln.label == "all" for _, v in ln.points} - {None} == {25.0}
    assert next(ln for ln in cpu.lines if ln.label == "all").points[0][1] == 25.0


def test_disk_io_and_filesystem_fill_from_a_board_with_storage(tmp_path):
    """The CM4 tree (worn eMMC, a 90% full read-only root): disk I/O counts the whole disk only
    (its partitions' I/O is inside it), fs is df's percent per mount point."""
    from tests.helpers.trees import sample as board_sample
    base = board_sample("cm4-emmc-worn")
    path = tmp_path / "d.db"
    sink = SqliteSink(path)

    def moved(d, k):     # the whole disk and its partition both count the same sectors
        c = list(d.counters)
        c[2], c[6] = c[2] + 2 * k, c[6] + 8 * k        # 1 kB/s read, 4 kB/s written
        return dataclasses.replace(d, counters=tuple(c))
    for k in range(600):
        sink.write([dataclasses.replace(base, ts=NOW - 600 + k, node_clock=NOW - 600 + k,
                                        disks=tuple(moved(d, k) for d in base.disks))])
    sink.close()
    disk, h = lines(path, "disk", nodes=("cm4-emmc-worn",))
    assert {v for _, v in disk[("cm4-emmc-worn", "read")]} == {1.024}
    assert {v for _, v in disk[("cm4-emmc-worn", "write")]} == {4.096}
    assert [ln.label for ln in h.folded()] == ["read+write"]
    fs, h = lines(path, "fs", nodes=("cm4-emmc-worn",))
    assert set(k[1] for k in fs) == {"/", "/boot/firmware", "/run"}
    assert {v for _, v in fs[("cm4-emmc-worn", "/")]} == {90.12}
    assert max(v for _, v in h.folded()[0].points) == 90.12          # the fullest mount
