"""JSONL and SQLite sinks: names shared with Prometheus, per-tick transactions, history, retention."""
from __future__ import annotations

import json
import sqlite3
import time

from hypothesis import given, settings, strategies as st

from collectors.model import LoadAvg, Memory, Sample, ThermalZone
from collectors.sinks.jsonl import JsonlSink, flatten, sample_to_json
from collectors.sinks.prometheus import render_text
from collectors.sinks.sqlite import SqliteSink


def sample(node="n1", ts=1000.0, load=0.5, temp=45.0, zone_type="cpu-thermal") -> Sample:
    return Sample(node=node, ts=ts, seq=3, load=LoadAvg(load, 0.4, 0.3),
                  memory=Memory({"MemTotal": 4e9, "MemAvailable": 3e9}),
                  thermal=(ThermalZone("0", zone_type, temp),))


def test_flattened_names_are_prometheus_series():
    flat = flatten(sample())
    assert flat["node_load1"] == 0.5
    assert flat['node_thermal_zone_temp{type="cpu-thermal",zone="0"}'] == 45.0
    assert flat["node_memory_MemTotal_bytes"] == 4e9
    exposition = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                  for line in render_text([sample()]).splitlines() if not line.startswith("#")}
    for series, value in flat.items():
        assert exposition[series] == value


def test_sample_to_json_is_compact_and_complete(tmp_path):
    obj = sample_to_json(sample())
    assert obj["node"] == "n1" and obj["ts"] == 1000.0 and obj["seq"] == 3
    path = tmp_path / "s.jsonl"
    sink = JsonlSink(str(path))
    sink.write([sample(), sample("n2")])
    sink.write([])
    sink.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and ", " not in lines[0] and json.loads(lines[1])["node"] == "n2"


def test_non_finite_values_become_null():
    obj = sample_to_json(sample(temp=float("nan")))
    assert obj['node_thermal_zone_temp{type="cpu-thermal",zone="0"}'] is None
    json.dumps(obj, allow_nan=False)


def test_sqlite_history_per_node_and_metric(tmp_path):
    db = SqliteSink(tmp_path / "h.db")
    for i in range(5):
        db.write([sample("n1", 100.0 + i, load=i), sample("n2", 100.0 + i, load=10 + i)])
    assert db.history("n1", "node_load1", since=102) == [(102.0, 2.0), (103.0, 3.0), (104.0, 4.0)]
    assert db.history("n2", "node_load1", since=104) == [(104.0, 14.0)]
    assert db.history("n3", "node_load1") == []
    assert 'node_thermal_zone_temp{type="cpu-thermal",zone="0"}' in db.metrics("n1")
    db.close()


def test_sqlite_is_wal_and_uses_the_primary_key_for_history(tmp_path):
    db = SqliteSink(tmp_path / "h.db")
    db.write([sample()])
    db.close()
    con = sqlite3.connect(tmp_path / "h.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plan = " ".join(str(r) for r in con.execute(
        "EXPLAIN QUERY PLAN SELECT ts, value FROM points WHERE series = 1 AND ts >= 5"))
    assert "PRIMARY KEY" in plan or "USING" in plan
    con.close()


def test_one_transaction_per_write(tmp_path):
    db = SqliteSink(tmp_path / "h.db")
    statements = []
    db._db.set_trace_callback(statements.append)
    db.write([sample("n1", 1.0), sample("n2", 1.0), sample("n3", 1.0)])
    assert sum(s.startswith("BEGIN") for s in statements) == 1
    assert sum(s.startswith("COMMIT") for s in statements) == 1
    db.close()


def test_retention_prunes_old_points(tmp_path):
    db = SqliteSink(tmp_path / "h.db", retention=60)
    now = time.time()
    db.write([sample(ts=now - 3600)])
    db._pruned = 0.0  # let the next write prune
    db.write([sample(ts=now)])
    assert [ts for ts, _ in db.history("n1", "node_load1")] == [now]
    db.close()


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=20), st.floats(allow_nan=False, allow_infinity=False,
                                                    width=32))
def test_hostile_label_values_round_trip(tmp_path_factory, zone_type, temp):
    """Whatever a node calls its thermal zone, JSONL stays one valid line and SQLite finds it."""
    s = sample(zone_type=zone_type, temp=temp)
    line = json.dumps(sample_to_json(s), separators=(",", ":"))
    assert "\n" not in line
    db = SqliteSink(tmp_path_factory.mktemp("db") / "h.db")
    db.write([s])
    (series,) = [m for m in db.metrics("n1") if m.startswith("node_thermal_zone_temp")]
    assert db.history("n1", series) == [(1000.0, float(temp))]
    db.close()


# -- the flat path (JSONL, SQLite) equals the exposition path, series for series ----------------

def _via_families(sample: Sample) -> dict[str, float]:
    """The exposition's series (parsed back from text), but only those history keeps."""
    from prometheus_client.parser import text_string_to_metric_families

    from collectors.sinks.prometheus import series_key
    out: dict[str, float] = {}
    flat = flatten(sample)
    for family in text_string_to_metric_families(render_text([sample])):
        for s in family.samples:
            key = series_key(s.name, tuple(s.labels.items())) if s.labels else s.name
            if key in flat:
                out[key] = s.value
    return out


def test_flat_series_are_the_exposition_minus_the_scrape_only_collectors():
    """History keeps the core and health series; a scrape adds node_exporter's other collectors."""
    from collectors.snapshot import build_sample
    from collectors.tree import read_tree
    sample = build_sample("me", read_tree(), 1.0, node_clock=1.0)
    text = render_text([sample])
    assert "node_netstat_Tcp_InSegs " in text and "node_uname_info{" in text
    assert not any(k.startswith(("node_netstat", "node_uname", "node_vmstat")) for k in flatten(sample))


def test_flat_series_equal_the_exposition_on_every_board():
    from collectors.snapshot import build_sample
    from collectors.tree import read_tree
    from tests.conftest import SHARED, need
    boards = sorted((SHARED / "fixtures" / "boards").glob("*/proc"))
    need(bool(boards), "board fixtures under ../shared/fixtures/boards")
    for proc in boards:
        sample = build_sample(proc.parent.name, read_tree(str(proc), str(proc.parent / "sys")), 1.0)
        assert flatten(sample) == _via_families(sample), proc.parent.name


@settings(max_examples=60, deadline=None)
@given(zone_type=st.text(max_size=20), temp=st.floats(-50, 150))
def test_flat_series_equal_the_exposition_for_hostile_labels(zone_type, temp):
    sample = Sample("n1", 1.0, thermal=(ThermalZone("0", zone_type, temp),),
                    load=LoadAvg(0.1, 0.2, 0.3))
    assert flatten(sample) == _via_families(sample)
