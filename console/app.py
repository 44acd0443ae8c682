"""The Textual app: builds the screens and the services they share, routes messages. Nothing else.

State lives in FleetState; power in console.power.control.PowerControl; each screen redraws
itself from them when the 1 Hz refresh asks. See ARCHITECTURE.md for the layers.
"""
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.events import Event as UiEvent, Key
from textual.screen import Screen

import themes
from collectors.model import NodeEvent, NodeTarget, Sample
from collectors.transport import CommandResult
from console.config import Config
from console.gcpolicy import GcPacer
from console.jobs.service import JobsService, jobs_db
from console.keymap import KeymapError, validate
from console.messages import FleetDrain, Inbox, JobCounts, NodeChosen, PowerUpdate, SourceEnded
from console.power.control import PollCadence, PowerControl
from console.power.service import PowerService, open_service
from console.screens.command_line import COMMAND_HELP, CommandLine, Commands
from console.screens.events import EventsScreen
from console.screens.fleet import FleetScreen
from console.screens.heatmap import HeatmapScreen
from console.screens.help import HelpScreen, binding_rows
from console.screens.jobs import open_jobs, start_scheduler
from console.screens.node import NodeScreen
from console.screens.power_actions import PowerActions
from console.screens.ray import RaySeen, close_ray, ray_seen, start_ray
from console.screens.run import RunScreen
from console.screens.shell import ShellEnded, notice, open_shell, ssh_argv
from console.state import Event, FleetState
from console.text import safe_line
from console.toasts import ToastGate

if TYPE_CHECKING:
    from console.ray.view import RayFleet, RayView

DRAIN_CHUNK = 250    # stream items applied per handler call (keys and frames go in between)


class Source(Protocol):
    """What the console needs from collectors.fleet.Fleet (or a demo fleet)."""
    async def start(self) -> None: ...
    def stream(self) -> AsyncIterator[Sample | NodeEvent]: ...
    async def stop(self) -> None: ...
    async def run_command(self, node: str, cmd: str, timeout: float) -> CommandResult: ...


class RoostApp(App):
    TITLE = "roost"
    CSS_PATH = str(themes.LAYOUT)
    BINDINGS = [
        Binding("f", "show('fleet')", "Fleet", id="fleet"),
        Binding("h", "show('heatmap')", "Heatmap", id="heatmap"),
        Binding("e", "show('events')", "Events", id="events"),
        Binding("j", "jobs", "Jobs", id="jobs"),
        Binding("p", "power_screen", "Power", id="power"),
        Binding("x", "run", "Run", id="run"),
        Binding("colon", "command_line", ":cmd", id="command"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("ctrl+p", "command_palette", "Palette", id="palette", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    JOBS_EVERY = 2.0    # seconds between reads of the job queue for the Jobs column
    ray: RayView | None = None          # when [ray] names a head (console.screens.ray)
    ray_fleet: RayFleet | None = None   # the head's last reading of the fleet
    ray_busy = False
    FREEZE_EVERY = 30   # ticks between moving long-lived objects out of the collector's way
    QUIET_S = 3.0       # seconds without a key before a due full GC pass may hold the loop
    TOASTS_PER_TICK = 3   # a rack overheating must not bury the screen in toasts

    def __init__(self, state: FleetState, source: Source | None = None, *,
                 targets: Iterable[NodeTarget] = (), theme: str | None = None,
                 keymap: dict[str, str] | None = None, refresh: float = 1.0,
                 clock: Callable[[], float] = time.time, manage_source: bool = True,
                 jobs_db: str | None = None, power: PowerService | None = None,
                 power_problem: str = "", config: Config | None = None) -> None:
        super().__init__()
        self.state, self.source, self.clock = state, source, clock
        self.targets = {t.name: t for t in targets}
        self.refresh_interval, self.manage_source = refresh, manage_source
        self.config = config
        self.jobs = JobsService(config, jobs_db, clock)   # queue, its view, the scheduler
        self.commands = Commands(self)
        every = config.power.status_every if config is not None else PollCadence().every
        self.power = PowerControl(power, state, power_problem, PollCadence(every),
                                  emit=lambda event: self.post_message(PowerUpdate(event)))
        self.power_ui = PowerActions(self, self.power, state, self.current_node, source)
        self.inbox = Inbox()
        self.toasts = ToastGate(self.TOASTS_PER_TICK)
        self.gc_pacer = GcPacer(every=self.FREEZE_EVERY, phase=1)
        self.items_seen = 0
        self.last_key = float("-inf")   # time.monotonic() of the last key (GC waits for quiet)
        self.shell_samples = 0     # FleetState.samples when the last `t` shell opened
        for t in themes.load():
            self.register_theme(t)
        self.theme = theme if theme in self.available_themes else themes.DEFAULT
        self.theme_problem = "" if theme in (None, self.theme) else (
            f"no theme {theme!r}; have {', '.join(sorted(self.available_themes))}")
        if keymap:
            self.set_keymap(validate(keymap))

    def on_mount(self) -> None:
        self.gc_pacer.start()
        self.install_screen(FleetScreen(self.state, self), "fleet")
        self.install_screen(HeatmapScreen(self.state, self), "heatmap")
        self.install_screen(EventsScreen(self.state, self), "events")
        self.push_screen("fleet")
        self.set_interval(self.refresh_interval, self.tick)
        self.power_ui.start()
        if self.theme_problem:
            self.notify(safe_line(self.theme_problem), severity="warning", markup=False)
        if self.source is not None:
            self.pump()
        start_scheduler(self, self.jobs, self.source)   # a real fleet: this console schedules
        if self.jobs.db_path:     # (after: the first read already says the scheduler starts)
            self.set_interval(self.JOBS_EVERY, self.poll_jobs)
            self.poll_jobs()
        start_ray(self)

    # ---- the fleet stream -------------------------------------------------------------------
    @work(group="fleet", exclusive=True, exit_on_error=False)
    async def pump(self) -> None:
        """Background: move stream items into the inbox; never touches widgets or state."""
        source = self.source
        if source is None:
            return
        try:
            if self.manage_source and hasattr(source, "start"):
                await source.start()
            async for item in source.stream():
                if self.inbox.put(item):
                    self.post_message(FleetDrain())
        except Exception as exc:  # the console stays up to show what happened
            self.post_message(SourceEnded(f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(SourceEnded())

    def on_fleet_drain(self, _msg: FleetDrain) -> None:
        events: list[Event] = []
        # a Prometheus tick brings every node at once: apply a chunk, let keys and frames in.
        # The next chunk is posted from the event loop's next turn: posted from here it went
        # straight into the queue this handler's loop takes from without yielding, so a whole
        # tick (3,000 nodes: 60 ms of CPU, 150-300 ms at equal priority) ran as one block and a
        # key could not even be read meanwhile
        items = self.inbox.drain(DRAIN_CHUNK)
        if self.inbox.pending:
            asyncio.get_running_loop().call_soon(self.post_message, FleetDrain())
        for item in items:
            events += self.state.apply(item)
            self.items_seen += 1
        self.gc_pacer.built(len(items))
        self.announce(events)

    @work(thread=True, group="jobs", exclusive=True, exit_on_error=False)
    def poll_jobs(self) -> None:
        """Background thread: count running tasks per node; SQLite stays off the event loop."""
        try:
            self.post_message(JobCounts(self.jobs.running_per_node()))
        except Exception as exc:  # a locked or foreign database must not stop the console
            self.post_message(JobCounts(None, f"{type(exc).__name__}: {exc}"))

    def on_job_counts(self, msg: JobCounts) -> None:
        if msg.counts is not None:
            self.state.set_job_counts(msg.counts)

    def on_ray_seen(self, msg: RaySeen) -> None:
        ray_seen(self, msg)

    def on_source_ended(self, msg: SourceEnded) -> None:
        if msg.error:
            self.notify(safe_line(msg.error), title="fleet stream stopped", severity="error",
                        markup=False)

    def announce(self, events: list[Event]) -> None:
        """A toast for new critical alerts: a few per second, the rest counted into one."""
        for e in self.toasts.admit(events):
            self.notify(f"{safe_line(e.node)}: {safe_line(e.message)}", title=e.kind,
                        severity="error", markup=False)

    def flush_toasts(self) -> None:
        held = self.toasts.flush()
        if held:
            self.notify(f"and {held} more critical alerts (e: events)", severity="error",
                        markup=False)

    def tick(self) -> None:
        if not self.screen_stack:  # shutting down: a last timer can fire after the screens went
            return
        status = getattr(self.source, "status", None)
        if status is not None:     # a Prometheus source: query time, or down and retrying
            self.state.set_source(*status(self.clock()))
        self.announce(self.state.tick(self.clock()))
        self.flush_toasts()
        self.refresh_screen()
        self.gc_pacer.tick(quiet=time.monotonic() - self.last_key >= self.QUIET_S)

    async def on_event(self, event: UiEvent) -> None:
        if isinstance(event, Key):
            self.last_key = time.monotonic()
        await super().on_event(event)

    def refresh_screen(self) -> None:
        redraw = getattr(self.screen, "refresh_view", None)
        if redraw is not None:
            try:
                redraw(self.clock())
            except NoMatches:   # the screen is still composing; the next tick draws it
                pass

    async def on_unmount(self) -> None:
        self.gc_pacer.stop()
        await self.power.close()
        await self.jobs.close()
        await close_ray(self)
        if self.source is not None and self.manage_source and hasattr(self.source, "stop"):
            await self.source.stop()

    # ---- navigation ---------------------------------------------------------------------------
    async def action_show(self, view: str) -> None:
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        if self.screen.name != view:
            await self.switch_screen(view)
        self.refresh_screen()

    def open_node(self, node: str) -> None:
        if node not in self.state.nodes:
            self.notify(f"no node {safe_line(node)}", severity="warning", markup=False)
            return
        if isinstance(self.screen, NodeScreen):
            self.switch_screen(NodeScreen(self.state, node, self))
        else:
            self.push_screen(NodeScreen(self.state, node, self))

    def on_node_chosen(self, msg: NodeChosen) -> None:
        self.open_node(msg.node)

    async def action_jobs(self) -> None:
        await open_jobs(self, self.jobs, list(self.state.nodes), self.source)

    def action_power_screen(self) -> None:
        self.power_ui.show()

    def action_power(self, action: str) -> None:
        self.power_ui.request(action, self.power_ui.selected())

    def on_power_update(self, msg: PowerUpdate) -> None:
        self.power_ui.update(msg.event)

    def current_node(self) -> str | None:
        scr = self.screen
        if isinstance(scr, NodeScreen):
            return scr.node
        for attr in ("table", "heatmap_widget"):
            w = getattr(scr, attr, None)
            if w is not None:
                return w.current_node
        return None

    def action_run(self, command: str = "") -> None:
        nodes = sorted(self.state.marked) or [n for n in [self.current_node()] if n]
        self.push_screen(RunScreen(self.source, nodes, list(self.state.nodes), command=command))

    def action_help(self) -> None:
        scr = self.screen
        title = scr.name or type(scr).__name__.removesuffix("Screen").lower()
        self.push_screen(HelpScreen(title, binding_rows(self, scr), COMMAND_HELP))

    # ---- the shell, `:` command line and the palette -------------------------------------------
    def ssh_argv(self, node: str) -> list[str]:
        target = self.targets.get(node)
        target_of = getattr(self.source, "target_of", None)
        if target is None and target_of is not None:   # a node Prometheus found
            target = target_of(node)
        return ssh_argv(node, target)

    def open_shell(self, node: str) -> None:
        self.shell_samples = self.state.samples
        open_shell(self, node, self.ssh_argv(node))

    def on_shell_ended(self, msg: ShellEnded) -> None:
        text, severity = notice(msg, self.state.samples - self.shell_samples)
        self.notify(text, title="shell", severity=severity, markup=False)

    def action_command_line(self) -> None:
        self.push_screen(CommandLine(), self.commands.run)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from self.commands.palette()


def _jobs_db(config: Config) -> str:
    return str(jobs_db(config))


def console_app(config: Config, source: Source | None, theme: str | None = None,
                power: PowerService | None = None, refresh: float = 1.0) -> RoostApp:
    """The console on a config and a fleet source (SSH streams, or [source] prometheus)."""
    targets = list(config.targets())
    state = FleetState([t.name for t in targets], thresholds=config.thresholds,
                       groups={t.name: tuple(t.groups) for t in targets})
    power, problem = (power, "") if power is not None else open_service(config)
    return RoostApp(state, source, targets=targets, theme=theme or config.theme,
                    keymap=dict(config.keymap), jobs_db=_jobs_db(config), power=power,
                    power_problem=problem, config=config, refresh=refresh)


def run_console(config: Config, source: Source | None, theme: str | None = None,
                power: PowerService | None = None) -> int:
    """Open the console on a config and a fleet source; blocks until quit; returns exit code."""
    try:
        app = console_app(config, source, theme, power)
    except KeymapError as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 2
    app.run()
    return app.return_code or 0
