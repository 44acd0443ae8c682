"""A History as a plotext chart sized to the terminal (80x24 stays readable): the CLI's view.

One chart: one line per label for a single node, one folded line per node for several (at most
MAX_LINES, the busiest first, so a legend stays readable), x in local clock time.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import plotext as plt

from console.history.metrics import Line
from console.history.service import History

MAX_LINES = 8
COLORS = ("cyan", "orange", "green", "magenta", "blue", "red", "yellow", "white")
_CONTROL = dict.fromkeys(range(32), "?")


def lines_to_draw(history: History) -> list[Line]:
    nodes = {ln.node for ln in history.lines}
    lines = history.lines if len(nodes) == 1 else history.folded()
    return sorted(lines, key=_peak, reverse=True)[:MAX_LINES]


def _peak(line: Line) -> float:
    return max((v for _, v in line.points if v is not None), default=float("-inf"))


def render(history: History, title: str, width: int, height: int, color: bool = True) -> str:
    """The chart as text, width x height characters."""
    shown = lines_to_draw(history)
    plt.clf()
    plt.plot_size(max(width, 40), max(height, 10))
    plt.theme("pro" if color else "clear")
    plt.title(_safe(title))
    many = len({ln.node for ln in shown}) > 1
    for i, line in enumerate(shown):
        _plot(line, line.node if many else line.label, COLORS[i % len(COLORS)])
    _time_axis(history.window.since, history.window.until, width)
    if history.metric.unit.endswith("%"):
        plt.ylim(0, 100)
    plt.ylabel(_safe(history.metric.unit))
    text = plt.build()
    return text if color else plt.uncolorize(text)


def _plot(line: Line, label: str, color: str) -> None:
    labelled = False
    for segment in _segments(line.points):
        xs, ys = zip(*segment)
        plt.plot(list(xs), list(ys), marker="braille", color=color,
                 label=None if labelled else _safe(label)[:20])
        labelled = True


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Runs of points with a value: a gap (no value) is not drawn across."""
    runs: list[list[tuple[float, float]]] = [[]]
    for t, v in points:
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((t, v))
    return [r for r in runs if r]


def _time_axis(since: float, until: float, width: int) -> None:
    count = max(2, min(7, width // 14))
    ticks = [since + (until - since) * i / (count - 1) for i in range(count)]
    fmt = "%H:%M" if until - since <= 86400 else "%m-%d %H:%M"
    plt.xticks(ticks, [time.strftime(fmt, time.localtime(t)) for t in ticks])
    plt.xlim(since, until)


def _safe(text: str) -> str:
    return text.translate(_CONTROL)
