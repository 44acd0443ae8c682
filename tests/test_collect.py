"""`roost collect` end to end: real sshd nodes from the lab, JSONL, SQLite, Prometheus, signals."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from collectors.sinks.sqlite import SqliteSink
from tests.conftest import SHARED, need
from tests.helpers.cli import ROOST, free_port, roost, wait_for

RPI4 = SHARED / "fixtures" / "boards" / "rpi4"


def sample_times(db, node: str) -> list[float]:
    """Every sample time stored for a node: the sink stores a series only when it changed (and
    once a minute), but some series of a live node (its cpu seconds) change at every sample."""
    import contextlib
    import sqlite3
    with contextlib.closing(sqlite3.connect(db)) as con:
        return [round(r[0], 3) for r in con.execute(
            "SELECT DISTINCT p.ts FROM points p JOIN series s ON s.id = p.series "
            "WHERE s.node = ? ORDER BY p.ts", (node,))]


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_count_3_jsonl_to_stdout_and_db(env, tmp_path, two_nodes):
    nodes, cfg = two_nodes
    db = tmp_path / "h.db"
    result = roost("--config", str(cfg), "collect", "--count", "3", "--jsonl", "-", "--db", str(db),
                   env=env)
    assert result.returncode == 0, result.stderr
    rows = jsonl(result.stdout)
    for node in nodes:
        mine = [r for r in rows if r["node"] == node.name]
        assert len(mine) == 3
        assert all(r["time"] > 0 and r["load1"] >= 0 and r["mem_total_bytes"] > 0 for r in mine)
        assert mine[0]["cpu_percent"] is None            # plain: rates from the second sample on
        assert all(0 <= r["cpu_percent"] <= 100 and r["net"]["lo"]["rx_bytes_per_s"] >= 0
                   and len(r["core_percent"]) >= 1 for r in mine[1:])
    for node in nodes:          # every sample stored: its time is in the database
        mine = [r for r in rows if r["node"] == node.name]
        assert sample_times(db, node.name) == [r["time"] for r in mine]


def test_sigterm_mid_run_flushes_every_sink_and_exits_0(env, tmp_path, two_nodes):
    nodes, cfg = two_nodes
    out, db = tmp_path / "out.jsonl", tmp_path / "h.db"
    proc = subprocess.Popen([str(ROOST), "--config", str(cfg), "collect", "--interval", "0.2",
                             "--jsonl", str(out), "--jsonl-format", "series", "--db", str(db)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: out.exists() and {r["node"] for r in jsonl(out.read_text())} ==
                 {n.name for n in nodes}, what="samples from both nodes")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    rows = jsonl(out.read_text())
    assert all('node_cpu_seconds_total{cpu="0",mode="user"}' in r for r in rows)   # series keys
    for node in nodes:
        written = [r["ts"] for r in rows if r["node"] == node.name]
        assert written and sample_times(db, node.name) == written  # nothing buffered was lost


def test_prometheus_endpoint_serves_the_fleet_then_sigint(env, tmp_path, two_nodes):
    nodes, cfg = two_nodes
    port = free_port()
    proc = subprocess.Popen([str(ROOST), "--config", str(cfg), "collect", "--interval", "0.2",
                             "--prometheus", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def scrape() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return ""
        return text if all(f'roost_node_up{{node="{n.name}"}} 1' in text for n in nodes) else ""

    try:
        wait_for(scrape, what="both nodes up on /metrics")
        url = f"http://127.0.0.1:{port}/nodes/{nodes[0].name}/metrics"
        with urllib.request.urlopen(url, timeout=2) as r:
            assert "\nnode_load1 " in r.read().decode()  # its own target: no node label
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_once_with_a_dead_node_reports_it_and_exits_1(env, tmp_path, two_nodes):
    nodes, cfg = two_nodes
    nodes[1].kill()
    started = time.monotonic()
    result = roost("--config", str(cfg), "collect", "--once", "--format", "json", env=env)
    assert result.returncode == 1
    assert [r["node"] for r in jsonl(result.stdout)] == [nodes[0].name]
    assert f"roost: {nodes[1].name}: no sample: connection refused" in result.stderr
    assert time.monotonic() - started < 15


def test_once_fleet_format_prometheus_labels_every_series(env, tmp_path, two_nodes):
    nodes, cfg = two_nodes
    result = roost("--config", str(cfg), "collect", "--once", "--format", "prometheus", nodes[0].name,
                   env=env)
    assert result.returncode == 0, result.stderr
    assert 'node_load1 ' in result.stdout and 'node="' not in result.stdout.replace(
        f'roost_sample_age_seconds{{node="{nodes[0].name}"}}', "")


def test_local_host_once_as_json(env):
    result = roost("collect", "--local", "--once", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    (row,) = jsonl(result.stdout)
    assert row["node"] == socket.gethostname() and row["mem_total_bytes"] > 0


def test_tree_count_with_default_db_in_state_dir(env):
    need(RPI4.is_dir(), f"board fixtures missing: {RPI4}")
    result = roost("collect", "--count", "2", "--interval", "0.05", "--procfs", str(RPI4 / "proc"),
                   "--sysfs", str(RPI4 / "sys"), env=env)
    assert result.returncode == 0, result.stderr
    sink = SqliteSink(Path(env["ROOST_STATE_DIR"]) / "roost.db")
    try:
        # a tree does not change: its load is stored once (the sink stores changes)
        assert [v for _, v in sink.history("rpi4", "node_load1")] == [0.52]
    finally:
        sink.close()


def test_usage_errors_one_line_exit_2(env, tmp_path):
    result = roost("collect", "--format", "json", "--local", env=env)
    assert result.returncode == 2 and "--format prints once" in result.stderr
    result = roost("collect", "--once", "--procfs", str(tmp_path / "nope"), env=env)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "not a directory" in result.stderr


def test_output_errors_are_one_line(env, tmp_path):
    result = roost("collect", "--once", "--local", "--jsonl", str(tmp_path / "no" / "x.jsonl"), env=env)
    assert result.returncode == 2 and result.stderr.startswith("roost: cannot open ")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = roost("collect", "--once", "--local", "--prometheus", f"127.0.0.1:{port}", env=env)
    assert result.returncode == 2 and "cannot serve /metrics" in result.stderr
    assert result.stderr.count("\n") == 1
    result = roost("collect", "--once", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "nothing to collect" in result.stderr


def test_closed_stdout_pipe_ends_quietly(env):
    need(RPI4.is_dir(), f"board fixtures missing: {RPI4}")
    proc = subprocess.run(f"'{ROOST}' collect --interval 0.05 --procfs '{RPI4}/proc' --sysfs "
                          f"'{RPI4}/sys' --jsonl - | head -n 1", shell=True, env=env,
                          capture_output=True, text=True, timeout=30)
    assert json.loads(proc.stdout)["node"] == "rpi4" and proc.stderr == ""


def test_conflicting_outputs_are_usage_errors(env):
    result = roost("collect", "--once", "--count", "2", "--local", env=env)
    assert result.returncode == 2 and "not allowed with argument --once" in result.stderr
    result = roost("collect", "--once", "--local", "--jsonl", "-", "--format", "json", env=env)
    assert result.returncode == 2 and "both write to stdout" in result.stderr


def test_duration_ends_an_endless_run_with_status_0(env):
    started = time.monotonic()
    result = roost("collect", "--local", "--duration", "0.5", "--interval", "0.1", "--format", "json",
                   env=env)
    assert result.returncode == 0, result.stderr
    assert len(jsonl(result.stdout)) == 1 and time.monotonic() - started < 10


def test_run_collect_is_reusable_in_process_and_off_the_main_thread(tmp_path, capsys):
    import threading

    from console.collect import CollectOptions, run_collect
    opts = CollectOptions(once=True, format="json", local=True, state_dir=str(tmp_path))
    result = []
    worker = threading.Thread(target=lambda: result.append(run_collect([], opts)))
    worker.start()
    worker.join(timeout=30)
    assert result == [0]
    (row,) = jsonl(capsys.readouterr().out)
    assert row["node"] == socket.gethostname()
