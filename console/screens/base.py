"""The base of the console's views: the theme's colour roles, resolved once per theme."""
from __future__ import annotations

from textual.screen import Screen

from console.widgets.cells import palette


class View(Screen):
    _pal: dict[str, str] | None = None

    @property
    def pal(self) -> dict[str, str]:
        # resolved on first use: a 1 Hz refresh may reach a screen before its on_mount ran
        if self._pal is None:
            self._pal = palette(self.app.theme_variables)
        return self._pal
