"""The power screen's table: one row per node with a power driver.

Columns: mark, node, driver, what the driver reads back, whether a fresh SSH login answers, the
truthful combination of both (console.power.sequence.Shown.text) and the live progress of a
running sequence. Rows are keyed by node; a refresh rewrites only the cells that changed.
Everything from a node or a driver goes in as rich Text through safe_line (never markup).
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from console.power.control import PowerRow
from console.text import safe_line

# (key, label, fixed width or None: sized to the content and the terminal)
COLUMNS = (("mark", " ", 1), ("node", "Node", None), ("driver", "Driver", None),
           ("readback", "Read-back", 9), ("ssh", "SSH", 9), ("shown", "Shown state", None),
           ("progress", "Progress", None))
CAP = {"node": 24, "driver": 20}     # these stop growing here
PAD = 2                              # DataTable's cell padding, both sides
SHOWN_MIN, PROGRESS_MIN = 14, 16


def widths(rows: list[PowerRow], avail: int) -> dict[str, int]:
    """Column widths for the rows at a table width: node and driver as long as the longest
    (capped), then Shown state and Progress share the rest of the line, so a long step is not
    cut at 200 columns and the table still fits 80."""
    def longest(key: str, label: str) -> int:
        return max([len(label)] + [len(safe_line(getattr(r, key))) for r in rows])
    out = {key: fixed for key, _label, fixed in COLUMNS if fixed is not None}
    for key, cap in CAP.items():
        out[key] = min(cap, longest(key, key.title()))
    rest = avail - sum(out.values()) - PAD * len(COLUMNS) - 1
    out["shown"] = min(longest("shown", "Shown state"), max(SHOWN_MIN, rest // 2))
    out["progress"] = max(PROGRESS_MIN, rest - out["shown"])
    return out


class PowerTable(DataTable):
    DEFAULT_CSS = "PowerTable { height: 1fr; }"

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", **kw)
        self._shown: dict[str, tuple] = {}
        self._order: list[str] = []
        self._widths: dict[str, int] = {}
        self._last: tuple[list[PowerRow], set[str], dict[str, str]] = ([], set(), {})

    def on_resize(self) -> None:
        self.show(*self._last)

    def _columns(self, rows: list[PowerRow]) -> bool:
        """Lay the columns out for these rows and this width; True when they changed."""
        want = widths(rows, self.scrollable_content_region.width or self.app.size.width)
        if want == self._widths:
            return False
        self._widths = want
        self.clear(columns=True)
        for key, label, _fixed in COLUMNS:
            self.add_column(label, key=key, width=want[key])
        self._order = []
        return True

    @property
    def current_node(self) -> str | None:
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def cell_text(self, node: str, key: str) -> str:
        return self.get_cell(node, key).plain

    def show(self, rows: list[PowerRow], marked: set[str], pal: dict[str, str]) -> None:
        """Put rows on screen; same nodes in the same order only rewrite changed cells."""
        self._last = (rows, set(marked), pal)
        order = [r.node for r in rows]
        if self._columns(rows) or order != self._order:
            self._rebuild(rows, marked, pal)
            return
        for r in rows:
            cells = self._cells(r, r.node in marked, pal)
            old = self._shown.get(r.node)
            if old == cells:
                continue
            for (key, _l, _w), new, before in zip(COLUMNS, cells, old or (None,) * len(COLUMNS)):
                if new != before:
                    self.update_cell(r.node, key, new)
            self._shown[r.node] = cells

    def _rebuild(self, rows: list[PowerRow], marked: set[str], pal: dict[str, str]) -> None:
        keep = self.current_node
        self.clear()
        self._order, self._shown = [], {}
        for r in rows:
            cells = self._cells(r, r.node in marked, pal)
            self.add_row(*cells, key=r.node)
            self._order.append(r.node)
            self._shown[r.node] = cells
        if keep in self._order:
            self.move_cursor(row=self._order.index(keep), animate=False)

    @staticmethod
    def _cells(r: PowerRow, marked: bool, pal: dict[str, str]) -> tuple[Text, ...]:
        up, down = pal.get("roost-up", ""), pal.get("roost-down", "")
        warn = pal.get("roost-warn", "")
        read_style = {"on": up, "off": down}.get(r.readback, warn)
        ssh = {True: Text("answers", style=up), False: Text("no answer", style=down),
               None: Text("…", style="dim")}[r.ssh]
        shown_style = {"ok": "", "warn": warn, "crit": pal.get("roost-crit", "")}[r.level]
        return (Text("✓" if marked else " ", style=pal.get("roost-mark", "")),
                Text(safe_line(r.node)), Text(safe_line(r.driver)),
                Text(safe_line(r.readback) or "…", style=read_style), ssh,
                Text(safe_line(r.shown), style=shown_style),
                Text(safe_line(r.progress), style=warn if r.busy else ""))
