"""`roost demo` from the command line: headless output, an inventory other commands can use,
and one-line errors. Each test runs the real `roost` entry point in a subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

ROOST = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]


def roost(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*ROOST, *args], capture_output=True, text=True, timeout=90, **kw)


def test_headless_demo_prints_jsonl_for_every_node(tmp_path):
    r = roost("--state-dir", str(tmp_path), "demo", "--headless", "--nodes", "4", "--seed", "1",
              "--steady", "--count", "2", "--jsonl", "-")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 8
    assert {row["node"] for row in rows} == {"rpi4-01", "rpi4-02", "pizero2-01", "pizero2-02"}
    zero = next(row for row in rows if row["node"] == "pizero2-01")
    assert isinstance(zero["flags"], list)               # a Pi reports its firmware flags
    assert "simulated nodes on 127.0.0.1" in r.stderr


def test_headless_demo_without_an_output_keeps_history_in_the_demo_dir(tmp_path):
    r = roost("--state-dir", str(tmp_path), "demo", "--headless", "--nodes", "2",
              "--profile", "rk1", "--steady", "--count", "1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "demo" / "roost.db").exists()
    assert not (tmp_path / "roost.db").exists()      # the real fleet's history stays clean


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > end:
            raise AssertionError(f"{path} never appeared: {proc.communicate()[1]}")
        time.sleep(0.05)


def test_written_inventory_drives_other_roost_commands(tmp_path):
    inventory = tmp_path / "fleet" / "roost.toml"
    demo = subprocess.Popen(
        [*ROOST, "--state-dir", str(tmp_path / "state"), "demo", "--headless", "--nodes", "6",
         "--steady", "--write-inventory", str(inventory), "--jsonl", os.devnull],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(inventory, demo)
        assert (tmp_path / "fleet" / "roost.known_hosts").exists()
        nodes = roost("--config", str(inventory), "nodes")
        assert nodes.returncode == 0, nodes.stderr
        rows = [line.split() for line in nodes.stdout.splitlines()[1:]]
        assert len(rows) == 6 and all("up" in row for row in rows)
        once = roost("--config", str(inventory), "collect", "--once", "--format", "json")
        assert once.returncode == 0, once.stderr
        assert "rockpro64-01" in once.stdout or "rpi5-01" in once.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=30)
    assert demo.returncode == 0, err


@pytest.mark.parametrize("args, message", [
    (("--profile", "pi9"), "unknown profile 'pi9'"),
    (("--nodes", "0"), "expected a whole number"),
    (("--boot-delay", "soon"), "expected seconds"),
])
def test_bad_demo_arguments_are_one_line(tmp_path, args, message):
    r = roost("--state-dir", str(tmp_path), "demo", "--headless", *args)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_random_drop_offs_show_up_as_down_nodes(tmp_path):
    r = roost("--state-dir", str(tmp_path), "demo", "--headless", "--nodes", "3", "--seed", "4",
              "--drop-every", "0.3", "--duration", "3", "--jsonl", os.devnull)
    assert r.returncode == 0, r.stderr
    assert " down: " in r.stderr             # collect notes each node that went away
