"""Flags as a new user meets them: --version, and a usage error of ANY subcommand is one line
that names the subcommand and where its help is."""
from __future__ import annotations

import argparse
import re

import pytest

from console.cli import build_parser, main
from tests.helpers.cli import roost


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (sub)command path of the real parser, nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name)
                yield from commands(sub, (*path, name))


ALL = sorted(set(commands(build_parser())))


def test_the_walk_sees_every_subcommand():
    names = {p[0] for p in ALL}
    assert {"run", "submit", "job", "power", "collect", "boinc"} <= names
    assert any(len(p) == 2 for p in ALL)          # nested ones (boinc tasks ...) too


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_a_usage_error_names_the_command_and_its_help(path, capsys):
    with pytest.raises(SystemExit) as done:
        main([*path, "--no-such-flag"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    prog = " ".join(("roost", *path))
    assert err.count("\n") == 1, err
    assert re.fullmatch(rf"{re.escape(prog)}: error: .+ \(see {re.escape(prog)} --help\)\n", err), err


def test_version_and_a_top_level_error_from_the_real_program(env):
    done = roost("--version", env=env)
    assert done.returncode == 0 and re.fullmatch(r"roost \d+\.\d+\S*\n", done.stdout), done.stdout
    done = roost("frobnicate", env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("roost: error: argument COMMAND: invalid choice: 'frobnicate'")
    assert done.stderr.endswith(" (see roost --help)\n") and done.stderr.count("\n") == 1
    done = roost("submit", "--array", env=env)
    assert done.returncode == 2
    assert done.stderr == ("roost submit: error: argument -a/--array: expected one argument "
                           "(see roost submit --help)\n")


def helpless(parser: argparse.ArgumentParser, path=("roost",)):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from helpless(sub, (*path, name))
        elif not action.help:
            yield " ".join(path), action.option_strings or action.dest


def test_every_flag_and_argument_has_a_help_line(capsys):
    assert list(helpless(build_parser())) == []
    with pytest.raises(SystemExit):
        main(["submit", "--help"])
    text = " ".join(capsys.readouterr().out.split())      # however argparse wrapped it
    for flag in ("--job-name NAME", "--array INDICES", "--dependency DEPS", "--time TIME",
                 "--nodelist NODELIST", "--export VARS", "--requeue", "--mem SIZE"):
        assert flag in text
    assert "%N to run at most N tasks at once" in text and "afterok:ID" in text
