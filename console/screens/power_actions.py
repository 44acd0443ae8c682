"""The UI side of power: `o`/`O`/`C` and `:power` in, workers out, PowerUpdate messages back.

Everything power knows and decides lives in console.power.control.PowerControl (UI-free). This
runs its coroutines as Textual workers (they only emit events, which arrive as PowerUpdate
messages), hands each message to PowerControl.apply() on the app's loop, and carries out the
Effects: toasts, the next read, timers, the fleet's reconnects, the confirmation and the screen.
"""
from __future__ import annotations

from collections.abc import Callable

from textual.app import App

from console.power.control import PowerControl, parse_command
from console.screens.confirm import ConfirmScreen
from console.screens.power import PowerScreen
from console.state import FleetState
from console.text import safe_line


class PowerActions:
    def __init__(self, app: App, control: PowerControl, state: FleetState,
                 cursor: Callable[[], str | None], source: object = None) -> None:
        self.app, self.control, self.state = app, control, state
        self.cursor, self.source = cursor, source

    def start(self) -> None:
        if self.control.problem:
            self.warn(self.control.problem)
        if self.control.start():
            self.poll()

    def poll(self) -> None:
        """One periodic read; its result schedules the next (reads never overlap)."""
        self.refresh_status(poll=True)

    def refresh_status(self, names: list[str] | None = None, poll: bool = False) -> None:
        if self.control.service is not None:
            self.app.run_worker(self.control.read(self.control.to_read(names), poll),
                                group="power-status", exit_on_error=False)

    def selected(self) -> list[str]:
        """The marked nodes in fleet order, else the node under the cursor."""
        marked = self.state.marked
        if marked:
            return [n for n in self.state.nodes if n in marked]
        node = self.cursor()
        return [node] if node else []

    # ---- requests ---------------------------------------------------------------------------
    def command(self, arg: str) -> None:
        """`:power` (the screen), `:power status`, `:power on|off|cycle [NODESET] [--force]
        [--hard]` (no NODESET: the marked nodes, else the cursor's)."""
        try:
            cmd = parse_command(arg)
            nodes = self.selected() if cmd.nodeset is None else self.control.resolve(cmd.nodeset)
        except ValueError as e:
            self.warn(str(e))
            return
        if cmd.verb in ("", "screen", "status"):
            self.show()
            if cmd.verb:
                self.refresh_status()
            return
        self.request(cmd.verb, nodes, force=cmd.force, hard=cmd.hard)

    def request(self, action: str, nodes: list[str], force: bool = False,
                hard: bool = False) -> None:
        """Check, confirm when needed, then run action on nodes."""
        problem = self.control.refusal(action, nodes, force)
        if problem:
            self.warn(problem, error=problem.startswith("refusing"))
            return
        ask = self.control.confirmation(action, nodes, force, hard)
        if ask is None:
            self.begin(action, nodes, hard)
            return
        self.app.push_screen(ConfirmScreen(ask.question, ask.detail, ask.yes, ask.harmless),
                             lambda yes: self.begin(action, nodes, hard) if yes else None)

    def begin(self, action: str, nodes: list[str], hard: bool = False) -> None:
        self.control.begin(action, nodes, hard)
        self.app.run_worker(self.control.run(action, nodes, hard), group="power",
                            exit_on_error=False)
        self.redraw()

    # ---- events back --------------------------------------------------------------------------
    def update(self, event) -> None:
        """Apply one PowerEvent (from a PowerUpdate message) and carry out its effects."""
        fx = self.control.apply(event)
        for notice in fx.notices:
            self.app.notify(safe_line(notice.text), title="power", severity=notice.severity,
                            markup=False)
        if fx.reread:
            self.refresh_status(fx.reread)
        if fx.next_poll is not None:
            self.app.set_timer(fx.next_poll, self.poll)
        for node in fx.reconnect:
            self.reconnect(node)
        self.redraw()

    def reconnect(self, node: str) -> None:
        # SSH answered: the fleet need not wait out the backoff it grew while the node was off
        retry = getattr(self.source, "retry_now", None)
        if retry is not None:
            try:
                retry(node)
            except Exception:  # noqa: BLE001 - a source without that node: nothing to hurry
                pass

    def warn(self, text: str, error: bool = False) -> None:
        self.app.notify(safe_line(text), title="power", markup=False,
                        severity="error" if error else "warning")

    # ---- the screen ---------------------------------------------------------------------------
    def show(self) -> None:
        if isinstance(self.app.screen, PowerScreen):
            self.app.screen.refresh_view()
        else:
            self.app.push_screen(PowerScreen(self.control, self.state, self.refresh_status))

    def redraw(self) -> None:
        """The power screen shows every step at once; other screens catch up on the 1 Hz tick
        (a big group's steps must not redraw the whole fleet table once each)."""
        stack = self.app.screen_stack
        if stack and isinstance(stack[-1], PowerScreen):  # none while the app shuts down
            stack[-1].refresh_view()
