"""Shared test plumbing: where ../shared lives, the skip-or-fail rule for missing peers, the
fixtures several modules use, and the lab plugins (real peers, the peers tier).

Fixtures live here and in the tests/lab/ plugins; plain helpers in tests/helpers/. A test module
never imports another test module.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.cli import lab_config

# A property test fails on a counterexample, never on the clock: on a shared 2-core machine one
# example took 385 ms against hypothesis' 200 ms default deadline and failed a full run.
settings.register_profile("roost", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("roost")

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ROOST_SHARED", ROOT.parent / "shared"))
REQUIRE_PEERS = os.environ.get("ROOST_REQUIRE_PEERS") == "1"

pytest_plugins = ["tests.lab.peers", "tests.lab.sshd", "tests.lab.slurm", "tests.lab.boinc",
                  "tests.lab.power_redfish", "tests.lab.etchosts", "tests.lab.ray",
                  "tests.lab.prometheus"]


def need(condition: bool, reason: str) -> None:
    """Skip when a real peer or fixture is missing; fail instead under ROOST_REQUIRE_PEERS=1."""
    if condition:
        return
    if REQUIRE_PEERS:
        pytest.fail(f"required peer missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def env(tmp_path):
    """A clean environment for a `roost` subprocess: no ~/.ssh/config, no roost.toml, state
    under tmp."""
    home = tmp_path / "home"
    home.mkdir()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("ROOST_", "XDG_"))}
    keep.update(HOME=str(home), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
                ROOST_STATE_DIR=str(tmp_path / "state"))
    return keep


@pytest.fixture
def shared_dir():
    """A directory the lab's login user can write: the nodes share the console's file system."""
    path = Path(tempfile.mkdtemp(prefix="roost-jobs-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def two_nodes(ssh_lab, tmp_path):
    """Two lab sshd nodes and a roost.toml naming them."""
    nodes = ssh_lab.start(2)
    yield nodes, lab_config(tmp_path, ssh_lab, nodes)
    ssh_lab.stop(nodes)
