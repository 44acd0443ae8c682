"""Power from the console: `p` screen, `o`/`O`/`C` on the marked nodes, `:power ...`.

PowerControl holds what the console knows about power (the last read-back and reachability of
every node, the live step of each running sequence, a log) and starts the work: status reads
and sequences run in async workers that only post PowerUpdate messages; the app hands those to
update(), which owns the state. Refusals (a controller, the console's own host, a shared output)
come from the Sequencer; off, cycle and any group action ask first, naming the count.
"""
from __future__ import annotations

import shlex
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

from console.power.base import PowerState
from console.power.sequence import Outcome, Shown
from console.screens.confirm import ConfirmScreen
from console.screens.power_progress import ProgressRunner
from console.state import expand, fold as hostlist_fold
from console.widgets.cells import safe_line
from console.widgets.power_log import LogEntry
from console.widgets.power_table import PowerRow

if TYPE_CHECKING:
    from console.app import RoostApp

ACTIONS = ("on", "off", "cycle")
ARROW = {"on": "→on", "off": "→off", "cycle": "→cyc"}


@dataclass
class PowerUpdate(Message):
    """From a power worker: kind is status | step | done | finished | error."""
    kind: str
    node: str = ""
    text: str = ""
    shown: tuple[Shown, ...] = ()
    outcome: Outcome | None = None
    action: str = ""
    names: tuple[str, ...] = field(default_factory=tuple)
    poll: bool = False     # from the periodic read: schedule the next one


def fold(names: list[str]) -> str:
    """n[1-3] for display; names a hostlist cannot hold (brackets, odd bytes) are listed."""
    try:
        return hostlist_fold(names)
    except Exception:  # ClusterShell parse errors on names like "n[x]"
        return ", ".join(names)


def column_text(s: Shown) -> str:
    """The fleet table's Power cell (6 wide): read-back AND reachability, in short."""
    if s.error:
        return "?"
    if s.state is PowerState.ON:
        return "on ✖" if s.reachable is False else "on"
    if s.state is PowerState.OFF:
        return "off ●" if s.reachable else "off"
    return {True: "up?", False: "down?"}.get(s.reachable, "?")


def level(s: Shown) -> str:
    if s.error or (s.state is PowerState.ON and s.reachable is False) or \
            (s.state is PowerState.OFF and s.reachable):
        return "crit"
    return "warn" if s.state is PowerState.UNKNOWN else "ok"


class PowerControl:
    STATUS_EVERY = 30.0   # seconds between status reads (each is a fresh SSH login per node)
    STATUS_RETRY = 5.0    # ... while some node's power cannot be read (a demo still starting)

    def __init__(self, app: "RoostApp", service: Any = None, problem: str = "") -> None:
        self.app, self.service, self.problem = app, service, problem
        self.shown: dict[str, Shown] = {}
        self.steps: dict[str, str] = {}
        self.busy: dict[str, str] = {}          # node -> running action
        self.log: deque[LogEntry] = deque(maxlen=1000)
        self._seq = self._quick = 0
        self.runner = ProgressRunner(service.sequencer, self._step) if service else None

    # ---- set-up -------------------------------------------------------------------------------
    def start(self) -> None:
        if self.problem:
            self.app.notify(safe_line(self.problem), title="power", severity="warning",
                            markup=False)
        if self.service is None:
            return
        for name in self.names:
            if self.app.state.nodes[name].power == "—":
                self.app.state.set_power(name, "…")
        self.poll()

    def poll(self) -> None:
        """One periodic read; its result schedules the next (reads never overlap)."""
        self.refresh_status(poll=True)

    async def close(self) -> None:
        if self.service is not None:
            await self.service.close()

    @property
    def names(self) -> list[str]:
        """Nodes with a power driver, in the fleet's order."""
        if self.service is None:
            return []
        return [n for n in self.app.state.nodes if n in self.service.drivers]

    def selected(self) -> list[str]:
        marked = self.app.state.marked
        if marked:
            return [n for n in self.app.state.nodes if n in marked]
        node = self.app.current_node()
        return [node] if node else []

    # ---- status -------------------------------------------------------------------------------
    def refresh_status(self, names: list[str] | None = None, poll: bool = False) -> None:
        if self.service is None:
            return
        names = [n for n in (names or self.names) if n not in self.busy]
        self.app.run_worker(self._status(names, poll), group="power-status", exit_on_error=False)

    async def _status(self, names: list[str], poll: bool) -> None:
        try:
            shown = await self.service.sequencer.status(names)
        except Exception as e:  # keep the console up; say what happened
            self.app.post_message(PowerUpdate("error", text=f"status: {type(e).__name__}: {e}",
                                              poll=poll))
            return
        self.app.post_message(PowerUpdate("status", shown=tuple(shown), poll=poll))

    def _next_poll(self, quick: bool) -> None:
        self._quick = self._quick + 1 if quick else 0
        soon = quick and self._quick <= 6       # a broken BMC is not asked every 5 s forever
        self.app.set_timer(self.STATUS_RETRY if soon else self.STATUS_EVERY, self.poll)

    # ---- actions ------------------------------------------------------------------------------
    def command(self, arg: str) -> None:
        """`:power` (the screen), `:power status`, `:power on|off|cycle [NODESET] [--force]
        [--hard]` (no NODESET: the marked nodes, else the cursor's)."""
        try:
            words = shlex.split(arg)
        except ValueError as e:
            self._warn(f":power: {e}")
            return
        flags = {w for w in words if w.startswith("--")}
        words = [w for w in words if not w.startswith("--")]
        if not words or words[0] in ("screen", "status"):
            self.show()
            if words:
                self.refresh_status()
            return
        bad = flags - {"--force", "--hard"}
        if words[0] not in ACTIONS or bad or len(words) > 2:
            self._warn(":power [status | on|off|cycle [NODESET] [--force] [--hard]]")
            return
        nodes = self._expand(words[1]) if len(words) == 2 else self.selected()
        if nodes is not None:
            self.request(words[0], nodes, force="--force" in flags, hard="--hard" in flags)

    def _expand(self, text: str) -> list[str] | None:
        try:
            nodes = expand(text)
        except Exception as e:  # ClusterShell raises its own parse errors
            self._warn(f"bad hostlist {text}: {e}")
            return None
        unknown = [n for n in nodes if n not in self.app.state.nodes]
        if unknown:
            self._warn(f"unknown nodes: {fold(unknown)}")
            return None
        return nodes

    def request(self, action: str, nodes: list[str], force: bool = False,
                hard: bool = False) -> None:
        """Check, confirm when needed, then run action on nodes."""
        problem = self._problem(action, nodes, force)
        if problem:
            self._warn(problem, error=problem.startswith("refusing"))
            return
        count = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}"
        if action in ("off", "cycle") or len(nodes) > 1:
            how = " (hard: no OS shutdown)" if hard else ""
            question = f"Power {action} {count}{how}?"
            detail = fold(nodes) + ("\n(forced: refusals overridden)" if force else "")
            self.app.push_screen(ConfirmScreen(question, detail, yes=f"Power {action}"),
                                 lambda yes: self.begin(action, nodes, hard) if yes else None)
        else:
            self.begin(action, nodes, hard)

    def _problem(self, action: str, nodes: list[str], force: bool) -> str:
        if self.service is None:
            return self.problem or ("no power configured: add power = { driver = ... } to the "
                                    "nodes in roost.toml")
        if not nodes:
            return "no node selected (space marks nodes)"
        missing = [n for n in nodes if n not in self.service.drivers]
        if missing:
            return f"no power table for {fold(missing)}"
        running = [n for n in nodes if n in self.busy]
        if running:
            return f"a power sequence is still running on {fold(running)}"
        why = self.service.sequencer.refusals(nodes, action, force)
        if why:
            return (f"refusing to power {action} " + "; ".join(why) +
                    f" (use :power {action} {fold(nodes)} --force)")
        return ""

    def begin(self, action: str, nodes: list[str], hard: bool = False) -> None:
        for n in nodes:
            self.busy[n] = action
            self.steps[n] = f"{action}: starting"
            self.app.state.set_power(n, ARROW[action])
        self._log("", f"power {action}{' (hard)' if hard else ''}: {fold(nodes)}")
        self.app.run_worker(self._run(action, nodes, hard), group="power", exit_on_error=False)
        self.redraw()

    async def _run(self, action: str, nodes: list[str], hard: bool) -> None:
        try:
            await self.runner.run(action, nodes, self._done, hard)
        except Exception as e:  # the runner reports per node; this is a bug, still say it
            self.app.post_message(PowerUpdate("error", text=f"power {action}: {e}"))
        self.app.post_message(PowerUpdate("finished", action=action, names=tuple(nodes)))

    def _step(self, node: str, text: str) -> None:
        self.app.post_message(PowerUpdate("step", node=node, text=text))

    def _done(self, outcome: Outcome) -> None:
        self.app.post_message(PowerUpdate("done", node=outcome.node, outcome=outcome))

    # ---- the handler side (the app's event loop owns all of this) --------------------------------
    def update(self, msg: PowerUpdate) -> None:
        getattr(self, f"_on_{msg.kind}")(msg)
        self.redraw()

    def _on_status(self, msg: PowerUpdate) -> None:
        for s in msg.shown:
            if s.node in self.busy:
                continue      # a sequence owns this node's cell until it finishes
            self.shown[s.node] = s
            self.app.state.set_power(s.node, column_text(s))
        if msg.poll:
            self._next_poll(any(s.error for s in msg.shown))

    def _reconnect(self, node: str) -> None:
        # SSH answered: the fleet need not wait out the backoff it grew while the node was off
        retry = getattr(self.app.source, "retry_now", None)
        if retry is not None:
            try:
                retry(node)
            except Exception:  # noqa: BLE001 - a source without that node: nothing to hurry
                pass

    def _on_step(self, msg: PowerUpdate) -> None:
        action = self.busy.get(msg.node, "")
        self.steps[msg.node] = f"{action}: {msg.text}" if action else msg.text
        self._log(msg.node, msg.text)

    def _on_done(self, msg: PowerUpdate) -> None:
        o = msg.outcome
        self.busy.pop(o.node, None)
        self.steps[o.node] = f"{o.action} {'done' if o.ok else 'FAILED'}: {o.message}"
        self._log(o.node, f"{o.action} {'done' if o.ok else 'failed'}: {o.message}",
                  "ok" if o.ok else "fail")
        if o.ok:   # what the sequence just verified (read back off / SSH answered)
            self.app.state.set_power(o.node, "off" if o.action == "off" else "on")
            if o.action != "off":
                self._reconnect(o.node)
        else:
            self.app.state.set_power(o.node, "fail")
        self.shown.pop(o.node, None)          # the read from before the sequence is stale
        self.refresh_status([o.node])

    def _on_finished(self, msg: PowerUpdate) -> None:
        failed = [n for n in msg.names if self.steps.get(n, "").startswith(f"{msg.action} FAILED")]
        text = f"power {msg.action}: {len(msg.names) - len(failed)}/{len(msg.names)} done"
        if failed:
            text += f"; failed: {fold(failed)} (p: power screen)"
        self.app.notify(safe_line(text), title="power", markup=False,
                        severity="error" if failed else "information")

    def _on_error(self, msg: PowerUpdate) -> None:
        if msg.poll:
            self._next_poll(True)
        self._log("", msg.text, "fail")
        self.app.notify(safe_line(msg.text), title="power", severity="error", markup=False)

    def _log(self, node: str, text: str, lvl: str = "info") -> None:
        self._seq += 1
        self.log.append(LogEntry(self._seq, time.time(), node, text, lvl))

    def _warn(self, text: str, error: bool = False) -> None:
        self.app.notify(safe_line(text), title="power", markup=False,
                        severity="error" if error else "warning")

    # ---- the screen ---------------------------------------------------------------------------
    def show(self) -> None:
        from console.screens.power import PowerScreen
        if isinstance(self.app.screen, PowerScreen):
            self.app.screen.refresh_view()
        else:
            self.app.push_screen(PowerScreen(self))

    def redraw(self) -> None:
        """The power screen shows every step at once; other screens catch up on the 1 Hz tick
        (a big group's steps must not redraw the whole fleet table once each)."""
        from console.screens.power import PowerScreen
        stack = self.app.screen_stack
        if stack and isinstance(stack[-1], PowerScreen):  # none while the app shuts down
            stack[-1].refresh_view()

    def rows(self) -> list[PowerRow]:
        rows = []
        for name in self.names:
            s = self.shown.get(name)
            driver = self.service.drivers[name].describe()
            if s is None:
                rows.append(PowerRow(name, driver, "", None, "reading…", "warn",
                                     self.steps.get(name, ""), name in self.busy))
                continue
            readback = str(s.state) if not s.error else "unknown"
            rows.append(PowerRow(name, driver, readback, s.reachable, s.text, level(s),
                                 self.steps.get(name, ""), name in self.busy))
        return rows


def power_service(config: Any, timing: Any = None) -> tuple[Any, str]:
    """The console's PowerService from config, or (None, why not) — never raises: a power
    config mistake disables power in the console (with a notice), not the console itself."""
    if not any(getattr(spec, "power", None) for spec in getattr(config, "nodes", ())):
        return None, ""
    try:
        from console.power.service import PowerService
        return PowerService.from_config(config, timing=timing), ""
    except Exception as e:  # PowerConfigError, a missing optional library ...
        return None, f"power disabled: {e}"
