"""The two test tiers: a test that starts a real peer is marked `peers`, so
`pytest -m "not peers"` is the fast tier (parsers, models, Pilot, in-process demo fleets) and
`pytest -m peers` the slow one (sshd, Slurm, ipmi_sim, sushy-tools, boinc-client, node_exporter,
tmux ...). Both rules are structural, so a new test cannot land in the wrong tier:

- collection marks every test that uses a peer fixture (PEER_FIXTURES), directly or through
  another fixture (pytest's closure of fixture names);
- every lab launcher calls `starting(what)` before it starts a program, which fails a test that
  starts a peer without the marker ("mark it @pytest.mark.peers or use a peer fixture").

In-process servers are not peers: the demo fleet's asyncssh servers and the HTTP power stand-ins
(tests/lab/power_http.py) need nothing installed and start in milliseconds.
"""
from __future__ import annotations

import pytest

# Fixtures that start (or hand out) a real peer program; tests/lab/*.py define them.
PEER_FIXTURES = frozenset({"ssh_lab", "slurm", "boinc_lab", "sushy", "prom_lab"})

_current: pytest.Item | None = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PEER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.peers)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    global _current
    _current = item
    try:
        yield
    finally:
        _current = None


def starting(peer: str) -> None:
    """Called by a lab launcher before it starts `peer`: the running test must be a peers test."""
    item = _current
    if item is not None and item.get_closest_marker("peers") is None:
        pytest.fail(f"{item.nodeid} starts {peer} but is not marked peers: use a peer fixture "
                    "(tests/lab/peers.py PEER_FIXTURES) or mark it @pytest.mark.peers",
                    pytrace=False)
