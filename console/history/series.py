"""A stored series name back into its parts: the inverse of collectors.sinks.prometheus.series_key.

    'node_hwmon_temp_celsius{chip="platform_x",sensor="temp1"}'
        -> ("node_hwmon_temp_celsius", {"chip": "platform_x", "sensor": "temp1"})

Label values are escaped as the exposition format does (\\\\, \\", \\n). Pure; ValueError with one
line for text that is not a series name.
"""
from __future__ import annotations

import re

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = re.compile(r"\\(.)")


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    name, brace, rest = text.partition("{")
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a series name: {text[:80]!r}")
    if not brace:
        return name, {}
    if not rest.endswith("}"):
        raise ValueError(f"series labels not closed: {text[:80]!r}")
    return name, _labels(rest[:-1], text)


def _labels(body: str, text: str) -> dict[str, str]:
    labels, pos = {}, 0
    while pos < len(body):
        m = _LABEL.match(body, pos)
        if m is None:
            raise ValueError(f"bad series labels at {pos}: {text[:80]!r}")
        labels[m.group(1)] = _UNESCAPE.sub(_unescape_one, m.group(2))
        pos = m.end()
        if pos < len(body):
            if body[pos] != ",":
                raise ValueError(f"bad series labels at {pos}: {text[:80]!r}")
            pos += 1
    return labels


def _unescape_one(m: re.Match) -> str:
    return "\n" if m.group(1) == "n" else m.group(1)
