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

COLUMNS = (("mark", " ", 1), ("node", "Node", 14), ("driver", "Driver", 16),
           ("readback", "Read-back", 9), ("ssh", "SSH", 9), ("shown", "Shown state", None),
           ("progress", "Progress", None))


class PowerTable(DataTable):
    DEFAULT_CSS = "PowerTable { height: 1fr; }"

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", **kw)
        self._shown: dict[str, tuple] = {}
        self._order: list[str] = []

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def current_node(self) -> str | None:
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def cell_text(self, node: str, key: str) -> str:
        return self.get_cell(node, key).plain

    def show(self, rows: list[PowerRow], marked: set[str], pal: dict[str, str]) -> None:
        """Put rows on screen; same nodes in the same order only rewrite changed cells."""
        order = [r.node for r in rows]
        if order != self._order:
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
