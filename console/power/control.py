"""The console's power desk, UI-free: what it knows about every node's power, and what it may do.

PowerControl holds the last read-back and reachability of every node, the live step of each
running sequence and a log. It checks requests (refusals come from the Sequencer), runs status
reads and sequences as coroutines that report PowerEvents through `emit`, and apply()s those
events (on the one event loop that owns it) to itself and to FleetState's Power column. What
must happen next comes back as Effects (notices, nodes to read again, when to poll, nodes whose
SSH answers again); the UI (console.screens.power_actions) turns them into toasts, workers and
timers, and `:power` arguments are parsed here by parse_command.
"""
from __future__ import annotations

import shlex
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from console.hostlist import HostlistError, expand, fold as hostlist_fold
from console.power.base import PowerState
from console.power.progress import ProgressRunner
from console.power.sequence import Outcome, Shown
from console.state import FleetState
from console.text import plural

if TYPE_CHECKING:
    from console.power.service import PowerService

ACTIONS = ("on", "off", "cycle")
ARROW = {"on": "→on", "off": "→off", "cycle": "→cyc"}
USAGE = ":power [status | on|off|cycle [NODESET] [--force] [--hard]]"
NOT_CONFIGURED = "no power configured: add power = { driver = ... } to the nodes in roost.toml"
Severity = Literal["information", "warning", "error"]


@dataclass(frozen=True, slots=True)
class PowerEvent:
    """From a status read or a sequence: kind is status | step | done | finished | error."""
    kind: str
    node: str = ""
    text: str = ""
    shown: tuple[Shown, ...] = ()
    outcome: Outcome | None = None
    action: str = ""
    names: tuple[str, ...] = ()
    poll: bool = False     # from the periodic read: schedule the next one


@dataclass(frozen=True, slots=True)
class Notice:
    """One line for the user; severity is information | warning | error."""
    text: str
    severity: Severity = "information"


@dataclass
class Effects:
    """What applying an event asks of the UI."""
    notices: list[Notice] = field(default_factory=list)
    reread: list[str] = field(default_factory=list)     # read these nodes' power again now
    next_poll: float | None = None                      # seconds until the next periodic read
    reconnect: list[str] = field(default_factory=list)  # SSH answers again: stop backing off


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    ts: float
    node: str
    text: str
    level: str = "info"     # info | ok | fail


@dataclass(frozen=True, slots=True)
class PowerRow:
    """One row of the power screen."""
    node: str
    driver: str            # "demo", "expander via ctl" ...
    readback: str          # on / off / unknown / "" (not read yet)
    ssh: bool | None       # a fresh login answered (None: not asked yet)
    shown: str             # Shown.text: read-back AND reachability
    level: str             # ok | warn | crit: how worrying `shown` is
    progress: str = ""     # the running sequence's last step, or the last outcome
    busy: bool = False


@dataclass(frozen=True, slots=True)
class PowerCommand:
    """`:power ARGS` parsed: verb is "" (just the screen), screen, status, on, off or cycle."""
    verb: str
    nodeset: str | None = None      # None: the marked nodes, else the cursor's
    force: bool = False
    hard: bool = False


@dataclass(frozen=True, slots=True)
class Confirmation:
    question: str
    detail: str
    yes: str               # the confirming button: the action and the count
    harmless: bool         # True: Enter may confirm (switching nodes on stops nothing)


def parse_command(arg: str) -> PowerCommand:
    """`:power` arguments; ValueError with one line when they make no sense."""
    try:
        words = shlex.split(arg)
    except ValueError as e:
        raise ValueError(f":power: {e}") from None
    flags = {w for w in words if w.startswith("--")}
    words = [w for w in words if not w.startswith("--")]
    if not words or words[0] in ("screen", "status"):
        return PowerCommand(words[0] if words else "")
    if words[0] not in ACTIONS or flags - {"--force", "--hard"} or len(words) > 2:
        raise ValueError(USAGE)
    return PowerCommand(words[0], words[1] if len(words) == 2 else None,
                        "--force" in flags, "--hard" in flags)


def fold(names: list[str]) -> str:
    """n[1-3] for display; names a hostlist cannot hold (brackets, odd bytes) are listed."""
    try:
        return hostlist_fold(names)
    except Exception:  # ClusterShell parse errors on names like "n[x]"
        return ", ".join(names)


def count(nodes: list[str]) -> str:
    return plural(len(nodes), "node")


def column_text(s: Shown) -> str:
    """The fleet table's Power cell (6 wide): read-back AND reachability, in short."""
    if s.error:
        return "?"
    if s.state is PowerState.ON:
        return "on ✖" if s.reachable is False else "on"
    if s.state is PowerState.OFF:
        return "off ●" if s.reachable else "off"
    if s.reachable is None:
        return "?"
    return "up?" if s.reachable else "down?"


def level(s: Shown) -> str:
    if s.error or (s.state is PowerState.ON and s.reachable is False) or \
            (s.state is PowerState.OFF and s.reachable):
        return "crit"
    return "warn" if s.state is PowerState.UNKNOWN else "ok"


class PollCadence:
    """Seconds until the next periodic read: `every`, or `retry` while some node's power cannot
    be read (a demo still starting), but a broken BMC is not asked every few seconds forever."""

    def __init__(self, every: float = 30.0, retry: float = 5.0, quick_max: int = 6) -> None:
        self.every, self.retry, self.quick_max = every, retry, quick_max
        self._quick = 0

    def next(self, failing: bool) -> float:
        self._quick = self._quick + 1 if failing else 0
        return self.retry if failing and self._quick <= self.quick_max else self.every


def _ignore(_event: PowerEvent) -> object:
    """Where events go until the UI says otherwise."""
    return None


class PowerControl:
    def __init__(self, service: PowerService | None, state: FleetState, problem: str = "",
                 cadence: PollCadence | None = None,
                 emit: Callable[[PowerEvent], object] = _ignore) -> None:
        self.service, self.state, self.problem = service, state, problem
        self.cadence, self.emit = cadence or PollCadence(), emit
        self.shown: dict[str, Shown] = {}
        self.steps: dict[str, str] = {}
        self.busy: dict[str, str] = {}          # node -> running action
        self.log: deque[LogEntry] = deque(maxlen=1000)
        self._seq = 0
        self.runner = ProgressRunner(service.sequencer, self._step) if service else None

    # ---- what there is ----------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Nodes with a power driver, in the fleet's order."""
        if self.service is None:
            return []
        return [n for n in self.state.nodes if n in self.service.drivers]

    def start(self) -> bool:
        """Mark every driven node's power as being read; True when there is power to poll."""
        if self.service is None:
            return False
        for name in self.names:
            if self.state.nodes[name].power == "—":
                self.state.set_power(name, "…")
        return True

    async def close(self) -> None:
        if self.service is not None:
            await self.service.close()

    def resolve(self, nodeset: str) -> list[str]:
        """The fleet's nodes a hostlist names; ValueError (one line) for a bad or unknown one."""
        try:
            nodes = expand(nodeset)
        except HostlistError as e:  # bad syntax, or more names than max_hostlist
            raise ValueError(str(e)) from None
        unknown = [n for n in nodes if n not in self.state.nodes]
        if unknown:
            raise ValueError(f"unknown nodes: {fold(unknown)}")
        return nodes

    # ---- requests ---------------------------------------------------------------------------
    def refusal(self, action: str, nodes: list[str], force: bool) -> str:
        """Why action must not run on nodes now (empty: go ahead)."""
        if self.service is None:
            return self.problem or NOT_CONFIGURED
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

    def confirmation(self, action: str, nodes: list[str], force: bool = False,
                     hard: bool = False) -> Confirmation | None:
        """The question to ask first (off, cycle, and any group), or None: just do it."""
        if action not in ("off", "cycle") and len(nodes) <= 1:
            return None
        how = " (hard: no OS shutdown)" if hard else ""
        detail = fold(nodes) + ("\n(forced: refusals overridden)" if force else "")
        return Confirmation(f"Power {action} {count(nodes)}{how}?", detail,
                            f"Power {action} {count(nodes)}", harmless=action == "on")

    def begin(self, action: str, nodes: list[str], hard: bool = False) -> None:
        for n in nodes:
            self.busy[n] = action
            self.steps[n] = f"{action}: starting"
            self.state.set_power(n, ARROW[action])
        self._log("", f"power {action}{' (hard)' if hard else ''}: {fold(nodes)}")

    # ---- the work (coroutines; they only emit events) ---------------------------------------
    def to_read(self, names: list[str] | None = None) -> list[str]:
        """Nodes a status read should ask (a running sequence owns its nodes' state)."""
        return [n for n in (names or self.names) if n not in self.busy]

    async def read(self, names: list[str], poll: bool = False) -> None:
        if self.service is None:
            return
        try:
            shown = await self.service.sequencer.status(names)
        except Exception as e:  # keep the console up; say what happened
            self.emit(PowerEvent("error", text=f"status: {type(e).__name__}: {e}", poll=poll))
            return
        self.emit(PowerEvent("status", shown=tuple(shown), poll=poll))

    async def run(self, action: str, nodes: list[str], hard: bool = False) -> None:
        if self.runner is None:
            return
        try:
            await self.runner.run(action, nodes, self._done, hard)
        except Exception as e:  # the runner reports per node; this is a bug, still say it
            self.emit(PowerEvent("error", text=f"power {action}: {e}"))
        self.emit(PowerEvent("finished", action=action, names=tuple(nodes)))

    def _step(self, node: str, text: str) -> None:
        self.emit(PowerEvent("step", node=node, text=text))

    def _done(self, outcome: Outcome) -> None:
        self.emit(PowerEvent("done", node=outcome.node, outcome=outcome))

    # ---- events, applied on the owning loop ---------------------------------------------------
    def apply(self, event: PowerEvent) -> Effects:
        effects = Effects()
        getattr(self, f"_on_{event.kind}")(event, effects)
        return effects

    def _on_status(self, ev: PowerEvent, fx: Effects) -> None:
        for s in ev.shown:
            if s.node in self.busy:
                continue      # a sequence owns this node's cell until it finishes
            self.shown[s.node] = s
            self.state.set_power(s.node, column_text(s))
        if ev.poll:
            fx.next_poll = self.cadence.next(any(s.error for s in ev.shown))

    def _on_step(self, ev: PowerEvent, fx: Effects) -> None:
        action = self.busy.get(ev.node, "")
        self.steps[ev.node] = f"{action}: {ev.text}" if action else ev.text
        self._log(ev.node, ev.text)

    def _on_done(self, ev: PowerEvent, fx: Effects) -> None:
        o = ev.outcome
        if o is None:
            return
        self.busy.pop(o.node, None)
        self.steps[o.node] = f"{o.action} {'done' if o.ok else 'FAILED'}: {o.message}"
        self._log(o.node, f"{o.action} {'done' if o.ok else 'failed'}: {o.message}",
                  "ok" if o.ok else "fail")
        if o.ok:   # what the sequence just verified (read back off / SSH answered)
            self.state.set_power(o.node, "off" if o.action == "off" else "on")
            if o.action != "off":
                fx.reconnect.append(o.node)
        else:
            self.state.set_power(o.node, "fail")
        self.shown.pop(o.node, None)          # the read from before the sequence is stale
        fx.reread.append(o.node)

    def _on_finished(self, ev: PowerEvent, fx: Effects) -> None:
        failed = [n for n in ev.names if self.steps.get(n, "").startswith(f"{ev.action} FAILED")]
        text = f"power {ev.action}: {len(ev.names) - len(failed)}/{len(ev.names)} done"
        if failed:
            text += f"; failed: {fold(failed)} (p: power screen)"
        fx.notices.append(Notice(text, "error" if failed else "information"))

    def _on_error(self, ev: PowerEvent, fx: Effects) -> None:
        if ev.poll:
            fx.next_poll = self.cadence.next(True)
        self._log("", ev.text, "fail")
        fx.notices.append(Notice(ev.text, "error"))

    def _log(self, node: str, text: str, lvl: str = "info") -> None:
        self._seq += 1
        self.log.append(LogEntry(self._seq, time.time(), node, text, lvl))

    # ---- what the power screen shows ----------------------------------------------------------
    def rows(self) -> list[PowerRow]:
        if self.service is None:
            return []
        drivers = self.service.drivers
        return [self._row(name, drivers[name].describe()) for name in self.names]

    def _row(self, name: str, driver: str) -> PowerRow:
        s = self.shown.get(name)
        progress, busy = self.steps.get(name, ""), name in self.busy
        if s is None:
            return PowerRow(name, driver, "", None, "reading…", "warn", progress, busy)
        readback = str(s.state) if not s.error else "unknown"
        return PowerRow(name, driver, readback, s.reachable, s.text, level(s), progress, busy)
