"""Live progress for the power sequences: a thin adapter over console.power.sequence. UI-free.

The Sequencer reports an Outcome per node only when the whole group is done. The console wants
each node's steps as they happen and each node's outcome as soon as it is known, so this runs
the Sequencer's public off/on one node at a time (all nodes together, power-ons staggered as the
Sequencer staggers them) and observes the drivers and the SSH access it acts through: every
switch, soft-off and OS shutdown is reported before and after it runs. Safety (refusals, the
shutdown-then-cut order, read-back checks) stays entirely in the Sequencer.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from console.power.base import Driver, PowerError, PowerState
from console.power.sequence import Outcome, Reach, Sequencer

Report = Callable[[str, str], None]        # (node, step) -> None
Done = Callable[[Outcome], None]


class ObservedDriver(Driver):
    """A driver that reports its switching steps; everything else is the wrapped driver's
    (its flags copied, its other methods and attributes delegated)."""

    def __init__(self, driver: Driver, report: Report) -> None:
        super().__init__(driver.node, driver.via)
        self.kind, self.has_soft, self.readback = driver.kind, driver.has_soft, driver.readback
        self.can_cut, self.shared, self.options = driver.can_cut, driver.shared, driver.options
        self._driver, self._report = driver, report

    def __getattr__(self, name: str) -> object:
        return getattr(self._driver, name)   # a driver's own extras: channel, readback_note ...

    async def status(self) -> PowerState:
        return await self._driver.status()

    async def cycle(self) -> None:
        await self._driver.cycle()

    def describe(self) -> str:
        return self._driver.describe()

    def error(self, what: str) -> PowerError:
        return self._driver.error(what)

    async def close(self) -> None:
        await self._driver.close()

    async def _step(self, before: str, call: Callable[[], Awaitable[None]], after: str) -> None:
        self._report(self._driver.node, before)
        await call()
        self._report(self._driver.node, after)

    async def on(self) -> None:
        await self._step("switching power on", self._driver.on, "power on; waiting for SSH")

    async def off(self) -> None:
        await self._step("cutting power", self._driver.off, "power cut; reading back")

    async def soft(self) -> None:
        await self._step(f"asking the {self._driver.kind} for a soft shutdown",
                         self._driver.soft, "waiting for the board to halt")


class ObservedReach:
    """SSH access that reports the OS shutdown request; reachability probes stay quiet."""

    def __init__(self, reach: Reach, report: Report) -> None:
        self._reach, self._report = reach, report

    def __getattr__(self, name: str) -> object:
        return getattr(self._reach, name)

    async def reachable(self, name: str, timeout: float = 3.0) -> bool:
        return await self._reach.reachable(name, timeout)

    async def shutdown(self, name: str, command: str, timeout: float = 15.0) -> None:
        self._report(name, "shutting the OS down over SSH")
        await self._reach.shutdown(name, command, timeout)
        self._report(name, "waiting for SSH to stop answering")


class ProgressRunner:
    def __init__(self, sequencer: Sequencer, report: Report) -> None:
        nodes = {name: replace(node, driver=ObservedDriver(node.driver, report))
                 for name, node in sequencer.nodes.items()}
        self.seq = Sequencer(nodes, ObservedReach(sequencer.reach, report), sequencer.timing,
                             sequencer.concurrency)
        self.report = report

    async def run(self, action: str, names: Iterable[str], done: Done, hard: bool = False) -> None:
        names = list(names)
        if action == "on":
            await self._ons(names, done)
        elif action == "off":
            await asyncio.gather(*(self._one(n, "off", self.seq.off([n], hard), done)
                                   for n in names))
        elif action == "cycle":
            await self._cycle(names, done, hard)
        else:
            raise ValueError(f"unknown power action {action!r}")

    async def _one(self, name: str, action: str, work: Awaitable[list[Outcome]],
                   done: Done) -> Outcome:
        """One node's sequence; anything unexpected is that node's failure, not the group's."""
        start = time.monotonic()
        try:
            outcome = (await work)[0]
        except Exception as e:  # a transport or driver bug: report it, keep the others going
            outcome = Outcome(name, action, False, f"{type(e).__name__}: {e}",
                              time.monotonic() - start)
        done(outcome)
        return outcome

    async def _ons(self, names: list[str], done: Done, action: str = "on") -> list[Outcome]:
        stagger = self.seq.timing.stagger

        async def one(i: int, name: str) -> Outcome:
            if i and stagger:
                self.report(name, f"waiting {i * stagger:g}s (staggered power-on)")
                await asyncio.sleep(i * stagger)
            return await self._one(name, action, self.seq.on([name]), done)

        return list(await asyncio.gather(*(one(i, n) for i, n in enumerate(names))))

    async def _cycle(self, names: list[str], done: Done, hard: bool) -> None:
        offs: dict[str, Outcome] = {}

        def off_done(o: Outcome) -> None:
            offs[o.node] = o
            if o.ok:
                self.report(o.node, f"off: {o.message}")
            else:
                done(Outcome(o.node, "cycle", False, f"off failed: {o.message}", o.seconds))

        await asyncio.gather(*(self._one(n, "off", self.seq.off([n], hard), off_done)
                               for n in names))
        ready = [n for n in names if offs[n].ok]

        def on_done(o: Outcome) -> None:
            off = offs[o.node]
            done(Outcome(o.node, "cycle", o.ok, f"{off.message}; {o.message}",
                         off.seconds + o.seconds, o.boot_seconds))

        await self._ons(ready, on_done)
