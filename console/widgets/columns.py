"""Which fleet-table columns fit a terminal, and how wide: a declared table, a greedy fit.

A column is one declaration (console.widgets.node_table.COLUMNS): its label, a cell function,
a full width and an optional compact width and cell, and two priorities: `priority` says when it
appears at its compact width as the terminal narrows, `wide_priority` when it grows to its full
width. fit() walks those steps, most important first, and takes each one that still fits, so at
80 columns the fleet shows State, Node, CPU with its sparkline, Load, Mem, Temp, Net and Jobs,
and at 200 everything. A column with `has_data` appears only when some row has data for it
(fans, Pi flags, a power driver, disk use on a fleet that reports it), so a fleet without that
data spends no width on a column of dashes. The sorted column always stays, wide enough for its
arrow. Pure: no Textual here, so the fit is tested on its own.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text

from console.state import Row

Cell = Callable[[Row, dict], Text]
ARROW = 2          # " ▼" after the sorted column's label
GAP = 1            # blank cells between columns


@dataclass(frozen=True, slots=True)
class Column:
    key: str                    # also the sort key (console.state.SORT_KEYS)
    label: str
    cell: Cell                  # the full cell
    width: int                  # the full width
    priority: int               # lower appears first as the terminal narrows
    min_width: int = 0          # the compact width (0: the column has one width)
    compact: Cell | None = None  # the cell at compact width (None: the full cell, cut)
    wide_priority: int | None = None   # when it grows from min_width to width (None: at once)
    has_data: Callable[[Row], bool] | None = None   # None: always shown

    @property
    def narrow(self) -> int:
        return self.min_width or self.width


@dataclass(frozen=True, slots=True)
class Placed:
    """A column on screen: its width in cells, and whether it shows its compact cell."""
    column: Column
    width: int
    compact: bool = False

    def render(self, row: Row, pal: dict) -> Text:
        c = self.column
        return (c.compact or c.cell)(row, pal) if self.compact else c.cell(row, pal)


def present(columns: Sequence[Column], rows: Sequence[Row]) -> list[Column]:
    """The columns this fleet has data for (always-on columns, and optional ones some row fills)."""
    return [c for c in columns if c.has_data is None or any(c.has_data(r) for r in rows)]


def fit(columns: Sequence[Column], avail: int, sort: str = "", fixed: int = 0,
        widths: dict[str, int] | None = None) -> list[Placed]:
    """The columns and widths that fit `avail` cells, in table order.

    fixed: cells already taken (the mark column); widths: overrides of a column's full width
    (the node name column is as wide as the longest name). The sorted column is placed first
    and always; the first column placed stays even when nothing fits.
    """
    full = {c.key: max((widths or {}).get(c.key, c.width), c.narrow) for c in columns}
    shown: dict[str, Placed] = {}
    used = fixed
    for kind, col in _steps(columns, sort):
        head = len(col.label) + (ARROW if col.key == sort else 0)
        if kind == "show" and col.key not in shown:
            width = max(col.min_width or full[col.key], head)
            if used + width + GAP <= avail or col.key == sort or not shown:
                shown[col.key] = Placed(col, width, compact=width < full[col.key])
                used += width + GAP
        elif kind == "widen" and col.key in shown:
            grow = max(full[col.key], head) - shown[col.key].width
            if grow > 0 and used + grow <= avail:
                shown[col.key] = Placed(col, shown[col.key].width + grow)
                used += grow
    return [shown[c.key] for c in columns if c.key in shown]


def _steps(columns: Sequence[Column], sort: str) -> list[tuple[str, Column]]:
    """(show|widen, column) in the order fit() tries them."""
    steps: list[tuple[float, str, Column]] = []
    for c in columns:
        first = -1.0 if c.key == sort else float(c.priority)
        steps.append((first, "show", c))
        if c.min_width:
            wide = c.wide_priority if c.wide_priority is not None else c.priority
            steps.append((max(first, float(wide)) + 0.5, "widen", c))
    return [(kind, c) for _, kind, c in sorted(steps, key=lambda s: s[0])]
