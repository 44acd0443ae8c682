"""One line over the fleet: nodes up, cores busy, hottest node, alerts, marks, filter."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.state import Summary
from console.text import safe_line


class SummaryBar(Static):
    DEFAULT_CSS = "SummaryBar { height: 1; padding: 0 1; }"

    def show(self, s: Summary, pal: dict[str, str], marked: int = 0, shown: int | None = None,
             query: str = "", sort: str = "") -> None:
        t = Text()
        t.append(f"▲ {s.up}/{s.total} up", style=pal["roost-up"])
        if s.down:
            t.append(f"  ✖ {s.down} down", style=pal["roost-down"])
        if s.stale:
            t.append(f"  ◌ {s.stale} stale", style=pal["roost-stale"])
        t.append(f"   cores busy {s.cores_busy:.1f}/{s.cores}")
        if s.hottest_node is not None:
            t.append(f"   hottest {safe_line(s.hottest_node)} {s.hottest_temp:.1f}°")
        alert_style = pal["roost-crit"] if s.crit_alerts else pal["roost-warn"] if s.alerts else ""
        t.append(f"   alerts {s.alerts}" + (f" ({s.crit_alerts} crit)" if s.crit_alerts else ""),
                 style=alert_style)
        if marked:
            t.append(f"   ✓ {marked} marked", style=pal["roost-mark"])
        if shown is not None and shown != s.total:
            t.append(f"   showing {shown}")
        if query:
            t.append(f"   filter: {safe_line(query)}")
        if sort:
            t.append(f"   sort: {sort}")
        self.update(t)
