"""Events and alerts: the active alerts on top, the event log below."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from console.messages import NodeChosen
from console.screens.base import View
from console.screens.host import Host
from console.state import FleetState
from console.text import safe_line
from console.widgets.event_table import EventTable
from console.widgets.key_footer import KeyFooter


class EventsScreen(View):
    def __init__(self, state: FleetState, host: Host) -> None:
        super().__init__(name="events")
        self.state, self.host = state, host
        self._seen = -1

    def compose(self) -> ComposeResult:
        yield Static(id="alerts")
        yield EventTable(id="events")
        yield KeyFooter()

    def restyle(self) -> None:
        self._pal = None
        self.refresh_view(force=True)

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def refresh_view(self, now: float | None = None, force: bool = False) -> None:
        if self.state.version == self._seen and not force:
            return
        self._seen = self.state.version
        self.query_one("#alerts", Static).update(self.alerts())
        self.query_one(EventTable).show(list(self.state.events), self.pal, force)

    def on_node_chosen(self, msg: NodeChosen) -> None:
        msg.stop()
        self.host.open_node(msg.node)

    def alerts(self) -> Text:
        active = sorted(self.state.alerts.values(), key=lambda e: (e.severity != "crit", e.node))
        t = Text(f"active alerts: {len(active)}\n", style="bold")
        for e in active[:8]:
            style = self.pal["roost-crit"] if e.severity == "crit" else self.pal["roost-warn"]
            t.append(f"  {e.severity:<4} {safe_line(e.node)}: {e.kind} {safe_line(e.message)}\n",
                     style=style)
        if len(active) > 8:
            t.append(f"  … {len(active) - 8} more\n")
        return t
