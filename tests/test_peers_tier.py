"""The peers tier (tests/lab/peers.py) is structural: a test using a peer fixture is marked at
collection, and a lab launcher called from an unmarked test fails it with the fix in one line."""
from __future__ import annotations

pytest_plugins = ["pytester"]
# the inner runs share this process: keep plugins with session-wide state out of them
QUIET = ("-q", "-p", "no:cacheprovider", "-p", "no:textual-snapshot")

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\nmarkers =\n    peers: a real peer\n"
CONFTEST = """
import pytest
pytest_plugins = ["tests.lab.peers"]

@pytest.fixture(scope="session")
def ssh_lab():
    return "a lab"

@pytest.fixture
def two_nodes(ssh_lab):          # a peer fixture reached through another fixture
    return ssh_lab
"""


def test_tests_using_peer_fixtures_leave_the_fast_tier(pytester):
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("""
        def test_direct(ssh_lab): pass
        def test_through_a_fixture(two_nodes): pass
        def test_pure(): pass
    """)
    fast = pytester.runpytest("-m", "not peers", *QUIET)
    fast.assert_outcomes(passed=1, deselected=2)
    slow = pytester.runpytest("-m", "peers", *QUIET)
    slow.assert_outcomes(passed=2, deselected=1)


def test_starting_a_peer_from_an_unmarked_test_fails_it(pytester):
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("""
        import pytest
        from tests.lab.peers import starting

        def test_unmarked():
            starting("ipmi_sim")

        @pytest.mark.peers
        def test_marked():
            starting("ipmi_sim")

        def test_with_a_peer_fixture(ssh_lab):
            starting("sshd")
    """)
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_unmarked starts ipmi_sim but is not marked peers: use a peer "
                                 "fixture*or mark it @pytest.mark.peers*"])
