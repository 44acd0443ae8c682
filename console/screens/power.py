"""`p`: the power screen: per node the driver's read-back, whether SSH answers, the truthful
combination of both, the live step of a running sequence, and a log of every step.

`o`/`O`/`C` (app bindings) act on the marked nodes or the row under the cursor; `r` reads every
node's power again; `space` marks. All state lives in console.power.control.PowerControl; this
only draws it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from console.power.control import NOT_CONFIGURED, PowerControl, PowerRow
from console.screens.base import View
from console.state import FleetState
from console.text import plural
from console.widgets.key_footer import KeyFooter
from console.widgets.power_log import PowerLog
from console.widgets.power_table import PowerTable

# `o`/`O`/`C` live on the fleet and power screens only (screen bindings: a destructive key never
# acts from a screen where its neighbour means something else, such as `c` cancel on Jobs).
POWER_KEYS = [
    Binding("o", "app.power('on')", "Power on", id="power_on", show=False),
    Binding("O", "app.power('off')", "Power off", id="power_off", show=False),
    Binding("C", "app.power('cycle')", "Power cycle", id="power_cycle", show=False),
]


class PowerScreen(View):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("r", "reread", "Re-read", id="power_refresh"),
        Binding("space", "mark", "Mark", id="mark"),
        *(replace(b, show=True) for b in POWER_KEYS),   # this screen's own actions
    ]

    def __init__(self, control: PowerControl, state: FleetState,
                 reread: Callable[[], None]) -> None:
        super().__init__(name="power")
        self.control, self.state, self.reread = control, state, reread

    def compose(self) -> ComposeResult:
        yield Static(id="power-head")
        yield PowerTable(id="power-table")
        yield PowerLog(id="power-log")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.table.focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    @property
    def table(self) -> PowerTable:
        return self.query_one(PowerTable)

    def refresh_view(self, now: float | None = None) -> None:
        rows = self.control.rows()
        marked = self.state.marked
        self.table.show(rows, marked, self.pal)
        self.query_one(PowerLog).show(self.control.log, self.pal)
        self.query_one("#power-head", Static).update(self.head(rows, marked))

    def head(self, rows: list[PowerRow], marked: set[str]) -> Text:
        if self.control.service is None:
            return Text(self.control.problem or NOT_CONFIGURED, style=self.pal["roost-warn"])
        on = sum(r.readback == "on" for r in rows)
        off = sum(r.readback == "off" for r in rows)
        bad = sum(r.level == "crit" for r in rows)
        busy = sum(r.busy for r in rows)
        t = Text(f"power: {plural(len(rows), 'node')} · on {on} · off {off}")
        if bad:
            t.append(f" · {bad} disagree with SSH or unreadable", style=self.pal["roost-crit"])
        if busy:
            t.append(f" · {busy} in a sequence", style=self.pal["roost-warn"])
        t.append(f" · marked {len(marked)}", style="dim")
        return t

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reread(self) -> None:
        self.reread()

    def action_mark(self) -> None:
        node = self.table.current_node
        if node is not None:
            self.state.toggle_mark(node)
            self.refresh_view()
            self.table.action_cursor_down()
