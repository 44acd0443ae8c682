"""The CLI's argparse flavour: a usage error is ONE line naming the command and its --help.

    roost submit: error: argument --time: expected ... (see roost submit --help)

Subparsers made from a Parser are Parsers too (argparse copies the class), so every
subcommand, and every nested one, answers the same way, with exit status 2.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

USAGE_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str, prog: str | None = None) -> NoReturn:
        self.exit(USAGE_ERROR, f"{usage_line(prog or self.prog, message)}\n")

    # typeshed overloads these on the namespace's class; roost only ever parses into a Namespace
    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        # argparse hands a subcommand's unknown words up to the top parser, which would report
        # them as its own: remember the innermost command that left them (it returns first)
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(parsed, _LEFT_BY):
            setattr(parsed, _LEFT_BY, self.prog)
        return parsed, extras

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        prog = vars(parsed).pop(_LEFT_BY, None)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}", prog=prog)
        return parsed


_LEFT_BY = "_roost_unrecognized_by"


def usage_line(prog: str, message: str) -> str:
    """"roost X: error: MESSAGE (see roost X --help)", on one line whatever message holds."""
    text = " ".join(message.split())
    return f"{prog}: error: {text} (see {prog} --help)"
