"""The Jobs screen's Ray task summary: per function, how many tasks run, wait, finished, failed."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.text import safe_line

ROWS = 6            # functions shown (busiest first); the rest are counted
NAME = 28


class RaySummary(Static):
    DEFAULT_CSS = """
    RaySummary { height: auto; max-height: 9; padding: 0 1; }
    """

    def show(self, rows, pal: dict[str, str]) -> None:
        """rows: console.ray.parse.FuncSummary, busiest first."""
        self.update(summary_text(rows, pal))


def summary_text(rows, pal: dict[str, str]) -> Text:
    t = Text(f"Ray tasks by function  {'running':>8} {'pending':>8} {'finished':>9} "
             f"{'failed':>7}\n", style="bold")
    for row in rows[:ROWS]:
        name = safe_line(row.name)
        name = name if len(name) <= NAME else name[:NAME - 1] + "…"
        t.append(f"{name:<{NAME}} {row.running:>8} {row.pending:>8} {row.finished:>9} ")
        t.append(f"{row.failed:>7}", style=pal.get("roost-crit", "") if row.failed else "")
        t.append("\n")
    if len(rows) > ROWS:
        t.append(f"… {len(rows) - ROWS} more functions\n")
    if not rows:
        t.append("no Ray tasks yet\n")
    return t
