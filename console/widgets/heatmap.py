"""Every node as one coloured cell, grouped by group/rack; readable at 750 nodes on 200x50.

A cell is two columns: a height glyph (so the level reads without colour) in the level's colour;
down and stale nodes show their state symbol instead. The cursor cell is reversed.
"""
from __future__ import annotations

import math

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from console.messages import NodeChosen
from console.state import DOWN, STALE, UP, Row, _natural
from console.widgets.cells import LEVELS, safe_line

METRICS = ("cpu", "temp", "fan", "net")


def level(row: Row, metric: str, scale: dict[str, float]) -> tuple[int | None, str]:
    """(0-4 level or None, short value text) of one node for a metric."""
    if metric == "cpu":
        v = row.cpu
        return (None, "–") if v is None else (min(4, int(v / 20)), f"{v:.0f}%")
    if metric == "temp":
        v = row.temp
        if v is None:
            return None, "–"
        lo, warn, crit = scale["temp_lo"], scale["temp_warn"], scale["temp_crit"]
        lv = 4 if v >= crit else 3 if v >= warn else min(2, max(0, int(3 * (v - lo) / (warn - lo))))
        return lv, f"{v:.1f}°"
    if metric == "fan":
        if row.fan_rpm is not None:
            top = scale.get("fan_max") or 1.0
            return min(4, int(4.99 * row.fan_rpm / top)), f"{row.fan_rpm:.0f} rpm"
        if row.fan_pwm_pct is not None:
            return min(4, int(row.fan_pwm_pct / 20)), f"{row.fan_pwm_pct:.0f}% pwm"
        return None, "–"
    if row.rx_bps is None:
        return None, "–"
    total = row.rx_bps + (row.tx_bps or 0.0)
    top = scale.get("net_max") or 1.0
    lv = 0 if total <= 1 else min(4, int(4.99 * math.log10(total) / max(1.0, math.log10(top))))
    return lv, f"{total / 1e6:.2f} MB/s"


def group_of(row: Row) -> str:
    """The rack-like group a node sits in: a group named rack*/shelf* wins, else its first."""
    for g in row.groups:
        if g.lower().startswith(("rack", "shelf", "chassis")):
            return g
    return row.groups[0] if row.groups else "ungrouped"


class Heatmap(Widget, can_focus=True):
    DEFAULT_CSS = "Heatmap { height: 1fr; }"
    BINDINGS = [
        Binding("left", "move(-1, 0)", "←", show=False, id="heat_left"),
        Binding("right", "move(1, 0)", "→", show=False, id="heat_right"),
        Binding("up", "move(0, -1)", "↑", show=False, id="heat_up"),
        Binding("down", "move(0, 1)", "↓", show=False, id="heat_down"),
        Binding("enter", "open_node", "Node", id="node"),
    ]
    metric: reactive[str] = reactive("cpu")
    cursor: reactive[int] = reactive(0)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.rows: list[Row] = []
        self.palette: dict[str, str] = {}
        self.scale: dict[str, float] = {}
        self.marked: set[str] = set()
        self._layout: list[list[int]] = []   # screen lines of row indexes (-1: header)

    def show(self, rows: list[Row], pal: dict[str, str], scale: dict[str, float],
             marked: set[str]) -> None:
        keep = self.current_node
        # stable sort: keeps the caller's order inside each group; rack2 before rack10
        self.rows = sorted(rows, key=lambda r: _natural(group_of(r)))
        self.palette, self.scale, self.marked = pal, scale, marked
        names = [r.name for r in self.rows]
        if keep in names:
            self.cursor = names.index(keep)
        self.refresh()

    @property
    def current_node(self) -> str | None:
        return self.rows[self.cursor].name if 0 <= self.cursor < len(self.rows) else None

    @property
    def current_row(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def per_line(self) -> int:
        return max(1, (self.size.width - 1) // 2)

    def render(self) -> Text:
        out, layout = Text(no_wrap=True), []
        width, group, line = self.per_line(), None, []
        groups = [group_of(r) for r in self.rows]
        counts: dict[str, int] = {}
        for g in groups:
            counts[g] = counts.get(g, 0) + 1
        for i, row in enumerate(self.rows):
            g = groups[i]
            if g != group or len(line) == width:
                if line:
                    layout.append(line)
                if g != group:
                    layout.append([-1])
                    out.append(("\n" if layout[:-1] else "") + safe_line(g), style="bold")
                    out.append(f"  ({counts[g]})")
                group, line = g, []
                out.append("\n")
            line.append(i)
            out.append_text(self._cell(i, row))
        self._layout = layout + ([line] if line else [])
        return out

    def _cell(self, i: int, row: Row) -> Text:
        lv, _ = level(row, self.metric, self.scale)
        if row.state == DOWN:
            glyph, style = "✖", self.palette.get("roost-down", "")
        elif row.state == STALE:
            glyph, style = "◌", self.palette.get("roost-stale", "")
        elif row.state != UP or lv is None:
            glyph, style = "·", ""
        else:
            glyph, style = LEVELS[lv], self.palette.get(f"heat-{lv}", "")
        mark = "✓" if row.name in self.marked else " "
        style = f"{style} reverse" if i == self.cursor and self.has_focus else style
        return Text(glyph + mark, style=style)

    def action_move(self, dx: int, dy: int) -> None:
        if not self.rows:
            return
        if dy:
            self.cursor = self._vertical(dy)
        else:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + dx))
        self.post_message(self.CursorMoved())

    def _vertical(self, dy: int) -> int:
        lines = [ln for ln in self._layout if ln != [-1]]
        for li, ln in enumerate(lines):
            if self.cursor in ln:
                target = li + dy
                if 0 <= target < len(lines):
                    col = ln.index(self.cursor)
                    return lines[target][min(col, len(lines[target]) - 1)]
        return self.cursor

    def action_open_node(self) -> None:
        if self.current_node is not None:
            self.post_message(NodeChosen(self.current_node))

    def watch_cursor(self) -> None:
        self.refresh()

    def watch_metric(self) -> None:
        self.refresh()

    class CursorMoved(Message):
        """The cursor moved; the screen updates its status line."""
