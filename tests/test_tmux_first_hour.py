"""The first hour in tmux (issue 11): `t` keeps the console running, and 80x24 works.

The shell runs as an asyncio subprocess while the app is suspended, so the event loop goes on:
in `roost demo` the SSH server the shell talks to lives in the console's own process (a
blocking wait hung forever), and on real sshd nodes the samplers and the scheduler the console
holds must keep working. Each test stays in the shell for 6+ s, proves samples arrived
meanwhile (the notice counts FleetState's samples), that a job submitted from the CLI during
the shell was placed by the console's scheduler, and that coming back raises no stale alert.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.lab.tmux import ROOST, Tmux, console_env, need_tmux, write_config

pytestmark = [pytest.mark.peers, pytest.mark.slow]
ENDED = r"shell on (\S+) ended \(exit 0\) after (\d+) s; (\d+) samples arrived meanwhile"
IN_SHELL = 6       # seconds the shell stays open (a sleep inside the remote shell)
WITH_JOB = 12      # ... when a job must also be placed and run meanwhile


def shell_session(tmux: Tmux, nodes: int, during=None, stay: int = IN_SHELL) -> None:
    """Press t, run a command that takes `stay` seconds, exit; check what came back."""
    tmux.keys("t")
    tmux.wait_for("roost: shell on")
    tmux.type(f"echo in-shell-$((6*7)); sleep {stay}; echo slept-$((2*3))")
    tmux.keys("Enter")
    tmux.wait_for("in-shell-42")
    if during is not None:
        during()                       # still inside the shell
    tmux.wait_for("slept-6", timeout=stay + 20)
    tmux.type("exit")
    tmux.keys("Enter")
    m = tmux.wait_match(ENDED)
    seconds, samples = int(m.group(2)), int(m.group(3))
    assert seconds >= stay
    # one sample per node per second kept arriving (allow 2 s for the first and last ticks)
    assert samples >= nodes * (seconds - 2), (seconds, samples)
    tmux.wait_for("State")             # the fleet table is back
    no_stale_alert(tmux)


def no_stale_alert(tmux: Tmux) -> None:
    """For 3 s (three 1 Hz ticks) after the shell no node turns stale; the events list agrees."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        shown = tmux.screen()
        assert "stale" not in shown and "no data for" not in shown, shown
        time.sleep(0.2)
    tmux.keys("e")
    shown = tmux.wait_for("active alerts")
    assert "no data for" not in shown and "stale" not in shown, shown


def test_shell_in_the_demo_keeps_the_console_running(tmp_path):
    need_tmux()
    tmux = Tmux(tmp_path, size=(120, 40))
    rc = tmp_path / "rc"
    tmux.start(f"cd {tmp_path} && env {console_env(tmp_path)} {ROOST} demo --nodes 4 --steady "
               f"--drop-every 0; echo $? > {rc}; sleep 30")
    try:
        tmux.wait_for("4/4 up")
        tmux.wait_for("%")
        shell_session(tmux, 4)
        tmux.keys("C-q")
        wait_file(rc)
        assert rc.read_text().strip() == "0"
    finally:
        tmux.kill()


def test_shell_on_sshd_nodes_keeps_sampling_and_scheduling(ssh_lab, tmp_path):
    need_tmux()
    nodes = ssh_lab.start(3)
    cfg = tmp_path / "roost.toml"
    write_config(cfg, nodes)
    with cfg.open("a") as f:           # a busy test machine's load must not hold the job back
        f.write("\n[jobs]\nuse_load = false\n")
    env = console_env(tmp_path)
    tmux = Tmux(tmp_path, size=(120, 40))
    tmux.start(f"cd {ROOT} && env {env} {ROOST} --config {cfg}; sleep 30")
    try:
        tmux.wait_for("3/3 up")
        tmux.wait_for("%")
        started = time.monotonic()
        shell_session(tmux, 3, during=lambda: job_runs_meanwhile(cfg, tmp_path, started),
                      stay=WITH_JOB)
    finally:
        tmux.kill()


def job_runs_meanwhile(cfg: Path, tmp: Path, started: float) -> None:
    """While the shell is open, a job queued from the CLI is placed and run by the console's
    scheduler (nobody else schedules this queue)."""
    env = {"ROOST_STATE_DIR": str(tmp / "state"), "HOME": str(tmp), "PATH": "/usr/bin:/bin"}
    job = subprocess.run([str(ROOST), "--config", str(cfg), "submit", "--parsable", "-D", "/tmp",
                          "-o", "/dev/null", "--wrap", "true"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert job.returncode == 0, job.stderr
    job_id = job.stdout.strip()
    deadline = started + WITH_JOB - 1       # inside the shell's sleep
    while True:
        out = subprocess.run([str(ROOST), "--config", str(cfg), "job", job_id, "--json"],
                             env=env, capture_output=True, text=True, timeout=60).stdout
        if "COMPLETED" in json.dumps(json.loads(out)):
            return
        assert time.monotonic() < deadline, f"job {job_id} not run during the shell: {out}"
        time.sleep(0.2)


def wait_file(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_80x24_walk_through_the_demo(tmp_path):
    need_tmux()
    tmux = Tmux(tmp_path, size=(80, 24))
    # started from the source tree, as a new user does: jobs must not land in it
    tmux.start(f"cd {ROOT} && env {console_env(tmp_path)} {ROOST} demo --nodes 6 --steady "
               f"--drop-every 0; sleep 30")
    try:
        tmux.wait_for("6/6 up")
        tmux.wait_for("%")
        shown = tmux.wait_for("? Help")
        assert "? Help" in shown and "j Jobs" in shown and "t Shell" in shown   # the footer
        assert all(word in shown for word in ("State", "Node", "CPU", "Load", "Mem", "Temp"))
        tmux.keys("Enter")                                      # the node: one graph a page
        tmux.wait_for("page 1/")         # pizero2-01 has no fan: four graphs, one a page
        tmux.wait_for("CPU per core")
        tmux.keys("]")
        tmux.wait_for("Temperatures")
        tmux.keys("Escape")
        tmux.wait_for("6/6 up")
        tmux.keys("j")
        tmux.wait_for("JobID")
        shown = tmux.wait_for("c Cancel")
        assert "s Submit" in shown
        tmux.keys("C", "?")              # C beside c: no power cycle here; ? lists jobs keys
        shown = tmux.wait_for("jobs — keys")
        assert "Power cycle" not in shown
        tmux.keys("Escape")
        tmux.wait_for("jobs — keys", gone=True)
        tmux.keys("s")
        tmux.wait_for("Submit a job")
        tmux.keys("Up", "Up")            # arrows move between fields: up from the first wraps
        tmux.wait_for("demo/work")       # to output, then the working directory: the demo's
        tmux.keys("Escape")              # closed: no field of the form left (at 80x24 the form
        tmux.wait_until(                 # has scrolled its title out of view by now)
            lambda shown: "(-D)" not in shown and "(-J)" not in shown and "c Cancel" in shown,
            "the submit form never closed", 30.0)
        tmux.keys("p")
        tmux.wait_for("power: 6 nodes")
        shown = tmux.wait_for("o Power on")
        assert "? Help" in shown
        tmux.keys("?")
        tmux.wait_for("power — keys")
        tmux.keys("End")                 # the help box scrolls to the : commands
        tmux.wait_for(":power [status")
        tmux.keys("Escape")
        tmux.keys("C-q")
    finally:
        tmux.kill()
