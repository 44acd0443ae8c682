"""The fleet table: one row per node, a Line-API widget built for hundreds of rows at 1 Hz.

A refresh only stores the new rows and their order; painting renders a visible row's cells and
Strip when what it displays changed, so off-screen rows cost nothing. A new
sort order is a re-index of cached strips, so a key press repaints in a few milliseconds
(DataTable re-renders every visible cell: ~60 ms per repaint at 200x50).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from operator import attrgetter

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.messages import NodeChosen
from console.state import SORT_KEYS, UP, Row
from console.widgets import cells
from console.widgets.columns import GAP, Column, Placed, fit, present


def _has(key: str) -> Callable[[Row], bool]:
    """A column shown only when some row has a value for its sort key (fans, jobs ...)."""
    return lambda r: SORT_KEYS[key](r) is not None


# The fleet table: one declaration per column (widgets/columns.py says how they are fitted).
# priority: when it appears as the terminal narrows; wide_priority: when it grows to full width.
COLUMNS: tuple[Column, ...] = (
    Column("state", "State", cells.state_cell, 11, 10, min_width=5,
           compact=cells.state_compact, wide_priority=110),
    Column("name", "Node", cells.name_cell, 8, 0),          # widened to the longest name
    Column("cpu", "CPU", cells.cpu_cell, 15, 20, min_width=4, compact=cells.cpu_compact,
           wide_priority=50),
    Column("load", "Load", cells.load_cell, 5, 60),
    Column("mem", "Mem", cells.mem_cell, 14, 40, min_width=4, compact=cells.mem_compact,
           wide_priority=100),
    Column("temp", "Temp", cells.temp_cell, 9, 30, min_width=6, compact=cells.temp_compact,
           wide_priority=55),
    Column("disk", "Disk", cells.disk_cell, 14, 75, min_width=5, compact=cells.disk_compact,
           wide_priority=135, has_data=_has("disk")),
    Column("fan", "Fan", cells.fan_cell, 10, 115, min_width=5, compact=cells.fan_compact,
           wide_priority=150, has_data=_has("fan")),
    Column("freq", "Freq", cells.freq_cell, 12, 90, min_width=5, compact=cells.freq_compact,
           wide_priority=140),
    Column("net", "Net rx/tx", cells.net_cell, 19, 70, min_width=12, compact=cells.net_compact,
           wide_priority=130),
    Column("flags", "Flags", cells.flags_cell, 12, 85, min_width=6, wide_priority=120,
           has_data=lambda r: bool(r.flags)),
    Column("power", "Power", cells.power_cell, 6, 88, has_data=lambda r: r.power not in ("—", "")),
    Column("jobs", "Jobs", cells.jobs_cell, 4, 80, has_data=_has("jobs")),
)
SORTABLE = tuple(c.key for c in COLUMNS)
# shown once the Ray head answers (console.ray.view.RayFleet via show_ray); not sortable
RAY_COLUMN = Column("ray", "Ray", lambda r, p: Text("–"), 9, 82)
MARK = 1
NAME_MAX = 24
_NULL = Style.null()    # a style rich cannot parse (a colour with alpha) draws as none, as Text.render does
_GAP_SEGMENT = Segment(" " * GAP, _NULL)   # the style of an unstyled cell, so the two join
_ROW_VALUES = attrgetter(*(f.name for f in fields(Row)))   # a Row's values, in field order
_AGE = [f.name for f in fields(Row)].index("age")


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
    cursor_row: reactive[int] = reactive(0, repaint=False)   # watch_cursor_row repaints

    class HeaderClicked(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._order: list[str] = []
        self._rows: dict[str, Row] = {}
        self._marked: set[str] = set()
        # node -> (the Row last painted, (marked, ray cell), what it showed, its strip)
        self._strips: dict[str, tuple[Row, tuple, tuple, Strip]] = {}
        self._frame: tuple[Style, Style] | None = None   # the styles of the frame being painted
        self._present: list[Column] = list(COLUMNS)
        self._placed: list[Placed] = []      # the columns on screen now, and their widths
        self._name_width = 8
        self._sort, self._descending = "", False
        self._header: Strip | None = None
        self.palette: dict[str, str] = {}
        self._extra: tuple[Column, ...] = ()     # the Ray column, once a head answers
        self._ray: dict = {}                     # node -> console.ray.view.RayCell
        self._rows_list: list[Row] = []
        self._data: object = None                # show()'s token of the rows' contents

    # ---- data in -----------------------------------------------------------------------------
    def set_palette(self, pal: dict[str, str]) -> None:
        if pal != self.palette:
            self.palette, self._header = pal, None
            self._strips.clear()     # every row's colours changed

    def set_sort_label(self, sort: str, descending: bool) -> None:
        """The sorted column keeps its arrow (▼ biggest first, ▲ smallest first) and its place."""
        if (sort, descending) != (self._sort, self._descending):
            self._sort, self._descending, self._header = sort, descending, None
            self._relayout()

    def show(self, rows: list[Row], marked: set[str], data: object = None) -> int:
        """Put rows on screen in this order; returns how many rows are shown.

        Nothing is rendered here: painting builds the cells and strip of a visible row only
        when what it displays changed since that row was last painted. data: a token of the
        rows' contents (the same token: the same rows, maybe in another order), so a re-sort
        skips asking every row which columns have data.
        """
        keep = self.current_node
        if data is None or data != self._data:
            self._rows = {r.name: r for r in rows}
            self._name_width = min(NAME_MAX, max([6] + [len(r.name) for r in rows]))
            self._present = present(COLUMNS + self._extra, rows)
            self._data = data
        self._order, self._marked = [r.name for r in rows], set(marked)
        self._rows_list = rows
        self._relayout()
        if keep in self._rows:
            self.cursor_row = self._order.index(keep)
        self.cursor_row = min(self.cursor_row, max(0, len(rows) - 1))
        self.refresh()
        return len(rows)

    def show_ray(self, fleet) -> None:
        """The Ray column: a console.ray.view.RayFleet adds it, None (no [ray]) leaves it out."""
        cells = dict(fleet.cells) if fleet is not None else {}
        extra = () if fleet is None else (replace(
            RAY_COLUMN, cell=lambda r, p: ray_cell(self._ray.get(r.name), p)),)
        if [c.key for c in extra] != [c.key for c in self._extra]:
            self._extra = extra
            self._present = present(COLUMNS + extra, self._rows_list)
            self._relayout()
        if cells != self._ray:
            self._ray = cells
            self.refresh()

    def cell(self, node: str, key: str) -> Text:
        """What a node's cell shows in the full-width layout (tests read it)."""
        row = self._rows[node]
        if key == "mark":
            return self._mark(node in self._marked)
        return next(c for c in COLUMNS + self._extra if c.key == key).cell(row, self.palette)

    @property
    def sortable(self) -> list[str]:
        """The keys this fleet has data for (what `>`/`<` cycle through)."""
        return [c.key for c in self._present if c.key in SORTABLE]

    @property
    def columns(self) -> list[str]:
        """The keys of the columns on screen now."""
        return [p.column.key for p in self._placed]

    @property
    def current_node(self) -> str | None:
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def node_after(self, node: str) -> str | None:
        """The node on the row below `node` as shown now."""
        i = self._order.index(node) + 1 if node in self._rows else len(self._order)
        return self._order[i] if i < len(self._order) else None

    def move_to(self, node: str | None) -> None:
        if node in self._rows:
            self.cursor_row = self._order.index(node)

    def _mark(self, marked: bool) -> Text:
        return Text("✓" if marked else " ", style=self.palette.get("roost-mark", ""))

    def _make_cells(self, row: Row, marked: bool) -> list[Text]:
        return [self._mark(marked)] + [p.render(row, self.palette) for p in self._placed]

    # ---- layout ------------------------------------------------------------------------------
    def on_resize(self) -> None:
        self._relayout()

    def _relayout(self) -> None:
        """Fit the present columns to the widget's width; a new layout drops cached strips."""
        # the content width left of a vertical scrollbar: the table never scrolls sideways
        width = self.scrollable_content_region.width or self.app.size.width
        placed = fit(self._present, width, self._sort, fixed=MARK + GAP,
                     widths={"name": self._name_width})
        if placed != self._placed:
            self._placed, self._header = placed, None
            self._strips.clear()
        total = MARK + GAP + sum(p.width + GAP for p in placed)
        # as wide as the widget whenever the columns fit: a sort that widens its column for the
        # arrow then leaves the virtual size alone (a new one costs a layout pass, 12-16 ms)
        self.virtual_size = Size(max(total, width), len(self._order) + 1)
        self.refresh()

    def _widths(self) -> list[int]:
        return [MARK] + [p.width for p in self._placed]

    # ---- rendering ---------------------------------------------------------------------------
    def _line(self, texts: list[Text], base: Style | None = None) -> Strip:
        """One line of cells, each cut or padded to its column; texts are fresh (cut in place).
        Each cell's segments go straight into the strip: joining them into one Text first
        cost as much again as rendering them (a re-sort at 10,000 rows draws 49 new lines)."""
        console, width_sum = self.app.console, 0
        segs: list[Segment] = []
        for text, width in zip(texts, self._widths()):
            segs.extend(_cell_segments(text, width, console))
            segs.append(_GAP_SEGMENT)
            width_sum += width + GAP
        # runs of one style in one segment (fewer to style and crop per frame), then the
        # widget's style under them: one Strip made, not one plain and one styled
        joined = Segment.simplify(segs)
        return Strip(list(Segment.apply_style(joined, base)) if base else joined, width_sum)

    def _render_row(self, cells_: list[Text]) -> Strip:
        return self._line(cells_, self._styles()[0])

    def _strip(self, name: str) -> Strip:
        row, seen = self._rows[name], (name in self._marked, self._ray.get(name))
        cached = self._strips.get(name)
        if cached is not None and cached[0] is row and cached[1] == seen:
            return cached[3]     # the same Row as last painted: nothing to compare
        shown = _shown(row)
        if cached is None or cached[1] != seen or cached[2] != shown:
            strip = self._render_row(self._make_cells(row, seen[0]))
        else:
            strip = cached[3]
        self._strips[name] = (row, seen, shown, strip)
        return strip

    def header_strip(self) -> Strip:
        if self._header is None:
            style = self.get_component_rich_style("node-table--header")
            labels = [Text(" ")] + [Text(self._label(p.column)) for p in self._placed]
            self._header = self._line(labels, style)
        return self._header

    def _label(self, column: Column) -> str:
        if column.key != self._sort:
            return column.label
        return column.label + (" ▼" if self._descending else " ▲")

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            strip = self.header_strip()
        else:
            index = scroll_y + y - 1
            if index >= len(self._order):
                return Strip.blank(width, self._styles()[0])
            strip = self._strip(self._order[index])
            if index == self.cursor_row:
                strip = strip.apply_style(self._styles()[1])
        return strip.crop_extend(scroll_x, scroll_x + width, self._styles()[0])

    def render_lines(self, crop: Region) -> list[Strip]:
        """A frame's lines share the widget's styles, looked up once per frame: rich_style
        walks every ancestor's styles (~30 us), and each line asked for it twice."""
        self._frame = (self.rich_style, self.get_component_rich_style("node-table--cursor"))
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def _styles(self) -> tuple[Style, Style]:
        """(the widget's style, the cursor's): the frame's, or looked up now."""
        return self._frame or (self.rich_style,
                               self.get_component_rich_style("node-table--cursor"))

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
        else:   # no scroll: only the two lines the cursor left and reached change
            self.refresh_line(old + 1)      # (virtual line 0 is the header)
            self.refresh_line(new + 1)
            return
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
        for key, width in zip(["mark"] + self.columns, self._widths()):
            if pos <= x < pos + width + GAP:
                return key
            pos += width + GAP
        return None


def _cell_segments(text: Text, width: int, console: Console) -> list[Segment]:
    """A cell's segments, padded (or cut, with an ellipsis) to its column's width. A cell of
    one style that fits is padded as a string: Text.truncate cost 3 us a cell, 14 a line."""
    if not text.spans:
        plain = text.plain
        room = width - cell_len(plain)
        if room >= 0:   # (render() would drop the style of a Text without spans anyway)
            return [Segment(plain + " " * room, console.get_style(text.style, default=_NULL))]
    text.truncate(width, overflow="ellipsis", pad=True)
    if text.spans:
        text.end = ""
        return list(text.render(console))
    return [Segment(text.plain, console.get_style(text.style, default=_NULL))]


def _shown(row: Row) -> tuple:
    """What a painted line depends on: every field of its row but the age, which an up node
    does not show (a new age alone must not re-render it) and another shows in whole seconds.
    A tuple of the values: dataclasses.replace cost 17 us a line."""
    values = _ROW_VALUES(row)
    return values[:_AGE] + (None if row.state == UP else int(row.age or 0),) + values[_AGE + 1:]


def ray_cell(cell, pal: dict) -> Text:
    """ALIVE: CPUs in use/CPUs; DEAD in the crit colour; "–" for a node outside the cluster."""
    if cell is None:
        return Text("–")
    if cell.state != "ALIVE":
        return Text(cell.state, style=pal.get("roost-crit", ""))
    return Text(cell.text, style=pal.get("roost-ok", ""))
