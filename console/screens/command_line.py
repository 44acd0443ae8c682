"""`:`: a one-line k9s-style command prompt at the bottom; dismisses with the text typed."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input

COMMANDS = ("fleet", "heatmap", "events", "node", "theme", "sort", "filter", "run", "jobs",
            "power", "help", "quit")


class CommandLine(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="command_cancel")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder=" ".join(COMMANDS), id="command-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip().lstrip(":"))

    def action_cancel(self) -> None:
        self.dismiss(None)
