"""The `roost` command as a user runs it: a subprocess, exit codes, one-line errors.

Remote commands run against real OpenSSH servers from the lab (tests/lab/sshd.py) on 127.0.0.x.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED, need
from tests.helpers.cli import ROOST, lab_config, roost

RPI4 = SHARED / "fixtures" / "boards" / "rpi4"


def one_line_error(result) -> str:
    """The one stderr line: "roost: ..." or, for a usage error, "roost CMD: error: ..."."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(r"roost( [a-z-]+)*: ", lines[0]), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_help_and_usage_errors(env):
    assert roost("--help", env=env).returncode == 0
    result = roost("frobnicate", env=env)
    assert result.returncode == 2 and "invalid choice" in one_line_error(result)
    result = roost("collect", "--interval", "-3", env=env)
    assert result.returncode == 2 and "--interval" in one_line_error(result)
    result = roost("collect", "--prometheus", "nonsense", env=env)
    assert result.returncode == 2 and "HOST:PORT" in one_line_error(result)


def test_config_errors_exit_2_with_file_line_and_key(env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[defaults]\nport = "x"\n')
    result = roost("--config", str(bad), "nodes", "--no-check", env=env)
    assert result.returncode == 2
    assert one_line_error(result) == (f"roost: {bad}:2: defaults.port: expected a port number "
                                      "1-65535, got a string 'x'")
    env = {**env, "ROOST_CONFIG": str(tmp_path / "missing.toml")}
    result = roost("nodes", env=env)
    assert result.returncode == 2 and "config file not found" in one_line_error(result)


def test_no_config_suggests_demo(env, tmp_path):
    result = roost(env=env, cwd=tmp_path)
    assert result.returncode == 2 and "roost demo" in one_line_error(result)


def test_nodes_without_check_lists_inventory(env, tmp_path):
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "n[1-2]"\nhost = "127.0.0.{index}"\nuser = "pi"\n'
                   '[groups]\nrack = "n2"\n')
    result = roost("--config", str(cfg), "nodes", "--no-check", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "GROUPS", "ADDRESS", "STATE", "REASON"]
    assert lines[1].split() == ["n1", "-", "pi@127.0.0.1:22", "-"]
    assert lines[2].split() == ["n2", "rack", "pi@127.0.0.2:22", "-"]
    result = roost("--config", str(cfg), "nodes", "n9", env=env)
    assert result.returncode == 2 and "unknown node 'n9'" in one_line_error(result)


def test_collect_once_from_a_board_tree_prints_node_exporter_text(env):
    need(RPI4.is_dir(), f"board fixtures missing: {RPI4}")
    result = roost("collect", "--once", "--procfs", str(RPI4 / "proc"), "--sysfs", str(RPI4 / "sys"),
                   "--format", "prometheus", env=env)
    assert result.returncode == 0, result.stderr
    assert "node_load1 0.52\n" in result.stdout
    assert "# TYPE node_cpu_seconds_total counter" in result.stdout


def test_nodes_and_check_against_real_sshd(env, tmp_path, ssh_lab):
    a, b = ssh_lab.start(2)
    cfg = lab_config(tmp_path, ssh_lab, [a, b])
    result = roost("--config", str(cfg), "nodes", env=env)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows[a.name][2:4] == [f"roostlab@{a.host}:{a.port}", "up"]
    result = roost("--config", str(cfg), "check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{a.name}  ok" in result.stdout and f"{b.name}  ok" in result.stdout
    b.kill()
    result = roost("--config", str(cfg), "check", "--timeout", "5", env=env)
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith(b.name)]
    assert "FAILED: connection refused" in failed[0]
    result = roost("--config", str(cfg), "nodes", env=env)
    assert "down" in [line.split()[3] for line in result.stdout.splitlines() if line.startswith(b.name)]


def test_check_refuses_an_unknown_host_key_in_strict_mode(env, tmp_path, ssh_lab):
    node, = ssh_lab.start(1)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    cfg = lab_config(tmp_path, ssh_lab, [node])
    cfg.write_text(cfg.read_text().replace(str(ssh_lab.known_hosts), str(empty)))
    result = roost("--config", str(cfg), "check", env=env)
    assert result.returncode == 1 and "host key not in known_hosts" in result.stdout
    cfg.write_text(cfg.read_text().replace('connect_timeout', 'host_keys = "accept-new"\nconnect_timeout'))
    result = roost("--config", str(cfg), "check", env=env)
    assert result.returncode == 0, result.stdout
    store = Path(env["ROOST_STATE_DIR"]) / "known_hosts"
    assert f"[{node.host}]:{node.port}" in store.read_text()


def test_bare_roost_opens_the_console_with_config_fleet_and_theme(tmp_path, monkeypatch):
    app = pytest.importorskip("console.app")
    from collectors.fleet import Fleet
    from console.cli import main
    cfg = tmp_path / "roost.toml"
    cfg.write_text('theme = "from-config"\n[[nodes]]\nnames = "n[1-2]"\nhost = "127.0.0.{index}"\n')
    calls = []
    monkeypatch.setattr(app, "run_console", lambda config, source, theme=None:
                        calls.append((config, source, theme)) or 7)
    assert main(["--config", str(cfg), "--theme", "nord"]) == 7
    (config, source, theme), = calls
    assert config.names == ("n1", "n2") and isinstance(source, Fleet) and theme == "nord"
    assert list(source.targets) == ["n1", "n2"]


def test_unwritable_state_dir_is_one_line(env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = roost("--state-dir", str(blocker / "sub"), "collect", "--local", "--once", env=env)
    assert result.returncode == 1 and str(blocker) in one_line_error(result)


def test_check_reads_power_back_and_reports_a_broken_power_table(env, tmp_path, ssh_lab):
    nodes = ssh_lab.start(2)
    try:
        state = tmp_path / "relay"
        state.write_text("on\n")
        power = (f'power = {{ driver = "command", on = "echo on > {state}", '
                 f'off = "echo off > {state}", status = "cat {state}" }}\n')
        body = lab_config(tmp_path, ssh_lab, nodes).read_text()
        cfg = tmp_path / "power.toml"
        cfg.write_text(body.replace(f'port = {nodes[0].port}\n', f'port = {nodes[0].port}\n' + power, 1))
        done = roost("--config", str(cfg), "check", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{nodes[0].name}  power: on" in done.stdout
        assert state.read_text() == "on\n"          # a check switches nothing
        cfg.write_text(body.replace(f'port = {nodes[0].port}\n',
                                    f'port = {nodes[0].port}\n'
                                    'power = { driver = "expander", chip = "nope", pin = 0 }\n', 1))
        done = roost("--config", str(cfg), "check", env=env)
        assert done.returncode == 1
        assert "power: FAILED: node" in done.stdout and "power.chip" in done.stdout
    finally:
        ssh_lab.stop(nodes)


def test_a_reader_closing_stdout_ends_roost_quietly(env, tmp_path):
    many = tmp_path / "many.toml"
    many.write_text('[[nodes]]\nnames = "n[1-20000]"\nhost = "127.0.0.1"\n')
    exe = [str(ROOST)] if ROOST.exists() else [sys.executable, "-m", "console.cli"]
    proc = subprocess.Popen(exe + ["--config", str(many), "nodes", "--no-check"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()                       # like `roost nodes | head -1`
    _, err = proc.communicate(timeout=30)
    assert err == b"", err
    assert proc.returncode in (0, 141)


def test_a_bug_is_one_line_and_its_traceback_goes_to_a_0600_log(tmp_path, monkeypatch, capsys):
    """The top-level guard: an unexpected exception never prints a traceback on the terminal."""
    from console import cli
    state = tmp_path / "state"
    monkeypatch.setenv("ROOST_STATE_DIR", str(state))
    monkeypatch.chdir(tmp_path)

    def broken(args):
        raise KeyError("\x1b[2Jsurprise\nsecond line")
    monkeypatch.setattr(cli, "cmd_nodes", broken)
    assert cli.main(["--config", "/dev/null", "nodes"]) == cli.INTERNAL_ERROR
    out, err = capsys.readouterr()
    log = state / "crash.log"
    assert out == "" and err == f"roost: internal error: KeyError: '\\x1b[2Jsurprise\\nsecond line' " \
                                f"(details in {log})\n"
    assert "Traceback" in log.read_text() and "in broken" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600" and oct(state.stat().st_mode & 0o777) == "0o700"


def test_a_bug_with_no_writable_state_dir_still_is_one_line(tmp_path, monkeypatch, capsys):
    from console import cli
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("ROOST_STATE_DIR", str(blocker / "state"))
    monkeypatch.setattr(cli, "cmd_nodes", lambda args: 1 / 0)
    assert cli.main(["--config", "/dev/null", "nodes"]) == cli.INTERNAL_ERROR
    assert capsys.readouterr().err == ("roost: internal error: ZeroDivisionError: division by zero "
                                       "(no log could be written)\n")
