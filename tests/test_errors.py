"""RoostError: every exception class roost defines derives from it, and `roost` prints one as one
line (no traceback) from the top of main()."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import collectors
import console
from collectors.errors import RoostError, one_line
from console import cli
from console.errors import RoostError as ReExported


def product_modules() -> list[str]:
    names = []
    for package in (collectors, console):
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return names


def exception_classes() -> list[type[BaseException]]:
    found = []
    for name in product_modules():
        module = importlib.import_module(name)
        found += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, BaseException) and obj.__module__ == name]
    return found


def test_every_roost_exception_derives_from_roost_error():
    classes = exception_classes()
    names = {c.__name__ for c in classes}
    # the walk really found the product's errors (a broken walk must not pass vacuously)
    assert {"ConfigError", "TransportError", "PowerError", "SlurmError", "SpecError"} <= names
    assert [c.__qualname__ for c in classes if not issubclass(c, RoostError)] == []
    assert ReExported is RoostError


def test_subclasses_keep_their_old_bases():
    from console.jobs.spec import SpecError
    from console.keymap import KeymapError
    from console.power.base import PowerConfigError, PowerError
    assert issubclass(SpecError, ValueError) and issubclass(KeymapError, ValueError)
    assert issubclass(PowerConfigError, PowerError)


@pytest.mark.parametrize("message, line", [
    ("plain", "plain"),
    ("two\nlines\t and  runs", "two lines and runs"),
    ("node said \x1b[2J\x1b]0;pwned\x07 hi", "node said \\x1b[2J\\x1b]0;pwned\\x07 hi"),
    ("zero\u200bwidth", "zero\\x200bwidth"),
])
def test_one_line_folds_whitespace_and_shows_control_characters(message, line):
    assert one_line(message) == line
    assert RoostError(message).one_line() == line


def test_an_empty_message_names_the_error():
    class NodeGone(RoostError):
        pass
    assert NodeGone().one_line() == "NodeGone"


def test_main_prints_a_roost_error_as_one_line(monkeypatch, capsys):
    from console.power.base import PowerError

    def refuse(args):
        raise PowerError("n1: ipmi: BMC 127.0.0.1:623 did not answer\n(after 3 tries)")
    monkeypatch.setattr(cli, "_dispatch", refuse)
    assert cli.main(["nodes"]) == 1
    err = capsys.readouterr().err
    assert err == "roost: n1: ipmi: BMC 127.0.0.1:623 did not answer (after 3 tries)\n"
