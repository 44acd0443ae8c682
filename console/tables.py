"""The CLI's one table printer (jobs, Slurm, BOINC, nodes): every cell made terminal-safe.

Names and reasons come from users, nodes and servers: a job named $'\\e]0;PWN\\a' must not
retitle the terminal. Control and format characters (Unicode category C: ESC, BEL, CR, bidi
overrides ...) are shown as \\xNN, so the text stays visible and every row stays one line.
"""
from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TextIO


def clean(text: object) -> str:
    """str(text) with control and format characters shown as \\xNN."""
    return "".join(c if unicodedata.category(c)[0] != "C" else f"\\x{ord(c):02x}"
                   for c in str(text))


def format_table(rows: Iterable[Sequence[object]], right: Iterable[int] = ()) -> str:
    """Rows (the first is the header) as padded columns; columns in right are right-aligned."""
    cells = [[clean(c) for c in row] for row in rows]
    if not cells:
        return ""
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    flush = set(right)
    return "\n".join("  ".join(c.rjust(w) if i in flush else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in cells)


def print_table(rows: Iterable[Sequence[object]], right: Iterable[int] = (),
                out: TextIO | None = None) -> None:
    text = format_table(rows, right)
    if text:
        print(text, file=out or sys.stdout)


def print_facts(facts: Iterable[tuple[str, object]], width: int = 14,
                out: TextIO | None = None) -> None:
    """`key: value` lines (roost job ID), keys right-aligned, values cleaned."""
    for key, value in facts:
        print(f"{clean(key):>{width}}: {clean(value)}", file=out or sys.stdout)


def error(cmd: str, message: str, code: int = 1) -> int:
    """One line on stderr, "roost CMD: error: MESSAGE" (cleaned); returns code."""
    print(f"roost {cmd}: error: {clean(message)}", file=sys.stderr)
    return code
