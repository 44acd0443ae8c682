"""`:`: a one-line k9s-style command prompt, and the commands it (and the palette) runs."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.widgets import Input

import themes
from console.screens.fleet import FleetScreen
from console.screens.heatmap import HeatmapScreen
from console.screens.power_actions import PowerActions
from console.text import safe_line
from console.widgets.heatmap import METRICS
from console.widgets.node_table import SORTABLE

VIEWS = ("fleet", "heatmap", "events")
# `:` commands: (verb, arguments, what it does); help (`?`) prints this table, and every verb
# has a Commands.cmd_<verb> (tests check both ways).
COMMAND_HELP: tuple[tuple[str, str, str], ...] = (
    ("fleet", "", "the fleet table"),
    ("heatmap", f"[{'|'.join(METRICS)}]", "the heatmap, coloured by a metric"),
    ("events", "", "events and active alerts"),
    ("node", "NAME", "a node's graphs and facts"),
    ("jobs", "", "the job queue"),
    ("power", "[status | on|off|cycle [NODESET] [--force] [--hard]]",
     "the power screen, or act (no NODESET: marked nodes, else the cursor's)"),
    ("run", "COMMAND", "run COMMAND on the marked nodes (else the cursor's)"),
    ("sort", "COLUMN [rev]", "sort the fleet (cpu, load, mem, temp ... busiest first)"),
    ("filter", "TEXT", "filter the fleet: name, group:G, state:S, a hostlist n[1-4]"),
    ("theme", "NAME", "switch colours (roost-dark, roost-light, roost-contrast ...)"),
    ("help", "", "keys of this screen and these commands"),
    ("quit", "", "leave roost"),
)
COMMANDS = tuple(verb for verb, _args, _what in COMMAND_HELP)


class CommandLine(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="command_cancel")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder=" ".join(COMMANDS), id="command-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip().lstrip(":"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class Console(Protocol):
    """What `:` commands ask of the app (console.app.RoostApp), so no screen imports the app."""
    power_ui: PowerActions
    theme: str

    @property
    def available_themes(self) -> dict[str, Theme]: ...
    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...
    def call_later(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> bool: ...
    def get_screen(self, screen: str) -> Screen[Any]: ...
    def exit(self, result: Any = None, return_code: int = 0, message: Any = None) -> None: ...
    async def action_show(self, view: str) -> None: ...
    def open_node(self, node: str) -> None: ...
    def action_run(self, command: str = "") -> None: ...
    async def action_jobs(self) -> None: ...
    def action_help(self) -> None: ...
    def action_power_screen(self) -> None: ...
    def action_power(self, action: str) -> None: ...
    def action_command_line(self) -> None: ...


class Commands:
    """`:verb arg` -> cmd_verb(arg) on the app's screens; the palette lists the same actions."""

    def __init__(self, app: Console) -> None:
        self.app = app

    def run(self, text: str | None) -> None:
        if not text:
            return
        verb, _, arg = text.partition(" ")
        handler = getattr(self, f"cmd_{verb.lower()}", None)
        if handler is None:
            self.app.notify(f"unknown command :{safe_line(verb)} (? for help)",
                            severity="warning", markup=False)
            return
        handler(arg.strip())

    def cmd_fleet(self, _arg: str) -> None:
        self.app.call_later(self.app.action_show, "fleet")

    def cmd_events(self, _arg: str) -> None:
        self.app.call_later(self.app.action_show, "events")

    def cmd_heatmap(self, arg: str) -> None:
        self.app.call_later(self._heatmap, {"temperature": "temp"}.get(arg, arg))

    async def _heatmap(self, metric: str) -> None:
        await self.app.action_show("heatmap")
        screen = self.app.get_screen("heatmap")
        if metric and isinstance(screen, HeatmapScreen):
            screen.set_metric(metric)

    def cmd_node(self, arg: str) -> None:
        self.app.open_node(arg)

    def cmd_theme(self, arg: str) -> None:
        have = self.app.available_themes
        name = arg if arg in have else f"roost-{arg}"
        if name in have:
            self.app.theme = name
        else:
            self.app.notify(f"no theme {safe_line(arg)}; have: {', '.join(sorted(have))}",
                            severity="warning", markup=False)

    def cmd_sort(self, arg: str) -> None:
        key, _, rev = arg.partition(" ")
        screen = self.app.get_screen("fleet")
        if key in SORTABLE and isinstance(screen, FleetScreen):
            screen.set_sort(key, rev.strip() in ("rev", "desc", "-"))
        else:
            self.app.notify(f"sort by one of: {', '.join(SORTABLE)}", severity="warning")

    def cmd_filter(self, arg: str) -> None:
        self.app.call_later(self._filter, arg)

    async def _filter(self, arg: str) -> None:
        await self.app.action_show("fleet")
        self.app.get_screen("fleet").query_one("#filter", Input).value = arg

    def cmd_run(self, arg: str) -> None:
        self.app.action_run(arg)

    def cmd_jobs(self, _arg: str) -> None:
        self.app.call_later(self.app.action_jobs)

    def cmd_power(self, arg: str) -> None:
        self.app.power_ui.command(arg)

    def cmd_help(self, _arg: str) -> None:
        self.app.action_help()

    def cmd_quit(self, _arg: str) -> None:
        self.app.exit(0)

    def palette(self) -> Iterable[SystemCommand]:
        app = self.app
        for view in VIEWS:
            yield SystemCommand(f"Show {view}", f"switch to the {view} screen",
                                lambda v=view: app.call_later(app.action_show, v))
        for metric in METRICS:
            yield SystemCommand(f"Heatmap by {metric}", "heatmap coloured by " + metric,
                                lambda m=metric: self.cmd_heatmap(m))
        for key in SORTABLE:
            yield SystemCommand(f"Sort fleet by {key}", "fleet table order",
                                lambda k=key: self.cmd_sort(k))
        for name in themes.names():
            yield SystemCommand(f"Theme {name}", "switch colours", lambda n=name: self.cmd_theme(n))
        yield SystemCommand("Run command", "on marked nodes (x)", app.action_run)
        yield SystemCommand("Command line", "k9s-style : commands", app.action_command_line)
        yield SystemCommand("Jobs", "jobs screen (j)", lambda: app.call_later(app.action_jobs))
        yield SystemCommand("Power", "power screen (p)", app.action_power_screen)
        for action, key in (("on", "o"), ("off", "O"), ("cycle", "C")):
            yield SystemCommand(f"Power {action}", f"marked nodes, else the cursor's ({key})",
                                lambda a=action: app.action_power(a))
        yield SystemCommand("Help", "keys of this screen (?)", app.action_help)
