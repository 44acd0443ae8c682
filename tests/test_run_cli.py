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


# ---------------------------------------------------------------- choosing nodes (clush habits)

@pytest.fixture
def grouped_nodes(ssh_lab, tmp_path):
    """Three lab nodes; group `pair` holds the first two."""
    nodes = ssh_lab.start(3)
    extra = f'[groups]\npair = "{nodes[0].name},{nodes[1].name}"\n'
    yield [n.name for n in nodes], lab_config(tmp_path, ssh_lab, nodes, extra)
    ssh_lab.stop(nodes)


def ran_on(done) -> set[str]:
    """The nodes that printed `hi` under -L (`NODE: hi`)."""
    assert done.returncode == 0, done.stdout + done.stderr
    return {line.split(": ")[0] for line in done.stdout.splitlines() if line.endswith(": hi")}


@pytest.mark.peers
@pytest.mark.parametrize("argv, chosen", [
    (["--", "echo", "hi"], {0, 1, 2}),              # NODESET defaults to all
    (["all", "--", "echo hi"], {0, 1, 2}),
    (["@all", "--", "echo hi"], {0, 1, 2}),
    (["-w", "{0}", "echo", "hi"], {0}),               # clush: with -w every word is the command
    (["-w", "{0}", "-w", "{2}", "--", "echo hi"], {0, 2}),
    (["-g", "pair", "--", "echo hi"], {0, 1}),
    (["@pair", "--", "echo hi"], {0, 1}),
    (["-x", "{1}", "--", "echo hi"], {0, 2}),         # exclude from all
    (["@all", "-x", "@pair", "--", "echo hi"], {2}),  # options after the NODESET count too
    (["-a", "-x", "{0},{2}", "echo", "hi"], {1}),
])
def test_nodes_are_chosen_as_clush_does(env, grouped_nodes, argv, chosen):
    names, cfg = grouped_nodes
    argv = [a.format(*names) for a in argv]
    done = roost("--config", str(cfg), "run", "-L", *argv, env=env)
    assert ran_on(done) == {names[i] for i in chosen}


@pytest.mark.parametrize("argv, message", [
    (["--"], "roost run: error: no command given (roost run [NODESET] -- CMD; NODESET defaults to all)"),
    (["n1"], "roost run: error: no command given"),
    (["-x", "n[1-2]", "--", "true"], "roost run: error: no nodes left: -x n[1-2] leaves out every node of all"),
    (["n1", "n2", "--", "true"], "roost run: error: unrecognized arguments: n2 (see roost run --help)"),
    (["@rack9", "--", "true"], "roost: unknown group @rack9 (known: all, pair)"),
    (["-w", "n9", "true"], "roost: unknown node 'n9'"),
])
def test_bad_choices_are_one_line(env, tmp_path, argv, message):
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "n[1-2]"\nhost = "127.0.0.{index}"\n[groups]\npair = "n[1-2]"\n')
    done = roost("--config", str(cfg), "run", *argv, env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(message), done.stderr
