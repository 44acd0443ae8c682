"""Safe, truthful power sequences on top of the drivers. UI-free; the CLI and TUI both use it.

off   = ask the OS to shut down over SSH, wait until the node stops answering, then cut power
        (--hard cuts at once). A node SSH cannot reach is not cut without --hard, unless its
        driver has a soft (ACPI) shutdown, which is used instead.
on    = power on, then wait for SSH and report how long the boot took. Many nodes start
        staggered (like clusterctrl's delay) to limit inrush current.
cycle = off (safe unless hard), then on.
The state shown is the driver's read-back AND reachability: a BMC saying "on" while SSH is dead
is shown as exactly that. Reachability and shutdown come from outside (SshAccess in production).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from console.power.base import Driver, PowerError, PowerState

DEFAULT_SHUTDOWN = "sudo -n /sbin/poweroff"


class Reach(Protocol):
    async def reachable(self, name: str, timeout: float = 3.0) -> bool: ...
    async def shutdown(self, name: str, command: str, timeout: float = 15.0) -> None: ...


@dataclass
class PowerNode:
    """One node as the sequences see it."""
    name: str
    driver: Driver
    role: str | None = None
    local: bool = False                       # the console's own host
    shutdown: str | None = DEFAULT_SHUTDOWN   # None: no OS command (the driver's soft off, if any)


@dataclass(frozen=True)
class Shown:
    node: str
    state: PowerState                         # what the driver reads back
    reachable: bool | None                    # a fresh SSH login worked (None: not asked)
    error: str | None = None
    note: str | None = None                   # how far the read-back can be trusted

    @property
    def text(self) -> str:
        base = self._base_text()
        return f"{base} [{self.note}]" if self.note and not self.error else base

    def _base_text(self) -> str:
        if self.error:
            ssh = {True: "; answers SSH", False: "; not answering SSH", None: ""}[self.reachable]
            return f"unknown ({self.error}){ssh}"
        if self.state is PowerState.UNKNOWN and self.reachable is not None:
            return "up (answers SSH)" if self.reachable else "down (no power read-back)"
        if self.state is PowerState.ON and self.reachable is False:
            return "on, not answering SSH"
        if self.state is PowerState.OFF and self.reachable:
            return "off, but answering SSH (is the power table for the right node?)"
        return {PowerState.ON: "on", PowerState.OFF: "off"}.get(self.state, "unknown")


@dataclass(frozen=True)
class Outcome:
    node: str
    action: str
    ok: bool
    message: str
    seconds: float = 0.0
    boot_seconds: float | None = None


@dataclass
class Timing:
    stagger: float = 1.0          # seconds between power-ons
    shutdown_timeout: float = 120.0
    boot_timeout: float = 180.0
    grace: float = 5.0            # after SSH stops answering, let the OS finish halting
    poll: float = 0.5
    probe_timeout: float = 3.0


@dataclass
class Sequencer:
    nodes: Mapping[str, PowerNode]
    reach: Reach
    timing: Timing = field(default_factory=Timing)
    concurrency: int = 32

    def __post_init__(self) -> None:
        self._sem = asyncio.Semaphore(self.concurrency)

    # ------------------------------------------------------------------ refusals

    def refusals(self, names: Iterable[str], action: str, force: bool = False) -> list[str]:
        """Why this action must not touch these nodes without --force (empty: go ahead)."""
        names = list(names)
        if force or action not in ("off", "cycle"):
            return []
        why = []
        for name in names:
            node = self.nodes[name]
            driven = sorted(n.name for n in self.nodes.values() if n.driver.via == name and n.name != name)
            if node.local:
                why.append(f"{name} is the console's own host")
            elif driven:
                why.append(f"{name} controls the power of {', '.join(driven)}")
            elif node.role == "controller":
                why.append(f"{name} is a controller")
            why += self._shared(node, set(names))
        return why

    def _shared(self, node: PowerNode, selected: set[str]) -> list[str]:
        key = getattr(node.driver, "channel", None)
        others = sorted(n.name for n in self.nodes.values() if n is not node and key is not None
                        and getattr(n.driver, "channel", None) == key and n.name not in selected)
        return [f"{node.name} shares {node.driver.describe()} with {', '.join(others)}"] if others else []

    # ------------------------------------------------------------------ status

    async def status(self, names: Iterable[str]) -> list[Shown]:
        return list(await asyncio.gather(*(self._shown(n) for n in names)))

    async def _shown(self, name: str) -> Shown:
        async with self._sem:
            state_task = asyncio.ensure_future(self._state(name))
            reachable = await self.reach.reachable(name, self.timing.probe_timeout)
            state, error = await state_task
            note = getattr(self.nodes[name].driver, "readback_note", None)
            return Shown(name, state, reachable, error, note if isinstance(note, str) else None)

    async def read_states(self, names: list[str]) -> list[tuple[str, PowerState, str | None]]:
        """Each node's driver read back (no SSH probe): (node, state, error or None)."""
        async def one(name: str) -> tuple[str, PowerState, str | None]:
            async with self._sem:
                return (name, *await self._state(name))
        return list(await asyncio.gather(*(one(n) for n in names)))

    async def _state(self, name: str) -> tuple[PowerState, str | None]:
        try:
            return await self.nodes[name].driver.status(), None
        except PowerError as e:   # the node is named on the line already
            return PowerState.UNKNOWN, str(e).removeprefix(f"node {name}: ")

    # ------------------------------------------------------------------ off

    async def off(self, names: Iterable[str], hard: bool = False) -> list[Outcome]:
        return list(await asyncio.gather(*(self._guard(n, "off", self._off(n, hard)) for n in names)))

    async def _guard(self, name: str, action: str, work: Awaitable[Outcome]) -> Outcome:
        """Run one node's sequence; a PowerError becomes a failed Outcome, never a crash."""
        start = time.monotonic()
        try:
            return await work
        except PowerError as e:
            return Outcome(name, action, False, str(e), time.monotonic() - start)

    async def _off(self, name: str, hard: bool) -> Outcome:
        start = time.monotonic()
        node = self.nodes[name]
        if not hard:
            note = await self._stop_os(node)
            if note:
                return Outcome(name, "off", True, note, time.monotonic() - start)
            if not node.driver.can_cut:   # x86 + Wake-on-LAN: the OS switched it off itself
                return Outcome(name, "off", True, "shut down (the OS powers it off)",
                               time.monotonic() - start)
        await node.driver.off()
        state = await node.driver.status()
        if state is not PowerState.OFF:
            raise PowerError(f"node {name}: power cut, but the {node.driver.kind} still reads {state}")
        how = "power cut" if hard else "shut down, then power cut"
        return Outcome(name, "off", True, how, time.monotonic() - start)

    async def _stop_os(self, node: PowerNode) -> str | None:
        """Shut the OS down in order; a non-None return means nothing is left to do."""
        t = self.timing
        if node.driver.readback and await node.driver.status() is PowerState.OFF:
            return "already off"
        if node.shutdown and await self.reach.reachable(node.name, t.probe_timeout):
            await self.reach.shutdown(node.name, node.shutdown)
        elif node.driver.has_soft:
            await node.driver.soft()
            if await self._until(lambda: self._is(node, PowerState.OFF), t.shutdown_timeout):
                return "soft shutdown through the BMC"
            raise PowerError(f"node {node.name}: soft shutdown asked, still on after "
                             f"{t.shutdown_timeout:g}s; power left on (use --hard to cut it)")
        else:
            why = "not answering SSH" if node.shutdown else "no shutdown command configured"
            raise PowerError(f"node {node.name}: {why}, so it cannot be shut down cleanly; "
                             f"power left on (use --hard to cut it)")
        gone = await self._until(lambda: self._unreachable(node.name), t.shutdown_timeout)
        if not gone:
            raise PowerError(f"node {node.name}: still answering SSH {t.shutdown_timeout:g}s after "
                             f"the shutdown command; power left on (use --hard to cut it)")
        await asyncio.sleep(t.grace)
        return None

    async def _is(self, node: PowerNode, want: PowerState) -> bool:
        return await node.driver.status() is want

    async def _unreachable(self, name: str) -> bool:
        return not await self.reach.reachable(name, self.timing.probe_timeout)

    async def _until(self, predicate: Callable[[], Awaitable[bool]], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if await predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.timing.poll)

    # ------------------------------------------------------------------ on

    async def on(self, names: Iterable[str]) -> list[Outcome]:
        """Staggered power-on: node i is switched at i * stagger seconds; waits run together."""
        names = list(names)
        return list(await asyncio.gather(*(self._guard(n, "on", self._on(n, i * self.timing.stagger))
                                           for i, n in enumerate(names))))

    async def _on(self, name: str, delay: float) -> Outcome:
        node = self.nodes[name]
        if await node.driver.status() is not PowerState.OFF and \
                await self.reach.reachable(name, self.timing.probe_timeout):
            return Outcome(name, "on", True, "already on and answering SSH")
        if delay:
            await asyncio.sleep(delay)
        start = time.monotonic()
        await node.driver.on()
        if node.driver.readback and await node.driver.status() is not PowerState.ON:
            raise PowerError(f"node {name}: power on sent, but the {node.driver.kind} still reads off")
        if not await self._until(lambda: self.reach.reachable(name, self.timing.probe_timeout),
                                 self.timing.boot_timeout):
            return Outcome(name, "on", False, f"powered on, but SSH did not answer within "
                           f"{self.timing.boot_timeout:g}s", time.monotonic() - start)
        took = time.monotonic() - start
        return Outcome(name, "on", True, f"up, SSH answered after {took:.1f}s", took, took)

    # ------------------------------------------------------------------ cycle

    async def cycle(self, names: Iterable[str], hard: bool = False) -> list[Outcome]:
        names = list(names)
        offs = {o.node: o for o in await self.off(names, hard)}
        ready = [n for n in names if offs[n].ok]
        ons = {o.node: o for o in await self.on(ready)}
        return [_join(offs[n], ons.get(n)) for n in names]


def _join(off: Outcome, on: Outcome | None) -> Outcome:
    if on is None:
        return Outcome(off.node, "cycle", False, f"off failed: {off.message}", off.seconds)
    return Outcome(off.node, "cycle", on.ok, f"{off.message}; {on.message}",
                   off.seconds + on.seconds, on.boot_seconds)
