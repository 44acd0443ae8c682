"""`roost run NODESET -- CMD` against real sshd nodes: outputs grouped like clush -b."""
from __future__ import annotations

import io

import pytest

from console.runcmd import clean, exit_status, group_outputs, print_groups
from tests.helpers.cli import lab_config, roost


@pytest.fixture
def three_nodes(ssh_lab, tmp_path):
    nodes = ssh_lab.start(3)
    yield nodes, lab_config(tmp_path, ssh_lab, nodes)
    ssh_lab.stop(nodes)


def test_identical_outputs_are_grouped_and_exit_status_is_the_highest(env, three_nodes):
    nodes, cfg = three_nodes
    odd = nodes[2].name
    # SSH_CONNECTION ends with the server's port: only the odd node answers differently
    cmd = f'case "$SSH_CONNECTION" in *" {nodes[2].port}") echo other; exit 3;; esac; echo same'
    done = roost("--config", str(cfg), "run", ",".join(n.name for n in nodes), "--", cmd, env=env)
    assert done.returncode == 3, done.stderr
    from console.hostlist import fold
    text = done.stdout
    assert f"{fold([n.name for n in nodes[:2]])} (exit 0)" in text
    assert f"{odd} (exit 3)" in text
    assert text.count("same\n") == 1 and text.count("other\n") == 1
    assert text.index("same") > text.index("(exit 0)")


def test_unreachable_node_is_a_group_of_its_own(env, three_nodes):
    nodes, cfg = three_nodes
    nodes[1].kill()
    done = roost("--config", str(cfg), "run", "--timeout", "5", ",".join(n.name for n in nodes),
                 "--", "echo hi", env=env)
    assert done.returncode == 255
    assert f"{nodes[1].name} (failed: " in done.stdout
    assert done.stdout.count("hi\n") == 1      # the two live nodes share one block


def test_no_command_is_a_usage_error(env, three_nodes):
    _, cfg = three_nodes
    done = roost("--config", str(cfg), "run", "n1", env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_control_codes_are_neutralised_on_a_terminal():
    groups = group_outputs({"n1": (0, "\x1b]0;pwned\x07red\x1b[31m\n", "")})
    out = Tty()
    print_groups(groups, out)
    assert "\x1b" not in out.getvalue() and "red" in out.getvalue()
    assert clean("a\tb\n", out) == "a\tb\n"
    assert exit_status({"a": (0, "", ""), "b": (None, "", "x"), "c": (-9, "", "")}) == 255


def test_group_outputs_share_identical_results_biggest_group_first():
    from console.hostlist import fold
    groups = group_outputs({"n1": (0, "ok\n", ""), "n2": (0, "ok\n", ""), "n3": (2, "no\n", ""),
                            "n4": (None, "", "not connected")})
    assert [(fold(g.nodes), g.exit_status) for g in groups] == [("n[1-2]", 0), ("n3", 2),
                                                                 ("n4", None)]
