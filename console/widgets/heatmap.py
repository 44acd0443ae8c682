"""Every node as one coloured cell, grouped by group/rack; readable at 750 nodes on 200x50.
Larger fleets are shown a cell per group (group_rows: the group's worst node), opened on Enter.

A cell is two columns: a height glyph (so the level reads without colour) in the level's colour;
down and stale nodes show their state symbol instead. The cursor cell is reversed.
"""
from __future__ import annotations

import functools
import math
from dataclasses import replace

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.hostlist import natural_key
from console.messages import NodeChosen
from console.state import DOWN, STALE, UP, Row
from console.text import safe_line
from console.widgets.cells import LEVELS

METRICS = ("cpu", "temp", "fan", "net")


def level(row: Row, metric: str, scale: dict[str, float]) -> tuple[int | None, str]:
    """(0-4 level or None, short value text) of one node for a metric."""
    return level_of(row, metric, scale), value_text(row, metric)


def level_of(row: Row, metric: str, scale: dict[str, float]) -> int | None:
    """The 0-4 level of one node for a metric (None: no value); a cell needs only this."""
    if metric == "cpu":
        return None if row.cpu is None else min(4, int(row.cpu / 20))
    if metric == "temp":
        v = row.temp
        if v is None:
            return None
        lo, warn, crit = scale["temp_lo"], scale["temp_warn"], scale["temp_crit"]
        return 4 if v >= crit else 3 if v >= warn else min(2, max(0, int(3 * (v - lo) / (warn - lo))))
    if metric == "fan":
        if row.fan_rpm is not None:
            return min(4, int(4.99 * row.fan_rpm / (scale.get("fan_max") or 1.0)))
        return None if row.fan_pwm_pct is None else min(4, int(row.fan_pwm_pct / 20))
    if row.rx_bps is None:
        return None
    total = row.rx_bps + (row.tx_bps or 0.0)
    top = scale.get("net_max") or 1.0
    return 0 if total <= 1 else min(4, int(4.99 * math.log10(total) / max(1.0, math.log10(top))))


def value_text(row: Row, metric: str) -> str:
    """The short text of one node's value for a metric ("–" without one)."""
    if metric == "cpu":
        return "–" if row.cpu is None else f"{row.cpu:.0f}%"
    if metric == "temp":
        return "–" if row.temp is None else f"{row.temp:.1f}°"
    if metric == "fan":
        if row.fan_rpm is not None:
            return f"{row.fan_rpm:.0f} rpm"
        return "–" if row.fan_pwm_pct is None else f"{row.fan_pwm_pct:.0f}% pwm"
    if row.rx_bps is None:
        return "–"
    return f"{(row.rx_bps + (row.tx_bps or 0.0)) / 1e6:.2f} MB/s"


def group_of(row: Row) -> str:
    """The rack-like group a node sits in: a group named rack*/shelf* wins, else its first."""
    return _group_of(row.groups)


@functools.lru_cache(maxsize=4096)      # a few distinct group tuples, asked for every node
def _group_of(groups: tuple[str, ...]) -> str:
    for g in groups:
        if g.lower().startswith(("rack", "shelf", "chassis")):
            return g
    return groups[0] if groups else "ungrouped"


GROUPS = "groups"   # the one header over the cells that stand for whole groups


def group_rows(rows: list[Row], metric: str, scale: dict[str, float]) -> tuple[list[Row], dict[str, list[Row]]]:
    """(one Row per group, named after it, holding its worst node's values; each group's nodes).
    The worst node: a down one, else a stale one, else the highest level of the metric."""
    members: dict[str, list[Row]] = {}
    for r in rows:
        members.setdefault(group_of(r), []).append(r)
    shown = [replace(worst(members[g], metric, scale), name=g, groups=(GROUPS,))
             for g in sorted(members, key=natural_key)]
    return shown, members


def worst(rows: list[Row], metric: str, scale: dict[str, float]) -> Row:
    for state in (DOWN, STALE):
        hit = next((r for r in rows if r.state == state), None)
        if hit is not None:
            return hit
    return max(rows, key=lambda r: -1 if (lv := level_of(r, metric, scale)) is None else lv)


class Heatmap(ScrollView, can_focus=True):
    """Line-API: the layout (group headers and cell lines) is rebuilt when rows or width change;
    each painted line is cached with what it shows, so a cursor move re-renders two lines."""

    DEFAULT_CSS = "Heatmap { height: 1fr; }"
    BINDINGS = [
        Binding("left", "move(-1, 0)", "Cell left", show=False, id="heat_left"),
        Binding("right", "move(1, 0)", "Cell right", show=False, id="heat_right"),
        Binding("up", "move(0, -1)", "Cell up", show=False, id="heat_up"),
        Binding("down", "move(0, 1)", "Cell down", show=False, id="heat_down"),
        Binding("enter", "open_node", "Node", id="node"),
    ]
    metric: reactive[str] = reactive("cpu")
    cursor: reactive[int] = reactive(0)

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.rows: list[Row] = []
        self.palette: dict[str, str] = {}
        self.scale: dict[str, float] = {}
        self.marked: set[str] = set()
        self._lines: list[tuple[str, list[int]]] = []   # (group header or "", row indexes)
        self._line_of: list[int] = []                    # row index -> line number
        self._cache: dict[int, tuple[tuple[tuple[str, str, bool], ...], Strip]] = {}
        self._styles: dict[tuple[str, bool], Style] = {}
        self._width = 0

    def show(self, rows: list[Row], pal: dict[str, str], scale: dict[str, float],
             marked: set[str]) -> None:
        keep = self.current_node
        # stable sort: keeps the caller's order inside each group; rack2 before rack10
        self.rows = sorted(rows, key=lambda r: natural_key(group_of(r)))
        if pal != self.palette:
            self._styles.clear()
        self.palette, self.scale, self.marked = pal, scale, set(marked)
        self._relayout()
        names = [r.name for r in self.rows]
        if keep in names:
            self.cursor = names.index(keep)
        self.refresh()

    @property
    def current_node(self) -> str | None:
        return self.rows[self.cursor].name if 0 <= self.cursor < len(self.rows) else None

    def move_to(self, name: str | None) -> None:
        """The cursor on that cell (the first one when name is not shown)."""
        names = [r.name for r in self.rows]
        self.cursor = names.index(name) if name in names else 0

    @property
    def current_row(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def per_line(self) -> int:
        return max(1, (self.size.width - 1) // 2)

    def _relayout(self) -> None:
        self._width = self.size.width
        width, line_of = self.per_line(), [0] * len(self.rows)
        lines: list[tuple[str, list[int]]] = []
        groups = [group_of(r) for r in self.rows]
        counts: dict[str, int] = {}
        for g in groups:
            counts[g] = counts.get(g, 0) + 1
        group: str | None = None
        cur: list[int] = []     # the cells line being filled; a new group starts a new one
        for i, g in enumerate(groups):
            if g != group:
                lines.append((f"{safe_line(g)}  ({counts[g]})", []))
                group, cur = g, []
            if not cur or len(cur) == width:
                cur = []
                lines.append(("", cur))
            cur.append(i)
            line_of[i] = len(lines) - 1
        self._lines, self._line_of = lines, line_of
        self.virtual_size = Size(self.size.width, len(lines))

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._relayout()
            self._cache.clear()

    def _style(self, color: str, cursor: bool) -> Style:
        key = (color, cursor)
        if key not in self._styles:
            style = Style.parse(color) if color else Style()
            self._styles[key] = style + Style(reverse=True) if cursor else style
        return self._styles[key]

    def render_line(self, y: int) -> Strip:
        n = self.scroll_offset.y + y
        base = self.rich_style
        if n >= len(self._lines):
            return Strip.blank(self.size.width, base)
        header, idxs = self._lines[n]
        if header:
            return Strip([Segment(header, base + Style(bold=True))]).extend_cell_length(
                self.size.width, base)
        cells = tuple(self._cell(i, self.rows[i]) for i in idxs)
        cached = self._cache.get(n)
        if cached is None or cached[0] != cells:
            segs = [Segment(text, base + self._style(color, cur)) for text, color, cur in cells]
            cached = self._cache[n] = (cells, Strip(segs).extend_cell_length(self.size.width,
                                                                              base))
        return cached[1]

    def _cell(self, i: int, row: Row) -> tuple[str, str, bool]:
        lv = level_of(row, self.metric, self.scale)
        if row.state == DOWN:
            glyph, color = "✖", self.palette.get("roost-down", "")
        elif row.state == STALE:
            glyph, color = "◌", self.palette.get("roost-stale", "")
        elif row.state != UP or lv is None:
            glyph, color = "·", ""
        else:
            glyph, color = LEVELS[lv], self.palette.get(f"heat-{lv}", "")
        mark = "✓" if row.name in self.marked else " "
        return glyph + mark, color, i == self.cursor and self.has_focus

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def action_move(self, dx: int, dy: int) -> None:
        if not self.rows:
            return
        if dy:
            self.cursor = self._vertical(dy)
        else:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + dx))
        self.post_message(self.CursorMoved())

    def _vertical(self, dy: int) -> int:
        lines = [idxs for header, idxs in self._lines if not header]
        for li, ln in enumerate(lines):
            if self.cursor in ln:
                target = li + dy
                if 0 <= target < len(lines):
                    col = ln.index(self.cursor)
                    return lines[target][min(col, len(lines[target]) - 1)]
        return self.cursor

    def on_click(self, event: Click) -> None:
        """A click puts the cursor on that cell; a double click opens the node."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        n = self.scroll_offset.y + offset.y
        if n < len(self._lines) and not self._lines[n][0]:
            idxs = self._lines[n][1]
            col = offset.x // 2
            if col < len(idxs):
                self.cursor = idxs[col]
                self.post_message(self.CursorMoved())
                if event.chain >= 2:
                    self.action_open_node()

    def action_open_node(self) -> None:
        if self.current_node is not None:
            self.post_message(NodeChosen(self.current_node))

    def watch_cursor(self) -> None:
        if self._line_of and 0 <= self.cursor < len(self._line_of):
            line = self._line_of[self.cursor]
            top, height = self.scroll_offset.y, max(1, self.size.height)
            if line < top or line >= top + height:
                self.scroll_to(y=max(0, line - height // 2), animate=False)
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def watch_metric(self) -> None:
        self.refresh()

    class CursorMoved(Message):
        """The cursor moved; the screen updates its status line."""
