"""One line over the fleet: nodes up, alerts, marks, filter, sort, cores busy, hottest node.

On a narrow terminal the least useful parts go first (hottest node, then cores busy), so marks,
the filter and the sort order stay visible at 80 columns.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.state import Summary
from console.text import safe_line

WIDE_GAP, NARROW_GAP = "   ", "  "


class SummaryBar(Static):
    DEFAULT_CSS = "SummaryBar { height: 1; padding: 0 1; }"

    def show(self, s: Summary, pal: dict[str, str], marked: int = 0, shown: int | None = None,
             query: str = "", sort: str = "") -> None:
        parts = self.parts(s, pal, marked, shown, query, sort)
        # one line of a fixed height: no layout pass (a full reflow of the screen per key)
        self.update(fit_line(parts, max(0, self.size.width - 2) or 10_000), layout=False)

    @staticmethod
    def parts(s: Summary, pal: dict[str, str], marked: int, shown: int | None, query: str,
              sort: str) -> list[tuple[int, Text]]:
        """(priority, text) in display order; lower priority stays longer."""
        nodes = Text(f"▲ {s.up}/{s.total} up", style=pal["roost-up"])
        if s.down:
            nodes.append(f"  ✖ {s.down} down", style=pal["roost-down"])
        if s.stale:
            nodes.append(f"  ◌ {s.stale} stale", style=pal["roost-stale"])
        out = [(0, nodes)]
        if s.source:    # a Prometheus source down or slow is as important as the nodes
            style = {"crit": pal["roost-crit"], "warn": pal["roost-warn"]}.get(s.source_level, "")
            out.append((0 if s.source_level != "ok" else 3, Text(safe_line(s.source), style=style)))
        out += [(4, Text(f"cores busy {s.cores_busy:.1f}/{s.cores}"))]
        if s.hottest_node is not None:
            out.append((5, Text(f"hottest {safe_line(s.hottest_node)} {s.hottest_temp:.1f}°")))
        if s.watts is not None:
            out.append((3, Text(f"⚡ {s.watts:.1f} W ({s.watts_nodes} metered)")))
        alert_style = pal["roost-crit"] if s.crit_alerts else pal["roost-warn"] if s.alerts else ""
        out.append((1, Text(f"alerts {s.alerts}" + (f" ({s.crit_alerts} crit)"
                                                     if s.crit_alerts else ""), style=alert_style)))
        if marked:
            out.append((1, Text(f"✓ {marked} marked", style=pal["roost-mark"])))
        if shown is not None and shown != s.total:
            out.append((2, Text(f"showing {shown}")))
        if query:
            out.append((2, Text(f"filter: {safe_line(query)}")))
        if sort:
            out.append((3, Text(f"sort: {sort}")))
        return out


def fit_line(parts: list[tuple[int, Text]], width: int) -> Text:
    """Join parts with a gap; when too long, a narrower gap, then drop the least important
    (highest number, the later one on a tie) until the line fits."""
    line = Text(WIDE_GAP).join(t for _, t in parts)
    keep = list(parts)
    while line.cell_len > width and keep:
        line = Text(NARROW_GAP).join(t for _, t in keep)
        if line.cell_len > width and len(keep) > 1:
            keep.remove(max(reversed(keep), key=lambda p: p[0]))
        else:
            break
    return line
