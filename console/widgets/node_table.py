"""The fleet table: one row per node, a Line-API widget built for hundreds of rows at 1 Hz.

A refresh only stores the new rows and their order; painting renders a visible row's cells and
Strip when what it displays changed, so off-screen rows cost nothing. A new
sort order is a re-index of cached strips, so a key press repaints in a few milliseconds
(DataTable re-renders every visible cell: ~60 ms per repaint at 200x50).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.messages import NodeChosen
from console.state import UP, Row
from console.widgets import cells


@dataclass(frozen=True, slots=True)
class Column:
    key: str            # also the sort key (console.state.SORT_KEYS)
    label: str
    cell: Callable[[Row, dict], Text]
    width: int


COLUMNS: tuple[Column, ...] = (
    Column("state", "State", cells.state_cell, 11),
    Column("name", "Node", cells.name_cell, 8),          # widened to the longest name
    Column("cpu", "CPU", cells.cpu_cell, 15),
    Column("load", "Load", cells.load_cell, 5),
    Column("mem", "Mem", cells.mem_cell, 14),
    Column("temp", "Temp", cells.temp_cell, 9),
    Column("fan", "Fan", cells.fan_cell, 10),
    Column("freq", "Freq", cells.freq_cell, 12),
    Column("net", "Net rx/tx", cells.net_cell, 19),
    Column("flags", "Flags", cells.flags_cell, 12),
    Column("power", "Power", lambda r, p: Text(cells.safe_line(r.power)), 6),
    Column("jobs", "Jobs", lambda r, p: Text("–" if r.jobs is None else str(r.jobs)), 4),
)
# shown once the Ray head answers (console.ray.view.RayFleet via show_ray); not sortable
RAY_COLUMN = Column("ray", "Ray", lambda r, p: Text("–"), 9)
SORTABLE = tuple(c.key for c in COLUMNS)
KEYS = ("mark",) + SORTABLE
GAP = 1
NAME_MAX = 24


class NodeTable(ScrollView, can_focus=True):
    """Rows keyed by node name; a mark glyph in the first column; the header stays on top."""

    DEFAULT_CSS = """
    NodeTable { height: 1fr; }
    NodeTable > .node-table--header { text-style: bold; }
    NodeTable > .node-table--cursor { text-style: reverse; }
    """
    COMPONENT_CLASSES = {"node-table--header", "node-table--cursor"}
    BINDINGS = [
        Binding("enter", "open_node", "Node", id="node"),
        Binding("up", "cursor(-1)", "Up", show=False, id="cursor_up"),
        Binding("down", "cursor(1)", "Down", show=False, id="cursor_down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="page_down"),
        Binding("home", "cursor(-1000000)", "Top", show=False, id="top"),
        Binding("end", "cursor(1000000)", "Bottom", show=False, id="bottom"),
    ]
    cursor_row: reactive[int] = reactive(0)

    class HeaderClicked(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._order: list[str] = []
        self._rows: dict[str, Row] = {}
        self._marked: set[str] = set()
        self._strips: dict[str, tuple[tuple, Strip]] = {}
        self._widths = [1] + [c.width for c in COLUMNS]
        self._labels = {c.key: c.label for c in COLUMNS}
        self._header: Strip | None = None
        self.palette: dict[str, str] = {}
        self._columns, self._keys = COLUMNS, KEYS
        self._ray: dict = {}        # node -> console.ray.view.RayCell

    # ---- data in -----------------------------------------------------------------------------
    def set_palette(self, pal: dict[str, str]) -> None:
        if pal != self.palette:
            self.palette, self._header = pal, None
            self._strips.clear()     # every row's colours changed

    def set_sort_label(self, sort: str, reverse: bool) -> None:
        labels = {c.key: c.label + ((" ▼" if reverse else " ▲") if c.key == sort else "")
                  for c in COLUMNS}
        if labels != self._labels:
            self._labels, self._header = labels, None
            self.refresh()

    def show(self, rows: list[Row], marked: set[str]) -> int:
        """Put rows on screen in this order; returns how many rows are shown.

        Nothing is rendered here: painting builds the cells and strip of a visible row only
        when what it displays changed since that row was last painted.
        """
        keep = self.current_node
        self._rows = {r.name: r for r in rows}
        self._order, self._marked = [r.name for r in rows], set(marked)
        self._fit_name(rows)
        self.virtual_size = Size(sum(self._widths) + GAP * len(self._widths), len(rows) + 1)
        if keep in self._rows:
            self.cursor_row = self._order.index(keep)
        self.cursor_row = min(self.cursor_row, max(0, len(rows) - 1))
        self.refresh()
        return len(rows)

    def show_ray(self, fleet) -> None:
        """The Ray column: a console.ray.view.RayFleet adds it, None (no [ray]) leaves it out."""
        cells = dict(fleet.cells) if fleet is not None else {}
        columns = COLUMNS + (RAY_COLUMN,) if fleet is not None else COLUMNS
        if columns != self._columns:
            self._columns, self._keys = columns, ("mark",) + tuple(c.key for c in columns)
            self._widths = self._widths[:len(COLUMNS) + 1] + [RAY_COLUMN.width] * (
                len(columns) - len(COLUMNS))
            self._header = None
            self._strips.clear()
        if cells != self._ray:
            self._ray = cells
            self.refresh()

    def cell(self, node: str, key: str) -> Text:
        return self._make_cells(self._rows[node], node in self._marked)[self._keys.index(key)]

    @property
    def current_node(self) -> str | None:
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def _make_cells(self, row: Row, marked: bool) -> list[Text]:
        mark = Text("✓" if marked else " ", style=self.palette.get("roost-mark", ""))
        out = [mark] + [c.cell(row, self.palette) for c in COLUMNS]
        if len(self._columns) > len(COLUMNS):
            out.append(ray_cell(self._ray.get(row.name), self.palette))
        return out

    def _fit_name(self, rows: list[Row]) -> None:
        i = KEYS.index("name")
        want = min(NAME_MAX, max([6] + [len(r.name) for r in rows]))
        if want != self._widths[i]:
            self._widths[i], self._header = want, None
            self._strips.clear()      # every row's layout moved

    # ---- rendering ---------------------------------------------------------------------------
    def _line(self, texts: list[Text], base: Style | None = None) -> Strip:
        line = Text(no_wrap=True, overflow="ellipsis")
        for text, width in zip(texts, self._widths):
            t = text.copy()
            t.truncate(width, overflow="ellipsis", pad=True)
            line.append_text(t)
            line.append(" " * GAP)
        segs = list(line.render(self.app.console))
        strip = Strip([s for s in segs if s.text != "\n"], line.cell_len)
        return strip.apply_style(base) if base else strip

    def _render_row(self, cells_: list[Text]) -> Strip:
        return self._line(cells_, self.rich_style)

    def _strip(self, name: str) -> Strip:
        row, marked = self._rows[name], name in self._marked
        # an up node does not show its age, so a new age alone must not re-render it
        shown = (replace(row, age=None) if row.state == UP else
                 replace(row, age=int(row.age or 0)), marked, self._ray.get(name))
        cached = self._strips.get(name)
        if cached is None or cached[0] != shown:
            cached = self._strips[name] = (shown, self._render_row(self._make_cells(row, marked)))
        return cached[1]

    def header_strip(self) -> Strip:
        if self._header is None:
            style = self.get_component_rich_style("node-table--header")
            labels = [Text(" ")] + [Text(self._labels.get(c.key, c.label)) for c in self._columns]
            self._header = self._line(labels, style)
        return self._header

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            strip = self.header_strip()
        else:
            index = scroll_y + y - 1
            if index >= len(self._order):
                return Strip.blank(width, self.rich_style)
            strip = self._strip(self._order[index])
            if index == self.cursor_row:
                strip = strip.apply_style(self.get_component_rich_style("node-table--cursor"))
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._header = None
        self._strips.clear()

    # ---- cursor and keys ---------------------------------------------------------------------
    def watch_cursor_row(self, old: int, new: int) -> None:
        top = self.scroll_offset.y
        visible = max(1, self.size.height - 1)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + visible:
            self.scroll_to(y=new - visible + 1, animate=False)
        self.refresh()

    def action_cursor(self, step: int) -> None:
        if self._order:
            self.cursor_row = max(0, min(len(self._order) - 1, self.cursor_row + step))

    def action_cursor_down(self) -> None:
        self.action_cursor(1)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_open_node(self) -> None:
        if self.current_node is not None:
            self.post_message(NodeChosen(self.current_node))

    def on_click(self, event: Click) -> None:
        if event.y == 0:
            key = self._column_at(event.x + self.scroll_offset.x)
            if key in SORTABLE:
                self.post_message(self.HeaderClicked(key))
        else:
            self.action_cursor(self.scroll_offset.y + event.y - 1 - self.cursor_row)
            if event.chain >= 2:
                self.action_open_node()

    def _column_at(self, x: int) -> str | None:
        pos = 0
        for key, width in zip(self._keys, self._widths):
            if pos <= x < pos + width + GAP:
                return key
            pos += width + GAP
        return None


def ray_cell(cell, pal: dict) -> Text:
    """ALIVE: CPUs in use/CPUs; DEAD in the crit colour; "–" for a node outside the cluster."""
    if cell is None:
        return Text("–")
    if cell.state != "ALIVE":
        return Text(cell.state, style=pal.get("roost-crit", ""))
    return Text(cell.text, style=pal.get("roost-ok", ""))
