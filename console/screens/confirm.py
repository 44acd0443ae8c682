"""The one yes/no question over the current screen (power off/cycle/group actions, job cancel
and abort).

The rule, the same everywhere: `y` confirms; `n` and escape cancel; the confirming button names
the action and the count ("Power off 3 nodes (y)"); Enter presses the focused button, and the
focus starts on the safe answer, No, unless the action is harmless (switching nodes on), where it
starts on the action. The question is plain Text, so node names in it cannot restyle it.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from console.text import safe


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm_no"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    #ask-box { width: 72; max-width: 95%; height: auto; padding: 1 2; }
    #ask-buttons { height: auto; margin-top: 1; }
    #ask-buttons Button { margin-right: 2; }
    """

    def __init__(self, question: str, detail: str = "", yes: str = "Yes",
                 harmless: bool = False) -> None:
        super().__init__()
        self.question, self.detail, self.yes, self.harmless = question, detail, yes, harmless

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box"):
            yield Static(Text(safe(self.question), style="bold"), id="confirm-question")
            if self.detail:
                yield Static(Text(safe(self.detail)), id="confirm-detail")
            with Horizontal(id="ask-buttons"):
                yield Button(f"{self.yes} (y)", id="confirm-yes",
                             variant="primary" if self.harmless else "error")
                yield Button("No (n)", id="confirm-no",
                             variant="default" if self.harmless else "primary")

    def on_mount(self) -> None:
        first = "#confirm-yes" if self.harmless else "#confirm-no"
        self.query_one(first, Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
