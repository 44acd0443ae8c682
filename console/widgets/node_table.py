"""The fleet table: one row per node, updated in place about once a second.

show() diffs against what is on screen: when the row order is unchanged only cells whose text
changed are updated (update_cell); a new order or filter rebuilds the rows once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from console.messages import NodeChosen
from console.state import Row
from console.widgets import cells


@dataclass(frozen=True, slots=True)
class Column:
    key: str            # also the sort key (console.state.SORT_KEYS)
    label: str
    cell: Callable[[Row, dict], Text]
    width: int | None = None


COLUMNS: tuple[Column, ...] = (
    Column("state", "State", cells.state_cell, 11),
    Column("name", "Node", cells.name_cell),
    Column("cpu", "CPU", cells.cpu_cell, 15),
    Column("load", "Load", lambda r, p: Text("–" if r.load1 is None else f"{r.load1:.2f}"), 5),
    Column("mem", "Mem", cells.mem_cell, 13),
    Column("temp", "Temp", cells.temp_cell, 9),
    Column("fan", "Fan", cells.fan_cell, 10),
    Column("freq", "Freq", cells.freq_cell, 12),
    Column("net", "Net rx/tx", cells.net_cell, 19),
    Column("flags", "Flags", cells.flags_cell, 8),
    Column("power", "Power", lambda r, p: Text(cells.safe_line(r.power)), 6),
    Column("jobs", "Jobs", lambda r, p: Text("–" if r.jobs is None else str(r.jobs)), 4),
)
SORTABLE = tuple(c.key for c in COLUMNS)


class NodeTable(DataTable):
    """Rows keyed by node name; a mark glyph in the first column."""

    DEFAULT_CSS = "NodeTable { height: 1fr; }"
    BINDINGS = [Binding("enter", "open_node", "Node", id="node")]

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self._order: list[str] = []
        self._shown: dict[str, list[Text]] = {}
        self.palette: dict[str, str] = {}
        self._sort_label: tuple[str, bool] | None = None

    def on_mount(self) -> None:
        self.add_column(" ", key="mark", width=1)
        for col in COLUMNS:
            self.add_column(col.label, key=col.key, width=col.width)

    def action_open_node(self) -> None:
        if self.current_node is not None:
            self.post_message(NodeChosen(self.current_node))

    def set_palette(self, pal: dict[str, str]) -> None:
        self.palette = pal    # the next show() rewrites every cell whose style changed

    @property
    def current_node(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def set_sort_label(self, sort: str, reverse: bool) -> None:
        if self._sort_label == (sort, reverse):
            return
        self._sort_label = (sort, reverse)
        for col in COLUMNS:
            arrow = (" ▼" if reverse else " ▲") if col.key == sort else ""
            self.columns[col.key].label = Text(col.label + arrow)
        self._clear_caches()   # DataTable caches the rendered header; labels changed under it
        self.refresh()

    def show(self, rows: list[Row], marked: set[str]) -> int:
        """Put rows on screen; returns how many cells were written.

        Rows are never rebuilt wholesale: gone rows are removed, new rows added, changed cells
        updated, and a new order is applied with DataTable.sort (a re-index, no re-render).
        """
        fresh = {r.name: self._cells(r, r.name in marked) for r in rows}
        order = [r.name for r in rows]
        keep = self.current_node
        written = self._sync_rows(fresh)
        if order != self._order:
            rank = {cells.safe_line(n): i for i, n in enumerate(order)}
            self.sort("name", key=lambda t: rank.get(t.plain, -1))
            self._order = order
            if keep in fresh:
                self.move_cursor(row=order.index(keep), animate=False, scroll=False)
        return written

    def _sync_rows(self, fresh: dict[str, list[Text]]) -> int:
        written = 0
        for name in [n for n in self._shown if n not in fresh]:
            self.remove_row(name)
            del self._shown[name]
        keys = ("mark",) + SORTABLE
        for name, new in fresh.items():
            old = self._shown.get(name)
            if old is None:
                self.add_row(*new, key=name)
                written += len(new)
                continue
            for key, a, b in zip(keys, old, new):
                if a.plain != b.plain or a.style != b.style or a.spans != b.spans:
                    self.update_cell(name, key, b)
                    written += 1
        self._shown = fresh
        return written

    def _cells(self, row: Row, marked: bool) -> list[Text]:
        mark = Text("✓" if marked else " ", style=self.palette.get("roost-mark", ""))
        return [mark] + [c.cell(row, self.palette) for c in COLUMNS]
