"""--since / --until: a duration back from now (`90s`, `15m`, `1h30m`, `2d`, `1w`) or an ISO 8601
time (`2025-06-01`, `2025-06-01T14:30`, `2025-06-01 14:30:00+02:00`; without an offset it is local
time). Pure: parse_when(text, now) -> epoch seconds, or ValueError with one line saying what is
accepted."""
from __future__ import annotations

import re
from datetime import datetime

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([smhdw]))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
ACCEPTED = "a duration like 90s, 15m, 1h30m, 2d or 1w, or an ISO 8601 time like 2025-06-01T14:30"


def parse_duration(text: str) -> float:
    """`1h30m` -> 5400.0; ValueError unless the whole text is number+unit pairs."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or not _DURATION.fullmatch(compact):
        raise ValueError(f"expected {ACCEPTED}, got {text!r}")
    return sum(float(n) * UNITS[u] for n, u in _PART.findall(compact))


def parse_when(text: str, now: float) -> float:
    """Epoch seconds for --since/--until text: now minus a duration, or an absolute time."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"expected {ACCEPTED}, got {text!r}") from None


def format_duration(seconds: float) -> str:
    """5400 -> "1h30m": the inverse of parse_duration for whole seconds (titles, property tests)."""
    left, out = int(round(seconds)), []
    for unit in ("d", "h", "m", "s"):       # 30d reads better than 4w2d
        count, left = divmod(left, UNITS[unit])
        if count:
            out.append(f"{count}{unit}")
    return "".join(out) or "0s"
