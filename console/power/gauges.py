"""`roost serve`'s power and scheduler series on the fleet /metrics (UI-free).

PowerGauges reads every powered node's driver back every [power] status_every seconds (the
console's cadence) and keeps the last answer; the fleet page's thread only reads what is kept, so a
slow BMC never slows a scrape. The series follow node_exporter's state-set idiom
(node_systemd_unit_state): one series per possible state, 1 for the current one, so
`roost_node_power_state{state="off"} == 1` alerts on a node that is off, and a read that failed
is state="unknown" with the reason in roost_node_power_read_errors_total's growth.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from console.power.base import PowerState


class Families(Protocol):
    """collectors.sinks.writer.Families, as much of it as the gauges use."""

    def add(self, node: str, name: str, help_: str, labels: dict[str, str], value: float,
            counter: bool = ..., node_label: bool = ...) -> None: ...


class StateReader(Protocol):
    """Sequencer.read_states: (node, state, error or None) for each name."""

    async def read_states(self, names: list[str]) -> list[tuple[str, PowerState, str | None]]: ...


log = logging.getLogger(__name__)
STATES = (PowerState.ON, PowerState.OFF, PowerState.UNKNOWN)


@dataclass
class Reading:
    state: PowerState
    driver: str
    at: float               # wall-clock seconds of the read
    errors: int = 0         # reads that failed since start


class PowerGauges:
    """The last read-back of every powered node; add() is a fleet /metrics extra."""

    def __init__(self, reader: StateReader, drivers: dict[str, str], every: float) -> None:
        self.reader, self.drivers, self.every = reader, drivers, every
        self.readings: dict[str, Reading] = {}

    async def read_once(self) -> None:
        for node, state, error in await self.reader.read_states(list(self.drivers)):
            old = self.readings.get(node)
            errors = (old.errors if old else 0) + (1 if error else 0)
            if error and (old is None or old.state is not PowerState.UNKNOWN):
                log.warning("power read-back of %s failed: %s", node, error)
            self.readings[node] = Reading(state, self.drivers[node], time.time(), errors)

    async def run(self, stop: asyncio.Event) -> None:
        """Read back until stop; one failed round never ends the loop."""
        while not stop.is_set():
            try:
                await self.read_once()
            except Exception:  # noqa: BLE001 - a driver bug must not stop serve's other work
                pass
            try:
                await asyncio.wait_for(stop.wait(), self.every)
            except TimeoutError:
                pass

    def add(self, families: Families) -> None:
        for node, r in list(self.readings.items()):
            for state in STATES:
                families.add(node, "roost_node_power_state",
                             "The node's power as its driver reads it back (1 for the current "
                             "state).", {"state": state.value, "driver": r.driver},
                             1.0 if r.state is state else 0.0, node_label=True)
            families.add(node, "roost_node_power_read_timestamp_seconds",
                         "When the node's power state was last read back.", {}, r.at,
                         node_label=True)
            families.add(node, "roost_node_power_read_errors_total",
                         "Power read-backs that failed (the driver's error is in roost.log).",
                         {}, float(r.errors), counter=True, node_label=True)


class SchedulerRole:
    """Whether this serve holds the job scheduler (1) or stands by (0), for /metrics."""

    def __init__(self) -> None:
        self.held: bool | None = None       # None: not started yet

    def add(self, families: Families) -> None:
        if self.held is not None:
            families.add("", "roost_scheduler_held",
                         "1 while this roost holds the job scheduler, 0 while it stands by.",
                         {}, 1.0 if self.held else 0.0)


def extras(*parts: PowerGauges | SchedulerRole | None) -> tuple[Callable[[Families], None], ...]:
    return tuple(p.add for p in parts if p is not None)
