"""A small extractor for ttar, the plain-text archive node_exporter keeps its sysfs fixture in.

Records are separated by "# ttar - - -" lines: "Directory: P" / "Mode: N", "Path: P" / "Lines: N" /
N content lines / "Mode: N", or "Path: P" / "SymlinkTo: T". A content line ending in "EOF" has no
trailing newline; "NULLBYTE" stands for a \\0 byte; "\\EOF" and "\\NULLBYTE" are the literal words.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


class TtarError(ValueError):
    pass


def _decode_line(line: str) -> str:
    # EOF marks "no newline"; a backslash keeps the word literal.
    if line.endswith("EOF") and not line.endswith("\\EOF"):
        body, newline = line[:-3], ""
    else:
        body, newline = line, "\n"
    if body.endswith("\\EOF"):
        body = body[:-4] + "EOF"
    parts = body.split("\\NULLBYTE")
    return "NULLBYTE".join(p.replace("NULLBYTE", "\0") for p in parts) + newline


def _records(text: str) -> Iterator[tuple[str, str, list[str]]]:
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line or line.startswith("#") or line.startswith("Mode:"):
            continue
        key, _, value = line.partition(": ")
        if key == "Lines":
            count = int(value)
            yield "Lines", value, lines[i:i + count]
            i += count
        elif key in ("Directory", "Path", "SymlinkTo"):
            yield key, value, []
        else:
            raise TtarError(f"ttar: unexpected line {i}: {line[:60]!r}")


def extract(archive: Path, dest: Path) -> int:
    """Extract archive under dest; returns the number of entries written."""
    count, path = 0, None
    for key, value, content in _records(archive.read_text()):
        if key == "Directory":
            (dest / value).mkdir(parents=True, exist_ok=True)
        elif key == "Path":
            path = dest / value
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        elif key == "Lines":
            path.write_bytes("".join(map(_decode_line, content)).encode())
        elif key == "SymlinkTo":
            os.symlink(value, path)
        count += 1
    return count
