"""Text that came from nodes, users or exceptions, made fit to show. UI-free, pure.

safe()/safe_line() strip terminal control sequences (a node named "\\x1b[2J" must not drive the
user's terminal), truncate() caps long command output and says how much was cut, error_line()
turns an exception into the one line roost prints.
"""
from __future__ import annotations

import re

_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
                      r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """Drop terminal control sequences and control characters (keeps newline and tab)."""
    return _CONTROL.sub("", text)


def safe_line(text: str) -> str:
    return safe(text).replace("\n", " ").replace("\t", " ")


def plural(n: int, word: str) -> str:
    """`1 node`, `3 nodes`, `0 nodes` (English -s plurals: the words roost counts)."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def truncate(text: str, max_lines: int = 200, max_chars: int = 20000) -> str:
    """Cap very long output and say how much was cut."""
    lines = text.splitlines()
    cut = text
    if len(lines) > max_lines:
        cut = "\n".join(lines[:max_lines])
    if len(cut) > max_chars:
        cut = cut[:max_chars]
    if cut != text:
        hidden = len(text) - len(cut)
        cut += f"\n… output truncated ({hidden} more characters, {len(lines)} lines in all)"
    return cut


def error_line(exc: BaseException | str) -> str:
    """An exception (or its text) as one line; a TransportError gives its message without the
    node prefix."""
    return " ".join(str(getattr(exc, "message", None) or exc).split())
