"""The fleet screen: the node table, a summary line and a `/` filter.

Its rows are kept between refreshes (console.screens.fleet_rows): a re-sort, a filter or a mark
re-selects them and builds nothing; a refresh of thousands of changed nodes runs in slices.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from console.messages import NodeChosen
from console.screens.base import View
from console.screens.fleet_rows import RowRefresher
from console.screens.host import FleetHost
from console.screens.power import POWER_KEYS
from console.state import FleetState, FleetView, Summary, descending
from console.widgets.key_footer import KeyFooter
from console.widgets.node_table import SORTABLE, NodeTable
from console.widgets.summary_bar import SummaryBar


class FleetScreen(View):
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("ctrl+a", "mark_all", "Mark shown", id="mark_all", show=False),
        Binding("u", "unmark_all", "Unmark", id="unmark_all", show=False),
        Binding("greater_than_sign", "sort(1)", "Sort →", id="sort_next"),
        Binding("less_than_sign", "sort(-1)", "Sort ←", id="sort_prev", show=False),
        Binding("r", "sort_reverse", "Reverse", id="sort_reverse", show=False),
        Binding("t", "shell", "Shell", id="shell"),
        Binding("escape", "close_filter", "Close filter", id="filter_close", show=False),
        *POWER_KEYS,
    ]

    def __init__(self, state: FleetState, host: FleetHost) -> None:
        super().__init__(name="fleet")
        self.state, self.host = state, host
        self.query_text = ""
        self.sort, self.reverse = "name", False
        self.rows_shown = 0
        self.rows = RowRefresher(self, state.view(), self._show)
        self._summary: Summary | None = None

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        yield NodeTable(id="nodes")
        yield Input(placeholder="filter: name, group, state (state:down group:rack1)",
                    id="filter")
        yield KeyFooter()

    def restyle(self) -> None:
        self._pal = None
        self.query_one(NodeTable).set_palette(self.pal)
        self.refresh_view()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    @property
    def table(self) -> NodeTable:
        return self.query_one(NodeTable)

    @property
    def view(self) -> FleetView:
        return self.rows.view

    @property
    def refreshing(self) -> bool:
        """A refresh of many changed rows is under way, in slices."""
        return self.rows.running

    def refresh_view(self, now: float | None = None) -> None:
        """Bring the rows up to date with state and redraw; the app calls this about once a
        second (large refreshes go in slices: console.screens.fleet_rows)."""
        self.rows.refresh(self.host.clock() if now is None else now)

    def redraw(self) -> None:
        """Show the kept rows with the current filter, sort and marks (a key press); rows that
        changed are rebuilt first when they are few, never a large refresh's worth."""
        now = self.host.clock()
        self._show(now, self.rows.catch_up(now))

    def _show(self, now: float, fresh: bool) -> None:
        """rows on the table; fresh: the summary is counted again too (O(nodes), so not for a
        re-sort that changed no data)."""
        rows = self.view.select(self.query_text, self.sort, self.reverse)
        down = descending(self.sort, self.reverse)
        self.table.set_sort_label(self.sort, down)
        self.table.show_ray(self.host.ray_fleet)
        self.rows_shown = self.table.show(rows, self.state.marked,
                                          (self.view.version, self.query_text))
        if fresh or self._summary is None:
            self._summary = self.state.summary(now)
        self.query_one(SummaryBar).show(self._summary, self.pal,
                                        len(self.state.marked), len(rows), self.query_text,
                                        f"{self.sort} {'▼' if down else '▲'}")

    # ---- actions -------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.display = False
            self.table.focus()
        elif self.query_text:
            box.value = ""

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.table.focus()

    def action_mark(self) -> None:
        """Mark the node under the cursor and move to the node shown below it, even when the
        redraw re-sorts (the next space marks the node the user saw next, never this one)."""
        table = self.table
        node = table.current_node
        if node is not None:
            below = table.node_after(node)
            self.state.toggle_mark(node)
            self.redraw()
            table.move_to(below or node)

    def action_mark_all(self) -> None:
        shown = self.view.select(self.query_text)
        self.state.marked.update(r.name for r in shown)
        self.redraw()

    def action_unmark_all(self) -> None:
        self.state.marked.clear()
        self.redraw()

    def action_sort(self, step: int) -> None:
        keys = self.table.sortable or list(SORTABLE)
        i = keys.index(self.sort) if self.sort in keys else 0
        self.set_sort(keys[(i + step) % len(keys)], False)

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        self.sort = key
        if reverse is not None:
            self.reverse = reverse
        self.redraw()

    def action_sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self.redraw()

    def on_node_table_header_clicked(self, event: NodeTable.HeaderClicked) -> None:
        key = event.key
        self.set_sort(key, not self.reverse if key == self.sort else False)

    def action_shell(self) -> None:
        node = self.table.current_node
        if node:
            self.host.open_shell(node)

    def on_node_chosen(self, msg: NodeChosen) -> None:
        msg.stop()
        self.host.open_node(msg.node)
