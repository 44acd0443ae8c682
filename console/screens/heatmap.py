"""The heatmap screen: every node as a cell by a chosen metric, grouped by group/rack."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from console.messages import NodeChosen
from console.screens.base import View
from console.state import FleetState, select_rows
from console.text import safe_line
from console.widgets.cells import LEVELS
from console.widgets.heatmap import METRICS, Heatmap, level
from console.widgets.key_footer import KeyFooter
from console.widgets.summary_bar import SummaryBar


class HeatmapScreen(View):
    BINDINGS = [
        Binding("m", "metric", "Metric", id="metric"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("t", "shell", "Shell", id="shell"),
    ]

    def __init__(self, state: FleetState) -> None:
        super().__init__(name="heatmap")
        self.state = state

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
            self.refresh_view()

    def action_metric(self) -> None:
        cur = self.query_one(Heatmap).metric
        self.set_metric(METRICS[(METRICS.index(cur) + 1) % len(METRICS)])

    def action_mark(self) -> None:
        hm = self.query_one(Heatmap)
        if hm.current_node:
            self.state.toggle_mark(hm.current_node)
            self.refresh_view()

    def action_shell(self) -> None:
        node = self.query_one(Heatmap).current_node
        if node:
            self.app.open_shell(node)

    def scale(self, rows) -> dict[str, float]:
        t = self.state.thresholds
        return {"temp_lo": 30.0, "temp_warn": t.temp_warn, "temp_crit": t.temp_crit,
                "fan_max": max((r.fan_rpm or 0.0 for r in rows), default=0.0),
                "net_max": max(((r.rx_bps or 0) + (r.tx_bps or 0) for r in rows), default=0.0)}

    def refresh_view(self, now: float | None = None) -> None:
        now = self.app.clock() if now is None else now
        rows = select_rows(self.state.rows(now, spark=0), "", "name")
        hm = self.query_one(Heatmap)
        hm.show(rows, self.pal, self.scale(rows), self.state.marked)
        self.query_one(SummaryBar).show(self.state.summary(now), self.pal, len(self.state.marked))
        self.query_one("#legend", Static).update(self.legend(hm.metric))
        self.show_cursor()

    def legend(self, metric: str) -> Text:
        t = Text(f"metric: {metric}  ")
        for i, glyph in enumerate(LEVELS):
            t.append(glyph * 2, style=self.pal[f"heat-{i}"])
        t.append("  low → high   ✖ down  ◌ stale  · no data  ✓ marked   (m: next metric)")
        return t

    def show_cursor(self) -> None:
        hm = self.query_one(Heatmap)
        row = hm.current_row
        info = Text()
        if row is not None:
            _lv, value = level(row, hm.metric, hm.scale)
            info.append(f"{safe_line(row.name)}  {row.state}  {hm.metric} {value}")
            if row.groups:
                info.append(f"  group {safe_line(','.join(row.groups))}")
        self.query_one("#cursor-info", Static).update(info)

    def on_heatmap_cursor_moved(self, _msg: Heatmap.CursorMoved) -> None:
        self.show_cursor()

    def on_node_chosen(self, msg: NodeChosen) -> None:
        msg.stop()
        self.app.open_node(msg.node)
