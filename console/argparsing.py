"""The CLI's argparse flavour: a usage error is ONE line naming the command and its --help.

    roost submit: error: argument --time: expected ... (see roost submit --help)

Subparsers made from a Parser are Parsers too (argparse copies the class), so every
subcommand, and every nested one, answers the same way, with exit status 2.
"""
from __future__ import annotations

import argparse

USAGE_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(USAGE_ERROR, f"{usage_line(self.prog, message)}\n")


def usage_line(prog: str, message: str) -> str:
    """"roost X: error: MESSAGE (see roost X --help)", on one line whatever message holds."""
    text = " ".join(message.split())
    return f"{prog}: error: {text} (see {prog} --help)"
