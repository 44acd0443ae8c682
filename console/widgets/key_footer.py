"""The footer, fitted to the terminal: the screen's own keys first, then `?`, then the views.

Textual's Footer lists every key in binding order and cuts the line at the terminal's edge, so
at 80 columns the fleet screen showed its own keys and `f Fleet`, and `?`, `j`, `p`, `x` were
never seen. This footer orders keys by what the user needs here (the focused widget's and the
screen's keys, then help, then the other views, quit, the palette), switches to Textual's
compact style when the full line does not fit, and leaves out what still does not fit (`?`
lists every key). The key of the view already on screen (`f` on the fleet) is not repeated.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # Footer's own key widget (not re-exported)

LAST = ("quit", "palette")     # app keys shown after the views
PALETTE_EXTRA = 3              # its left border and padding


@dataclass(frozen=True, slots=True)
class Shown:
    binding: Binding
    key: str                   # as displayed (remapped keys included)
    enabled: bool
    tooltip: str
    local: bool                # declared by the screen or a widget on it, not the app

    def cells(self, compact: bool) -> int:
        """Width of this key in the footer (FooterKey's padding, Footer's margins)."""
        return Text(f"{self.key} {self.binding.description}").cell_len + (1 if compact else 2)


def ordered(keys: Iterable[Shown], view: str | None) -> list[Shown]:
    """Local keys, help, the app's other keys (not the view on screen), quit, palette."""
    keys = [k for k in keys if k.binding.id != view or k.local]
    local = [k for k in keys if k.local]
    app = [k for k in keys if not k.local]
    first = [k for k in app if k.binding.id == "help"]
    last = sorted((k for k in app if k.binding.id in LAST), key=lambda k: LAST.index(k.binding.id))
    middle = [k for k in app if k not in first and k not in last]
    return local + first + middle + last


def choose(keys: list[Shown], width: int) -> tuple[list[Shown], bool]:
    """(keys that fit, compact?): all of them at full size if they fit, else compact and every
    key, in order, that still fits."""
    if sum(k.cells(False) for k in keys) + PALETTE_EXTRA <= width:
        return keys, False
    out, used = [], 0
    for k in keys:
        cost = k.cells(True) + (PALETTE_EXTRA if k.binding.id == "palette" else 0)
        if used + cost <= width:
            out.append(k)
            used += cost
    return out, True


class KeyFooter(Footer):
    """Footer that always shows `?` and the screen's own keys (see the module docstring)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._width = 0

    def shown_keys(self) -> list[Shown]:
        """Every binding the footer may show, one per action (a multi-key binding once)."""
        app, seen, out = self.app, set(), []
        for node, binding, enabled, tooltip in self.screen.active_bindings.values():
            palette = binding.id == "palette" and self.show_command_palette
            if not (binding.show or palette) or binding.action in seen:
                continue
            seen.add(binding.action)
            out.append(Shown(binding, app.get_key_display(binding), enabled, tooltip,
                             node is not app))
        return out

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        width = self.size.width or self.app.size.width
        self._width = width
        keys, compact = choose(ordered(self.shown_keys(), self.screen.name), width)
        self.set_reactive(Footer.compact, compact)
        self.set_class(compact, "-compact")
        for k in keys:
            palette = k.binding.id == "palette"
            yield FooterKey(k.binding.key, k.key, k.binding.description, k.binding.action,
                            disabled=not k.enabled, tooltip=k.tooltip or k.binding.description,
                            classes="-command-palette" if palette else "",
                            ).data_bind(compact=Footer.compact)

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self.call_after_refresh(self.recompose)
