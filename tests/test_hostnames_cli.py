"""`roost check | nodes | run | collect | serve` and the console on a roost.toml naming nodes by
hostname, as a user runs them: real subprocesses against real sshd nodes, names resolved for real.

The fleet: `roost-pi1` (an /etc/hosts name, hashed known_hosts entry from ssh-keyscan -H),
`localhost`, `pi3` (an ssh_config Host whose HostName is an /etc/hosts name, with HostKeyAlias),
`::1`, a plain IP; and two broken members: `gone` (a name that resolves nowhere) and `stray` (an
ssh_config alias whose HostKeyAlias names no known key). A broken member must never take the
others down: every command reports the good ones and says one line about each broken one.
"""
from __future__ import annotations

import json
import subprocess
import threading

import pytest

from tests.helpers.cli import ROOST, free_port, roost
from tests.helpers.hostnames import NOWHERE, keyscan

pytestmark = pytest.mark.peers

GOOD = ("pi1", "loc", "pi3", "six", "ip")
BROKEN = ("gone", "stray")


@pytest.fixture(scope="module")
def named(ssh_lab, etc_hosts_module, tmp_path_factory):
    """(roost.toml, ssh_config) for the fleet above."""
    tmp = tmp_path_factory.mktemp("named")
    a, b, ip = ssh_lab.start(3)
    local, = ssh_lab.start(1, host="127.0.0.1")
    v6, = ssh_lab.start(1, host="::1")
    etc_hosts_module.add("roost-pi1", a.host)
    etc_hosts_module.add("roost-pi3", b.host)
    key = b.host_public_key.export_public_key().decode().strip()
    kh = tmp / "known_hosts"
    kh.write_text(keyscan(a, "roost-pi1") + local.known_host_line_for("localhost")
                  + f"rack-pi3 {key}\n" + v6.known_host_line + ip.known_host_line)
    ssh = tmp / "ssh_config"
    ssh.write_text(f"Host pi3\n  HostName roost-pi3\n  Port {b.port}\n  HostKeyAlias rack-pi3\n"
                   f"Host stray\n  HostName roost-pi3\n  Port {b.port}\n  HostKeyAlias rack-pi9\n")
    cfg = tmp / "roost.toml"
    cfg.write_text(
        f'[defaults]\nuser = "roostlab"\nidentity = "{ssh_lab.client_key}"\n'
        f'known_hosts = "{kh}"\nconnect_timeout = 5\ninterval = 0.3\n'
        f'[[nodes]]\nnames = "pi1"\nhost = "roost-pi1"\nport = {a.port}\n'
        f'[[nodes]]\nnames = "loc"\nhost = "localhost"\nport = {local.port}\n'
        f'[[nodes]]\nnames = "pi3"\n'
        f'[[nodes]]\nnames = "six"\nhost = "::1"\nport = {v6.port}\n'
        f'[[nodes]]\nnames = "ip"\nhost = "{ip.host}"\nport = {ip.port}\n'
        f'[[nodes]]\nnames = "gone"\nhost = "{NOWHERE}"\nport = {a.port}\n'
        f'[[nodes]]\nnames = "stray"\n')
    return cfg, ssh


def use(named) -> list[str]:
    cfg, ssh = named
    return ["--config", str(cfg), "--ssh-config", str(ssh)]


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


def test_check_reports_every_named_node_and_one_line_for_the_broken(env, named):
    result = roost(*use(named), "check", env=env)
    no_traceback(result)
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines()[1:])
    assert {n: lines[n] for n in GOOD} == {n: "ok" for n in GOOD}, result.stdout
    assert lines["gone"].startswith(f"FAILED: cannot resolve host '{NOWHERE}'")
    assert lines["stray"].startswith("FAILED: host key not in known_hosts (")
    assert "for rack-pi9 (HostKeyAlias of roost-pi3)" in lines["stray"]
    assert result.returncode == 1
    good_only = roost(*use(named), "check", ",".join(GOOD), env=env)
    assert good_only.returncode == 0, good_only.stdout + good_only.stderr


def test_nodes_lists_named_nodes_up_and_the_broken_down(env, named):
    result = roost(*use(named), "nodes", env=env)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split(None, 4) for line in result.stdout.splitlines()[1:]}
    assert {n: rows[n][3] for n in GOOD} == {n: "up" for n in GOOD}, result.stdout
    assert rows["loc"][2].startswith("roostlab@localhost:") and rows["six"][2].startswith("roostlab@[::1]:")
    assert rows["gone"][3] == "down" and "cannot resolve host" in rows["gone"][4]
    assert rows["stray"][3] == "down" and "host key not in known_hosts" in rows["stray"][4]


def test_run_groups_the_named_nodes_and_reports_the_broken(env, named):
    result = roost(*use(named), "run", ",".join(GOOD + BROKEN), "--", "echo", "hello", env=env)
    no_traceback(result)
    assert result.returncode == 255     # like clush: a node that could not run the command
    assert "hello\n" in result.stdout
    assert "\nip,loc,pi[1,3],six (exit 0)\n" in result.stdout   # one group, folded
    assert f"gone (failed: cannot resolve host '{NOWHERE}'" in result.stdout
    assert "stray (failed: host key not in known_hosts" in result.stdout


def test_collect_once_samples_the_named_nodes(env, named, tmp_path):
    result = roost(*use(named), "collect", "--once", "--format", "json", "--db", str(tmp_path / "h.db"),
                   env=env, timeout=60)
    no_traceback(result)
    got = {json.loads(line)["node"] for line in result.stdout.splitlines()}
    assert got == set(GOOD), result.stdout + result.stderr
    assert result.returncode == 1 and "gone: no sample: cannot resolve host" in result.stderr
    assert "stray: no sample: host key not in known_hosts" in result.stderr


def test_scheduler_runs_jobs_on_named_nodes_beside_a_broken_one(env, named, tmp_path, shared_dir):
    cfg, ssh = named
    jobs_cfg = tmp_path / "roost.toml"    # lab nodes share this busy machine: ignore its load
    jobs_cfg.write_text(cfg.read_text() + "\n[jobs]\nuse_load = false\n")
    result = roost("--config", str(jobs_cfg), "--ssh-config", str(ssh), "submit", "--wait",
                   "-a", "1-10", "-o", str(shared_dir / "%a.out"), "--wrap",
                   "echo $SLURM_ARRAY_TASK_ID $SLURMD_NODENAME", env=env, timeout=120)
    no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = [(shared_dir / f"{i}.out").read_text().split() for i in range(1, 11)]
    assert [o[0] for o in outputs] == [str(i) for i in range(1, 11)]
    assert {o[1] for o in outputs} <= set(GOOD)     # never on `gone`


def test_serve_says_what_it_serves_and_logs_up_and_down(env, named, tmp_path):
    port = free_port()
    proc = subprocess.Popen([str(ROOST), *use(named), "serve", "--db", str(tmp_path / "s.db"),
                             "--prometheus", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    watchdog = threading.Timer(60, proc.kill)   # the line loop below ends at EOF at the latest
    watchdog.start()
    try:
        want = {f"roost: {n} up" for n in GOOD} | {"job scheduler: held"}
        for line in proc.stderr:             # waits on lines, ends at EOF
            seen.append(line.rstrip("\n"))
            if all(any(w in s for s in seen) for w in want) and \
                    all(any(f"{n} down" in s for s in seen) for n in BROKEN):
                break
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    text = "\n".join(seen)
    assert f"roost: serving 7 nodes ({named[0]}); metrics on http://127.0.0.1:{port}/metrics; " \
           f"history in {tmp_path / 's.db'}" in text
    assert f"roost: gone down: cannot resolve host '{NOWHERE}'" in text
    assert "Traceback" not in text


async def test_console_shows_the_named_fleet(named, tmp_path, monkeypatch):
    pytest.importorskip("textual")
    from collectors.fleet import Fleet
    from console.app import RoostApp
    from console.config import load_config
    from console.state import DOWN, UP, FleetState
    from tests.helpers.pilot import until
    cfg, ssh = named
    config = load_config(cfg, ssh_config=ssh, state_dir=tmp_path / "st")
    targets = config.targets()
    fleet = Fleet(targets)
    state = FleetState([t.name for t in targets], groups={t.name: t.groups for t in targets})
    app = RoostApp(state, fleet, targets=targets)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            def settled() -> bool:
                rows = {r.name: r for r in app.state.rows()}
                return all(rows[n].state == UP and rows[n].cpu is not None for n in GOOD) \
                    and all(rows[n].state == DOWN for n in BROKEN)
            await until(pilot, settled, what="named nodes up with cpu %, gone down")
            app.refresh_screen()
            await pilot.pause()
            assert sorted(app.screen.table._order) == sorted(GOOD + BROKEN)
            assert "cannot resolve host" in app.state.nodes["gone"].reason
    finally:
        await fleet.stop()
