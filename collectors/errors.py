"""RoostError: the base of every error roost raises on purpose (bad config, a refused power action,
a node that cannot be reached ...), as opposed to a bug.

Such an error is shown to the user as one line, `roost: <message>`, never as a traceback: the
message says what and where (file:line, the flag, the node). Catch RoostError to handle "anything
roost reports"; catch a subclass (ConfigError, TransportError, PowerError ...) to handle one kind.

It lives in collectors/ because the data plane never imports console/; console/errors.py re-exports
it, so `console.errors.RoostError` is the name the product uses (there is no `roost` package: the
distribution is called roost, its packages are collectors/ and console/).
"""
from __future__ import annotations

import unicodedata


def one_line(text: str) -> str:
    """text on one line: whitespace runs folded to a space, other control and format characters
    shown as \\xNN (messages carry what nodes and files said; they must not drive a terminal)."""
    folded = " ".join(text.split())
    return "".join(c if unicodedata.category(c)[0] != "C" else f"\\x{ord(c):02x}" for c in folded)


class RoostError(Exception):
    """An error roost reports as one line (see the module docstring)."""

    def one_line(self) -> str:
        """The message as one terminal-safe line, or the class name when there is no message."""
        return one_line(str(self)) or type(self).__name__
