"""Logging configured once (console/logs.py): stderr for the CLI, a private rotating file in the
state dir for the console and `roost serve`, nothing on stderr while the console owns it."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import warnings

import pytest

from console import logs
from console.logfile import PrivateRotatingFile
from tests.helpers.cli import ROOST, free_port, roost, wait_for


@pytest.fixture(autouse=True)
def reset_logging():
    yield
    logs.reset()


@pytest.mark.parametrize("verbose, env, default, want", [
    (0, {}, logging.WARNING, logging.WARNING),
    (1, {}, logging.WARNING, logging.INFO),
    (2, {}, logging.WARNING, logging.DEBUG),
    (0, {"ROOST_LOG": "debug"}, logging.WARNING, logging.DEBUG),
    (0, {"ROOST_LOG": " Error "}, logging.WARNING, logging.ERROR),
    (1, {"ROOST_LOG": "error"}, logging.WARNING, logging.INFO),      # the more verbose wins
    (0, {}, logging.INFO, logging.INFO),                            # the file's default
    (0, {"ROOST_LOG": "warning"}, logging.INFO, logging.WARNING),
])
def test_level_from_flag_and_environment(verbose, env, default, want):
    assert logs.level(verbose, env, default) == want


def test_an_unknown_roost_log_is_one_line(env):
    result = roost("nodes", "--no-check", env={**env, "ROOST_LOG": "loud"})
    assert result.returncode == 1
    assert result.stderr == ("roost: ROOST_LOG: expected one of debug, info, warning, error, "
                             "got 'loud'\n")


def test_cli_logs_warnings_as_one_line_on_stderr(capfd):
    logs.to_stderr(0, env={})
    logging.getLogger("roost.jobs").info("quiet by default")
    logging.getLogger("roost.jobs").warning("n1 down:\n\x1b[31mred\x1b[0m")
    assert capfd.readouterr().err == "roost: n1 down: \\x1b[31mred\\x1b[0m\n"
    logs.to_stderr(1, env={})        # configured again: replaced, not doubled
    logging.getLogger("roost.jobs").info("now shown")
    assert capfd.readouterr().err == "roost: now shown\n"


def test_console_logs_only_to_a_private_file(tmp_path, capfd):
    state = tmp_path / "state"
    path = logs.to_file(state, env={})
    logging.getLogger("roost.jobs").info("n1 unreachable")
    logging.getLogger("asyncssh").warning("a library's warning")
    logging.getLogger("asyncssh").info("a library's chatter")
    warnings.warn("a python warning", UserWarning, stacklevel=1)
    assert capfd.readouterr().err == ""           # Textual owns the terminal
    text = path.read_text()
    assert "INFO roost.jobs: n1 unreachable" in text
    assert "a library's warning" in text and "a python warning" in text
    assert "chatter" not in text
    assert path == state / "roost.log"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(state).st_mode & 0o777 == 0o700


def test_rotation_keeps_every_file_private(tmp_path):
    handler = PrivateRotatingFile(tmp_path / "roost.log", maxBytes=200, backupCount=2)
    log = logging.getLogger("roost.test.rotation")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for i in range(40):
            log.info("line %d of some length to fill the file", i)
    finally:
        log.removeHandler(handler)
        handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["roost.log", "roost.log.1", "roost.log.2"]
    assert all(os.stat(tmp_path / f).st_mode & 0o777 == 0o600 for f in files)
    assert "line 39 " in (tmp_path / "roost.log").read_text()


def test_an_existing_log_is_made_private_and_a_symlink_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "roost.log").write_text("old\n")
    (state / "roost.log").chmod(0o644)
    logs.to_file(state, env={})
    assert os.stat(state / "roost.log").st_mode & 0o777 == 0o600
    logs.reset()
    (state / "roost.log").unlink()
    target = tmp_path / "elsewhere"
    target.write_text("")
    (state / "roost.log").symlink_to(target)
    with pytest.raises(OSError):
        logs.to_file(state, env={})
    assert target.read_text() == ""


def test_serve_keeps_its_lines_in_the_state_dir(env, tmp_path):
    closed = free_port()      # nothing listens: the node stays down, serve keeps serving
    cfg = tmp_path / "roost.toml"
    cfg.write_text(f'[[nodes]]\nnames = "n1"\nhost = "127.0.0.1"\nport = {closed}\n')
    state = tmp_path / "state"
    proc = subprocess.Popen([str(ROOST), "--config", str(cfg), "serve", "--prometheus",
                             f"127.0.0.1:{free_port()}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        log = state / "roost.log"
        text = wait_for(lambda: log.exists() and "n1 down" in log.read_text() and log.read_text(),
                        what="serve's banner and n1 down in its log")
        assert f"INFO roost.cli: serving 1 node ({cfg}); " in text
        assert f"history in {state / 'roost.db'}" in text
        assert "INFO roost.collect: n1 down: " in text
        assert os.stat(log).st_mode & 0o777 == 0o600
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err
        assert err.count(f"roost: serving 1 node ({cfg})") == 1       # printed once, not logged twice
    finally:
        proc.kill()
        proc.wait()
