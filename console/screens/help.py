"""`?`: the keys of the screen it was opened from (every key of a multi-key binding, remapped
keys as configured), then the `:` commands with their arguments."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.keymap import BINDING_IDS

Row = tuple[str, str, str]      # (keys, description, binding id)


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="help_close")]

    def __init__(self, title: str, rows: list[Row],
                 commands: tuple[tuple[str, str, str], ...] = ()) -> None:
        super().__init__()
        self.title_text, self.rows, self.commands = title, rows, commands

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self.text())

    def text(self) -> Text:
        t = Text(f"{self.title_text} — keys\n\n", style="bold")
        width = max([12] + [len(k) for k, _d, _b in self.rows])
        for keys, desc, bid in self.rows:
            t.append(f"{keys:>{width}}  ", style="bold")
            t.append(f"{desc:<28}")
            t.append(f" {bid}\n", style="dim")
        if self.commands:
            t.append("\n: commands (type : then the command, enter runs it)\n\n", style="bold")
            for verb, args, what in self.commands:
                t.append(f"  :{verb}", style="bold")
                t.append(f" {args}" if args else "")
                t.append(f"\n      {what}\n", style="dim")
        return t


NAVIGATION = frozenset({"cursor_up", "cursor_down", "page_up", "page_down", "top", "bottom",
                        "heat_left", "heat_right", "heat_up", "heat_down"})


def binding_rows(app, screen) -> list[Row]:
    """(keys, description, id) for every binding active on `screen`: the screen's and its
    widgets' keys, then the app's, then cursor movement, then Textual's own; the keys of a multi-key binding
    ("n,escape") are listed together."""
    keys: dict[str, list[str]] = {}
    first: dict[str, tuple[int, Binding]] = {}
    for active in screen.active_bindings.values():
        b = active.binding
        ident = b.id or b.action
        rank = 4 if b.id not in BINDING_IDS else 3 if ident in NAVIGATION else \
            2 if active.node is app else 0 if active.node is screen else 1
        first.setdefault(ident, (rank, b))
        shown = app.get_key_display(b)
        if shown not in keys.setdefault(ident, []):
            keys[ident].append(shown)
    ordered = sorted(first.items(), key=lambda item: item[1][0])   # stable within a rank
    return [(", ".join(keys[i]), b.description or b.tooltip or b.action, b.id or "")
            for i, (_rank, b) in ordered]
