"""A plotext graph that owns its figure and redraws it from series handed in by its screen.

History stays in FleetState; plot() only records what to draw and asks for a repaint, and the
figure is rebuilt inside render() at the widget's current size, so a redraw replaces the whole
frame at once (no clear-then-draw flicker).
"""
from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot

from console.text import safe_line


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    color: tuple[int, int, int] | str = "default"
    marker: str = "braille"


def line(label: str, times, values, color, marker: str = "braille") -> Line:
    """Pairs with a value (gaps dropped); x is seconds relative to the newest time."""
    if not times:
        return Line(label, (), (), color, marker)
    end = times[-1]
    pts = [(t - end, v) for t, v in zip(times, values) if v is not None]
    return Line(safe_line(label)[:24], tuple(p[0] for p in pts), tuple(p[1] for p in pts),
                color, marker)


def rgb(color: str) -> tuple[int, int, int] | str:
    c = color.lstrip("#")
    if len(c) != 6:
        return "default"
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


class Graph(PlotextPlot):
    DEFAULT_CSS = "Graph { height: 1fr; min-height: 8; }"

    def __init__(self, title: str, unit: str = "", ylim: tuple[float, float] | None = None,
                 **kw) -> None:
        super().__init__(**kw)
        self.title, self.unit, self.ylim = title, unit, ylim
        self.lines: tuple[Line, ...] = ()
        self.xlabel = "seconds"

    def plot(self, lines: list[Line], xlabel: str = "seconds") -> None:
        new = tuple(lines)
        if new != self.lines or xlabel != self.xlabel:
            self.lines, self.xlabel = new, xlabel
            self.refresh()

    def render(self):
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title + (f" ({self.unit})" if self.unit else ""))
        for ln in self.lines:
            if ln.xs:
                plt.plot(list(ln.xs), list(ln.ys), label=ln.label, color=ln.color,
                         marker=ln.marker)
        if self.ylim:
            plt.ylim(*self.ylim)
        if not any(ln.xs for ln in self.lines):
            plt.text("no data yet", 0, 0)
        plt.xlabel(self.xlabel)
        return super().render()
