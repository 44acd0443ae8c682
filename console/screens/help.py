"""`?`: the bindings of the screen it was opened from, with their (possibly remapped) keys."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="help_close")]

    def __init__(self, title: str, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.title_text, self.rows = title, rows

    def compose(self) -> ComposeResult:
        t = Text(f"{self.title_text} — keys\n\n", style="bold")
        for key, desc, bid in self.rows:
            t.append(f"{key:>12}  ", style="bold")
            t.append(f"{desc:<28}")
            t.append(f" {bid}\n", style="dim")
        t.append("\n:  commands: fleet, heatmap [cpu|temp|fan|net], events, node NAME, "
                 "theme NAME, sort COL, filter TEXT, run CMD, jobs, power, help, quit\n")
        with VerticalScroll(id="help-box"):
            yield Static(t)


def binding_rows(app, screen) -> list[tuple[str, str, str]]:
    """(key, description, id) for every binding active on `screen`, app bindings last."""
    from console.keymap import BINDING_IDS
    rows, seen = [], set()
    for key, active in screen.active_bindings.items():
        b = active.binding
        if b.id in seen and b.id:
            continue
        seen.add(b.id)
        desc = b.description or b.tooltip or b.action
        rows.append((app.get_key_display(b), desc, b.id or ""))
    # roost's own bindings first; the widgets' built-in keys (cursor, paging) after them
    return sorted(rows, key=lambda r: r[2] not in BINDING_IDS)
