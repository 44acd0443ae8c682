"""End to end: the real `roost` console in tmux against real OpenSSH nodes (tests/lab/sshd.py).

Keys go in with `tmux send-keys`, the screen comes back with `capture-pane`; every wait is for
text to appear on screen (polled), never a fixed sleep.
"""
from __future__ import annotations

import time

import pytest

from tests.conftest import ROOT
from tests.lab.tmux import ROOST, Tmux, need_tmux, write_config

pytestmark = [pytest.mark.peers, pytest.mark.slow]


def test_console_in_tmux_against_sshd_nodes(ssh_lab, tmp_path):
    need_tmux()
    nodes = ssh_lab.start(3)
    names = [n.name for n in nodes]
    cfg = tmp_path / "roost.toml"
    write_config(cfg, nodes)
    rc = tmp_path / "rc"
    tmux = Tmux(tmp_path)
    # COLUMNS/LINES inherited from a CI shell would override the pane's real 200x50 size
    env = f"-u COLUMNS -u LINES TERM=xterm-256color ROOST_STATE_DIR={tmp_path / 'state'} HOME={tmp_path}"
    tmux.start(f"cd {ROOT} && env {env} {ROOST} --config {cfg}; echo $? > {rc}; sleep 30")
    try:
        tmux.wait_for("3/3 up")
        shown = tmux.wait_for("%")        # cpu % needs two samples
        assert all(name in shown for name in names)
        # heatmap, then back; events via the remapped key list
        tmux.keys("h")
        tmux.wait_for("metric: cpu")
        tmux.keys("f")
        tmux.wait_for("State")
        tmux.keys("E")
        tmux.wait_for("active alerts")
        tmux.keys("f")
        tmux.wait_for("State")
        # filter to one node
        tmux.keys("/")
        tmux.wait_for("filter: name")
        tmux.type(names[1])
        tmux.keys("Enter")
        shown = tmux.wait_for("showing 1")
        assert names[0] not in shown.split("State", 1)[1]
        tmux.keys("Escape")                     # filter box closed: escape clears the filter
        tmux.wait_for("showing 1", gone=True)
        # mark two nodes and run a command on them; grouped output comes back
        tmux.keys("Space", "Space")
        tmux.wait_for("2 marked")
        tmux.keys("x")
        tmux.wait_for("command, then enter")
        tmux.type("echo e2e-$((6*7))")
        tmux.keys("Enter")
        shown = tmux.wait_for("finished on 2 nodes, 0 failed")
        assert "e2e-42" in shown and "grouped" in shown and "(2) exit 0" in shown
        tmux.keys("Escape")
        tmux.wait_for("State")
        # `:theme` and the shell on a node: the app suspends, ssh runs, the app comes back
        tmux.type(":")
        tmux.wait_for("fleet heatmap events")   # the command line's placeholder
        tmux.type("theme roost-light")
        tmux.keys("Enter")
        tmux.wait_for("fleet heatmap events", gone=True)
        tmux.keys("t")
        tmux.wait_for("$")                      # the node's /bin/sh prompt
        tmux.type("echo shell-$((2+3)) && exit")
        tmux.keys("Enter")
        tmux.wait_for("ended (exit 0)")
        tmux.keys("C-q")
        deadline = time.monotonic() + 20
        while not rc.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rc.read_text().strip() == "0"
    finally:
        tmux.kill()
