"""The heatmap screen: every node as a cell by a chosen metric, grouped by group/rack.

Past GROUP_AT nodes (more than a screen holds) a cell stands for a whole group (its worst
node); Enter on it shows that group's nodes, Escape goes back to the groups. Rows are kept between
refreshes and a refresh of thousands of changed nodes runs in slices (screens/fleet_rows)."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from console.messages import NodeChosen
from console.screens.base import View
from console.screens.fleet_rows import RowRefresher
from console.screens.host import Host
from console.state import DOWN, STALE, FleetState, Row, Summary
from console.text import safe_line
from console.widgets.cells import LEVELS
from console.widgets.heatmap import METRICS, Heatmap, group_of, group_rows, level, worst
from console.widgets.key_footer import KeyFooter
from console.widgets.summary_bar import SummaryBar

GROUP_AT = 2000    # nodes beyond which the heatmap shows one cell per group


class HeatmapScreen(View):
    BINDINGS = [
        Binding("m", "metric", "Metric", id="metric"),
        Binding("escape", "groups", "Groups", id="heat_groups"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("t", "shell", "Shell", id="shell"),
    ]

    def __init__(self, state: FleetState, host: Host) -> None:
        super().__init__(name="heatmap")
        self.state, self.host = state, host
        self.group_at = GROUP_AT
        self.group: str | None = None             # the group opened from the groups' cells
        self.members: dict[str, list[Row]] = {}   # each group's nodes while cells are groups
        self.rows = RowRefresher(self, state.view(), self._show)
        self._summary: Summary | None = None

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        yield Static(id="legend")
        yield Heatmap(id="heatmap")
        yield Static(id="cursor-info")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(Heatmap).focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    @property
    def heatmap_widget(self) -> Heatmap:
        return self.query_one(Heatmap)

    def set_metric(self, metric: str) -> None:
        if metric in METRICS:
            self.query_one(Heatmap).metric = metric
            self.redraw()

    def action_metric(self) -> None:
        cur = self.query_one(Heatmap).metric
        self.set_metric(METRICS[(METRICS.index(cur) + 1) % len(METRICS)])

    def action_mark(self) -> None:
        """Mark the node under the cursor, or every node of the group under it."""
        hm = self.query_one(Heatmap)
        current = hm.current_node
        if current in self.members:
            names = {r.name for r in self.members[current]}
            unmark = names <= self.state.marked
            for name in names:
                if (name in self.state.marked) == unmark:
                    self.state.toggle_mark(name)
        elif current:
            self.state.toggle_mark(current)
        self.redraw()

    def action_shell(self) -> None:
        node = self.query_one(Heatmap).current_node
        if node and node not in self.members:
            self.host.open_shell(node)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.group is not None if action == "groups" else True

    def action_groups(self) -> None:
        """Back from a group's nodes to the groups, the cursor on the group left."""
        left, self.group = self.group, None
        if left is not None:
            self.refresh_bindings()
            self.redraw()
            self.query_one(Heatmap).move_to(left)
            self.show_cursor()

    def scale(self, rows: list[Row]) -> dict[str, float]:
        t = self.state.thresholds
        return {"temp_lo": 30.0, "temp_warn": t.temp_warn, "temp_crit": t.temp_crit,
                "fan_max": max((r.fan_rpm or 0.0 for r in rows), default=0.0),
                "net_max": max(((r.rx_bps or 0) + (r.tx_bps or 0) for r in rows), default=0.0)}

    @property
    def refreshing(self) -> bool:
        """A refresh of many changed rows is under way, in slices."""
        return self.rows.running

    def refresh_view(self, now: float | None = None) -> None:
        """Bring the cells up to date with state; the app calls this about once a second."""
        self.rows.refresh(self.host.clock() if now is None else now)

    def redraw(self) -> None:
        """Show the kept rows again (a key press: metric, mark, a group opened or left)."""
        now = self.host.clock()
        self._show(now, self.rows.catch_up(now))

    def _show(self, now: float, fresh: bool) -> None:
        rows = self.rows.view.select()
        hm = self.query_one(Heatmap)
        scale = self.scale(rows)
        self.members = {}
        if self.group is not None:
            rows = [r for r in rows if group_of(r) == self.group]
        elif len(rows) > self.group_at:
            rows, self.members = group_rows(rows, hm.metric, scale)
        hm.show(rows, self.pal, scale, self._marked())
        if fresh or self._summary is None:
            self._summary = self.state.summary(now)
        self.query_one(SummaryBar).show(self._summary, self.pal, len(self.state.marked))
        # one line each (the theme fixes their height): no layout pass of the screen per refresh
        self.query_one("#legend", Static).update(self.legend(hm.metric), layout=False)
        self.show_cursor()

    def _marked(self) -> set[str]:
        """Marked nodes, and the groups whose nodes are all marked (while cells are groups)."""
        marked = self.state.marked
        return marked | {g for g, rows in self.members.items() if all(r.name in marked for r in rows)}

    def legend(self, metric: str) -> Text:
        where = f"group {safe_line(self.group)} (Esc: all groups)  " if self.group is not None else \
            "a cell per group, its worst node (Enter: its nodes)  " if self.members else ""
        t = Text(f"{where}metric: {metric}  ")
        for i, glyph in enumerate(LEVELS):
            t.append(glyph * 2, style=self.pal[f"heat-{i}"])
        t.append("  low → high   ✖ down  ◌ stale  · no data  ✓ marked   (m: next metric)")
        return t

    def show_cursor(self) -> None:
        hm = self.query_one(Heatmap)
        row = hm.current_row
        info = Text()
        if row is not None and row.name in self.members:
            info.append(self.group_info(row.name, hm.metric, hm.scale))
        elif row is not None:
            _lv, value = level(row, hm.metric, hm.scale)
            info.append(f"{safe_line(row.name)}  {row.state}  {hm.metric} {value}")
            if row.groups:
                info.append(f"  group {safe_line(','.join(row.groups))}")
        self.query_one("#cursor-info", Static).update(info, layout=False)   # a key: no layout pass

    def on_heatmap_cursor_moved(self, _msg: Heatmap.CursorMoved) -> None:
        self.show_cursor()

    def group_info(self, group: str, metric: str, scale: dict[str, float]) -> str:
        rows = self.members[group]
        states = [r.state for r in rows]
        bad = ", ".join(f"{states.count(s)} {s}" for s in (DOWN, STALE) if s in states)
        top = worst(rows, metric, scale)
        return (f"{safe_line(group)}  {len(rows)} nodes{f' ({bad})' if bad else ''}  worst "
                f"{safe_line(top.name)} {top.state} {metric} {level(top, metric, scale)[1]}")

    def on_node_chosen(self, msg: NodeChosen) -> None:
        msg.stop()
        if msg.node in self.members:     # a group's cell: show its nodes
            self.group = msg.node
            self.refresh_bindings()
            self.redraw()
            self.query_one(Heatmap).move_to(None)
            self.show_cursor()
        else:
            self.host.open_node(msg.node)
