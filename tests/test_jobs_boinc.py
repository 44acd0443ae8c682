"""BOINC tasks through a real boinc-client with real tasks (apisleep), over real sshd nodes.

Each client runs in the lab's network namespace; roost reaches it the way it reaches a real node's
client: a direct-tcpip channel on the node's SSH connection (see tests/lab/boinc.py).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from collectors.transport import connect
from console.config import load_config
from console.jobs import boinc_cli
from console.jobs.boinc import BoincError, BoincSettings, abort_task, boinc_tasks, resume_task, suspend_task

# hostile on purpose: XML metacharacters, quotes, shell syntax, non-ASCII
PROJECT = 'Lab <Test> & "Co" $(id) ünï'
NAMES = ["wu1_0", "wu2 'q' & \"d\" <x> $(touch /tmp/pwned) ünï"]

pytestmark = pytest.mark.timeout(120)


async def poll(check, timeout: float = 30.0):
    """check() until it returns something truthy; the BOINC client updates about once a second."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def tasks_of(conn, settings: BoincSettings, node: str = "n1"):
    view = await boinc_tasks({node: conn}, {node: settings})
    assert not view.notes, view.notes
    return {t.name: t for t in view.tasks}


@pytest.fixture
def node(ssh_lab):
    n, = ssh_lab.start(1)
    yield n
    n.stop()


async def test_lists_real_tasks_with_progress(boinc, node):
    client = boinc.start([(NAMES[0], 300), (NAMES[1], 600)], project=PROJECT)
    conn = await connect(node.target())
    try:
        first = await poll(lambda: _running(conn, client.settings()))
        assert set(first) == set(NAMES)
        t = first[NAMES[1]]
        assert (t.node, t.project_name, t.project_url) == ("n1", PROJECT, "http://lab.invalid/test/")
        assert t.deadline > time.time() + 6 * 86400
        later = await poll(lambda: _advanced(conn, client.settings(), first))
        assert later, "fraction_done and elapsed did not advance"
    finally:
        conn.close()


async def _running(conn, settings):
    tasks = await tasks_of(conn, settings)
    return tasks if all(t.state == "Running" and t.active_state == 1 for t in tasks.values()) else None


async def _advanced(conn, settings, before):
    now = await tasks_of(conn, settings)
    return all(now[n].fraction_done > before[n].fraction_done and now[n].elapsed > before[n].elapsed
               for n in NAMES)


async def test_suspend_then_resume_a_task(boinc, node):
    client = boinc.start([(NAMES[0], 300), (NAMES[1], 300)], project=PROJECT)
    s = client.settings()
    conn = await connect(node.target())
    try:
        await poll(lambda: _running(conn, s))
        await suspend_task(conn, "n1", "http://lab.invalid/test/", NAMES[1], s)
        got = await poll(lambda: _state(conn, s, NAMES[1], "Suspended by user"))
        assert got.suspended
        assert (await tasks_of(conn, s))[NAMES[0]].state == "Running"   # only that task
        await resume_task(conn, "n1", "http://lab.invalid/test/", NAMES[1], s)
        got = await poll(lambda: _state(conn, s, NAMES[1], "Running"))
        assert got and not got.suspended
    finally:
        conn.close()


async def _state(conn, settings, name, state):
    t = (await tasks_of(conn, settings)).get(name)
    return t if t is not None and t.state == state else None


async def test_abort_a_task(boinc, node):
    client = boinc.start([(NAMES[0], 300), (NAMES[1], 300)], project=PROJECT)
    s = client.settings()
    conn = await connect(node.target())
    try:
        await poll(lambda: _running(conn, s))
        pids = client.app_pids()
        await abort_task(conn, "n1", "http://lab.invalid/test/", NAMES[1], s)
        got = await poll(lambda: _state(conn, s, NAMES[1], "Aborted by user"))
        assert got and got.result_state == 6
        assert (await tasks_of(conn, s))[NAMES[0]].state == "Running"
        assert len(pids) == 2 and await poll(lambda: _fewer_apps(client, 2))
    finally:
        conn.close()


async def _fewer_apps(client, n):
    return len(client.app_pids()) < n


async def test_wrong_password_is_a_clear_error(boinc, node, tmp_path):
    client = boinc.start([(NAMES[0], 300)])
    bad = tmp_path / "boinc.pw"
    bad.write_text("not-the-password\n")
    bad.chmod(0o600)
    s = client.settings(password_file=str(bad))
    conn = await connect(node.target())
    try:
        view = await boinc_tasks({"n1": conn}, {"n1": s})
        assert view.tasks == ()
        assert view.notes["n1"] == f"BOINC client refused the GUI RPC password (from {bad})"
        with pytest.raises(BoincError) as err:
            await suspend_task(conn, "n1", "http://lab.invalid/test/", NAMES[0], s)
        assert "refused the GUI RPC password" in str(err.value)
        assert client.password not in str(err.value) and "not-the-password" not in str(err.value)
    finally:
        conn.close()


async def test_password_from_env_and_unreadable_auth_file(boinc, node, monkeypatch):
    client = boinc.start([(NAMES[0], 300)])
    conn = await connect(node.target())
    try:
        await poll(lambda: _running(conn, client.settings()))
        no_file = client.settings(auth_files=("/root/nope/gui_rpc_auth.cfg",))
        with pytest.raises(BoincError) as err:   # reads work without a password; control not
            await suspend_task(conn, "n1", "http://lab.invalid/test/", NAMES[0], no_file)
        assert "unauthorized" in err.value.message and "/root/nope/gui_rpc_auth.cfg" in err.value.message
        monkeypatch.setenv("ROOST_TEST_BOINC_PW", client.password)
        s = client.settings(password_env="ROOST_TEST_BOINC_PW", auth_files=())
        await suspend_task(conn, "n1", "http://lab.invalid/test/", NAMES[0], s)
        assert await poll(lambda: _state(conn, s, NAMES[0], "Suspended by user"))
    finally:
        conn.close()


async def test_node_without_boinc_is_a_note_not_a_failure(boinc, ssh_lab):
    client = boinc.start([(NAMES[0], 300)])
    n1, n2 = ssh_lab.start(2)
    conns = {"a": await connect(n1.target()), "b": await connect(n2.target())}
    try:
        closed = client.settings(port=_free_port())
        view = await boinc_tasks(conns, {"a": client.settings(), "b": closed})
        assert [t.node for t in view.tasks] == ["a"]
        assert set(view.notes) == {"b"}
        assert view.notes["b"].startswith(f"no BOINC client at 127.0.0.1:{closed.port} (")
    finally:
        for c in conns.values():
            c.close()
        ssh_lab.stop([n1, n2])


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the CLI against a roost.toml ---------------------------------------------------------

def _config(tmp_path, ssh_lab, nodes, boinc_ports, auth_files):
    lines = ["[defaults]", 'user = "roostlab"', f'identity = ["{ssh_lab.client_key}"]',
             f'known_hosts = ["{ssh_lab.known_hosts}"]', ""]
    for n in nodes:
        lines += ["[[nodes]]", f'names = "{n.name}"', f'host = "{n.host}"', f"port = {n.port}", ""]
    for n, port, auth in zip(nodes, boinc_ports, auth_files):
        lines += [f"[jobs.boinc.nodes.{n.name}]", f"port = {port}", f'auth_file = "{auth}"', ""]
    path = tmp_path / "roost.toml"
    path.write_text("\n".join(lines))
    return load_config(path)


def _cli(argv: list[str], config) -> int:
    parser = argparse.ArgumentParser(prog="roost")
    boinc_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.jobs_handler(args, config)


def test_cli_tasks_and_control_from_roost_toml(boinc, ssh_lab, tmp_path, capsys):
    client = boinc.start([(NAMES[0], 300), (NAMES[1], 300)], project=PROJECT)
    nodes = ssh_lab.start(2)
    try:
        config = _config(tmp_path, ssh_lab, nodes, [client.bridge_port, _free_port()],
                         [client.auth_file, "/nonexistent"])
        names = ",".join(n.name for n in nodes)
        assert _cli(["boinc", "tasks", names, "--json"], config) == 0
        out, err = capsys.readouterr()
        doc = json.loads(out)
        assert sorted(t["name"] for t in doc["tasks"]) == sorted(NAMES)
        assert {t["project_name"] for t in doc["tasks"]} == {PROJECT}
        assert list(doc["notes"]) == [nodes[1].name] and "no BOINC client" in err

        assert _cli(["boinc", "suspend", nodes[0].name, NAMES[1]], config) == 0
        out, _ = capsys.readouterr()
        assert out.startswith(f"{nodes[0].name}: suspended wu2 'q' & \"d\" <x>")
        assert _wait_cli_state(config, nodes[0].name, NAMES[1], "Suspended by user", capsys)
        assert _cli(["boinc", "resume", nodes[0].name, NAMES[1]], config) == 0
        assert capsys.readouterr().out.startswith(f"{nodes[0].name}: resumed ")
        assert _wait_cli_state(config, nodes[0].name, NAMES[1], "Running", capsys)

        assert _cli(["boinc", "abort", nodes[0].name, "no-such-task"], config) == 1
        assert "no task 'no-such-task'" in capsys.readouterr().err
        assert _cli(["boinc", "abort", nodes[0].name, NAMES[1], "--project", "http://other/"],
                    config) == 1                    # --project narrows the match to nothing
        assert "no task" in capsys.readouterr().err
        assert _cli(["boinc", "tasks", nodes[0].name], config) == 0
        table = capsys.readouterr().out.splitlines()
        assert table[0].split() == list(boinc_cli.COLUMNS)
        assert any(NAMES[1] in line and "Running" in line for line in table[1:])
    finally:
        ssh_lab.stop(nodes)


def _wait_cli_state(config, node, name, state, capsys, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _cli(["boinc", "tasks", node, "--json"], config)
        doc = json.loads(capsys.readouterr().out)
        if any(t["name"] == name and t["state"] == state for t in doc["tasks"]):
            return True
        time.sleep(0.2)
    return False


def test_password_never_in_argv(boinc):
    client = boinc.start([(NAMES[0], 300)])
    for pid in [client.proc.pid, client.bridge.pid, *client.app_pids()]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert client.password.encode() not in cmdline
    assert os.stat(client.auth_file).st_mode & 0o077 == 0


# ---- the console's Fleet: its live connections carry the GUI RPC channel ------------------

async def test_fleet_tasks_and_control_over_the_fleets_connections(boinc, ssh_lab):
    from collectors.fleet import Fleet
    from console.jobs.boinc import fleet_control, fleet_tasks
    client = boinc.start([(NAMES[0], 300)], project=PROJECT)
    up, = ssh_lab.start(1)
    down = up.target(name="gone", port=_free_port())          # nothing listens: never connects
    jobs = {"nodes": {up.name: {"port": client.bridge_port,      # [jobs.boinc]
                                "auth_file": str(client.auth_file)}}}
    fleet = Fleet([up.target(), down])
    await fleet.start()
    try:
        assert await poll(lambda: _connected(fleet, up.name))
        view = await fleet_tasks(fleet, jobs)
        assert [(t.node, t.name, t.project_name) for t in view.tasks] == [(up.name, NAMES[0], PROJECT)]
        assert dict(view.notes) == {"gone": "not connected"}
        await fleet_control(fleet, up.name, "suspend", "http://lab.invalid/test/", NAMES[0], jobs)
        assert await poll(lambda: _fleet_state(fleet, jobs, "Suspended by user"))
        with pytest.raises(BoincError, match="gone: not connected"):
            await fleet_control(fleet, "gone", "resume", "http://lab.invalid/test/", NAMES[0], jobs)
    finally:
        await fleet.stop()
        up.stop()


async def _connected(fleet, node):
    return fleet.connection(node) is not None


async def _fleet_state(fleet, jobs, state):
    from console.jobs.boinc import fleet_tasks
    view = await fleet_tasks(fleet, jobs)
    return any(t.state == state for t in view.tasks)


def test_roost_entry_point_boinc_tasks(boinc, ssh_lab, tmp_path):
    """The real `roost` program: `roost boinc tasks` through console/cli.py."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    roost = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]
    helptext = subprocess.run(roost + ["--help"], capture_output=True, text=True, cwd=ROOT).stdout
    assert " boinc " in helptext
    client = boinc.start([(NAMES[1], 300)], project=PROJECT)
    node, = ssh_lab.start(1)
    try:
        _config(tmp_path, ssh_lab, [node], [client.bridge_port], [client.auth_file])
        run = subprocess.run(roost + ["--config", str(tmp_path / "roost.toml"), "--state-dir",
                                      str(tmp_path / "state"), "boinc", "tasks", node.name],
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert run.returncode == 0, run.stderr
        assert NAMES[1] in run.stdout and PROJECT in run.stdout and run.stderr == ""
        assert client.password not in run.stdout + run.stderr
    finally:
        node.stop()
