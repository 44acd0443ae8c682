"""`roost serve`: one process collects (SQLite, /metrics) and holds the job scheduler, on the same
connections, against real sshd nodes; CLI clients submit to it."""
from __future__ import annotations

import signal
import subprocess
import urllib.request

from collectors.sinks.sqlite import SqliteSink
from tests.helpers.cli import ROOST, free_port, roost, wait_for


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return ""


def test_serve_collects_schedules_and_stops_cleanly(env, tmp_path, two_nodes, shared_dir):
    nodes, cfg = two_nodes
    # lab nodes are this (busy, shared) machine: its load must not read as the nodes' own work
    cfg.write_text(cfg.read_text() + "\n[jobs]\nuse_load = false\n")
    port, db = free_port(), tmp_path / "hist.db"
    out_dir = shared_dir
    proc = subprocess.Popen([str(ROOST), "--config", str(cfg), "serve", "--db", str(db),
                             "--prometheus", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: all(f'roost_node_up{{node="{n.name}"}} 1\n' in scrape(port) for n in nodes),
                 what="both nodes up on /metrics")
        sub = roost("--config", str(cfg), "submit", "--parsable", "-a", "1-4", "-D", str(out_dir),
                    "--wrap", "echo $SLURM_ARRAY_TASK_ID", env=env)
        assert sub.returncode == 0, sub.stderr
        job = sub.stdout.strip()
        # the daemon schedules: no --wait here, the client only writes the queue
        def finished() -> bool:
            text = roost("--config", str(cfg), "job", job, env=env).stdout
            return "COMPLETED" in text and not ("PENDING" in text or "RUNNING" in text)
        try:
            wait_for(finished, timeout=60, what=f"job {job} done under roost serve")
        except AssertionError:
            proc.terminate()
            detail = roost("--config", str(cfg), "job", job, env=env).stdout
            raise AssertionError(f"{detail}\nserve said: {proc.communicate(timeout=20)[1]}") from None
        for i in range(1, 5):
            assert (out_dir / f"slurm-{job}_{i}.out").read_text() == f"{i}\n"
        # the fleet endpoint carries the queue (its count is read at most every 5 s)
        wait_for(lambda: 'roost_jobs_tasks{state="running"} 0\n' in scrape(port)
                 and 'roost_jobs_tasks{state="pending"} 0\n' in scrape(port), timeout=15,
                 what="the job queue on /metrics")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    sink = SqliteSink(db)
    try:
        assert sink.history(nodes[0].name, "node_load1", 0), "serve kept no history"
    finally:
        sink.close()


def test_serve_with_slurm_backend_holds_no_builtin_scheduler(env, tmp_path, two_nodes):
    nodes, cfg = two_nodes
    cfg.write_text(cfg.read_text() + f'\n[jobs]\nbackend = "slurm"\ncontroller = "{nodes[0].name}"\n')
    port = free_port()
    proc = subprocess.Popen([str(ROOST), "--config", str(cfg), "serve", "--db", str(tmp_path / "h.db"),
                             "--prometheus", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: all(f'roost_node_up{{node="{n.name}"}} 1\n' in scrape(port) for n in nodes),
                 what="both nodes up on /metrics")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    from pathlib import Path
    state = Path(env["ROOST_STATE_DIR"])
    assert not (state / "scheduler.lock").exists() and not (state / "jobs.db").exists()


def _shard(env, cfg, serve_toml: str, controller: str):
    """`roost serve` on cfg plus a [serve] table, Slurm scheduling (no built-in scheduler), no
    --db: (process, port)."""
    cfg.write_text(cfg.read_text() + f'\n[serve]\n{serve_toml}'
                   f'[jobs]\nbackend = "slurm"\ncontroller = "{controller}"\n')
    port = free_port()
    proc = subprocess.Popen([str(ROOST), "--config", str(cfg), "serve", "--prometheus",
                             f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, port


def _target_text(port: int, node: str, seen: list[str]) -> bool:
    """A node's target read into seen[0], once it carries node_load1."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/nodes/{node}/metrics", timeout=2) as r:
            seen[:] = [r.read().decode()]
            return "\nnode_load1 " in seen[0]
    except OSError:
        return False


def test_a_shard_without_history_serves_its_targets_and_writes_no_database(env, two_nodes):
    """[serve] history = false (a shard Prometheus scrapes): per-node targets, no roost.db."""
    from pathlib import Path
    nodes, cfg = two_nodes
    proc, port = _shard(env, cfg, "history = false\n", nodes[0].name)
    try:
        wait_for(lambda: _target_text(port, nodes[1].name, []), what="a node's own target")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert not (Path(env["ROOST_STATE_DIR"]) / "roost.db").exists()


def _serve(cfg, env, tmp_path, tag: str):
    port = free_port()
    proc = subprocess.Popen([str(ROOST), "--config", str(cfg), "serve", "--db",
                             str(tmp_path / f"{tag}.db"), "--prometheus", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, port


def test_serve_reads_power_back_and_says_who_holds_the_scheduler(env, tmp_path, two_nodes):
    """The fleet /metrics carries each powered node's read-back state (a real command driver
    over a state file the test flips) and whether this serve holds the scheduler or stands by."""
    nodes, cfg = two_nodes
    state = tmp_path / "relay"
    state.write_text("on\n")
    power = (f'power = {{ driver = "command", on = "echo on > {state}", '
             f'off = "echo off > {state}", status = "cat {state}" }}\n')
    first = f"port = {nodes[0].port}\n"
    cfg.write_text(cfg.read_text().replace(first, first + power, 1)
                   + "\n[power]\nstatus_every = 0.3\n[jobs]\nuse_load = false\n")
    n1, n2 = nodes[0].name, nodes[1].name
    holder, port = _serve(cfg, env, tmp_path, "a")
    standby = None
    try:
        on = f'roost_node_power_state{{state="on",driver="command",node="{n1}"}} 1\n'
        wait_for(lambda: on in scrape(port) and "roost_scheduler_held 1\n" in scrape(port),
                 timeout=30, what="power on and the scheduler held on /metrics")
        text = scrape(port)
        assert f'roost_node_power_state{{state="off",driver="command",node="{n1}"}} 0\n' in text
        power_lines = [line for line in text.splitlines() if line.startswith("roost_node_power")]
        assert power_lines and not any(f'node="{n2}"' in line for line in power_lines)
        state.write_text("off\n")
        wait_for(lambda: f'roost_node_power_state{{state="off",driver="command",node="{n1}"}} 1\n'
                 in scrape(port), timeout=15, what="the relay read back as off")
        standby, port2 = _serve(cfg, env, tmp_path, "b")
        wait_for(lambda: "roost_scheduler_held 0\n" in scrape(port2), timeout=30,
                 what="the second serve standing by")
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(timeout=30) == 0, holder.stderr.read()
        wait_for(lambda: "roost_scheduler_held 1\n" in scrape(port2), timeout=30,
                 what="the standby taking the scheduler over")
    finally:
        for proc in (holder, standby):
            if proc is not None:
                proc.kill()
                proc.wait()


def test_a_shard_serves_only_the_collectors_its_config_names(env, two_nodes):
    """[serve] collectors / disable_collectors, as node_exporter's --collector.NAME flags: a real
    node's target carries those collectors' series and timings only, and the banner says so."""
    import re
    nodes, cfg = two_nodes
    proc, port = _shard(env, cfg, 'history = false\n'
                        'collectors = ["cpu", "loadavg", "meminfo", "netdev", "hwmon"]\n'
                        'disable_collectors = ["hwmon"]\n', nodes[0].name)
    seen: list[str] = []
    try:
        wait_for(lambda: _target_text(port, nodes[1].name, seen), what="a node's own target")
        text = seen[0]
        names = set(re.findall(r"^([a-zA-Z_]+)[{ ]", text, re.M))
        assert {"node_cpu_seconds_total", "node_memory_MemTotal_bytes",
                "node_network_receive_bytes_total"} <= names
        assert not [n for n in names if n.startswith(("node_netstat", "node_vmstat", "node_hwmon",
                                                      "node_filesystem", "node_uname"))], names
        timed = set(re.findall(r'node_scrape_collector_success\{collector="(\w+)"\}', text))
        assert timed == {"cpu", "meminfo", "netdev"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        said = proc.stderr.read()
        assert "node targets serve 4 of " in said and "no history (Prometheus keeps it)" in said
        assert "history in None" not in said
    finally:
        proc.kill()
        proc.wait()
