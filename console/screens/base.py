"""The base of the console's views: the theme's colour roles, resolved once per theme."""
from __future__ import annotations

from textual.screen import Screen

from console.widgets.cells import palette


class View(Screen):
    """A screen that follows the theme: Textual runs this on_mount beside each subclass's own
    (handlers are called for every class in the MRO), so views only say how they redraw."""
    _pal: dict[str, str] | None = None

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _t: self.restyle())
        self.restyle()

    def restyle(self) -> None:
        self._pal = None
        self.refresh_view()

    def refresh_view(self, now: float | None = None) -> None:
        """Redraw from the model (the app calls it about once a second); views override it."""

    @property
    def pal(self) -> dict[str, str]:
        # resolved on first use: a 1 Hz refresh may reach a screen before its on_mount ran
        if self._pal is None:
            self._pal = palette(self.app.theme_variables)
        return self._pal
