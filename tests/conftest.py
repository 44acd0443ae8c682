"""Shared test plumbing: where ../shared lives, and the skip-or-fail rule for missing peers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ROOST_SHARED", ROOT.parent / "shared"))
REQUIRE_PEERS = os.environ.get("ROOST_REQUIRE_PEERS") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip when a real peer or fixture is missing; fail instead under ROOST_REQUIRE_PEERS=1."""
    if condition:
        return
    if REQUIRE_PEERS:
        pytest.fail(f"required peer missing: {reason}", pytrace=False)
    pytest.skip(reason)

pytest_plugins = ["tests.lab.sshd", "tests.lab.ray", "tests.lab.prometheus"]
