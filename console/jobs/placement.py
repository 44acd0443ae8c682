"""Placement: FIFO with EASY backfill over the free cores and memory of up nodes. Pure.

Jobs are considered in submission order. The first job that cannot start gets a reservation:
the node and time where enough running work will have ended (from their time limits). Later jobs
still start now on any free resources (backfill) unless they would delay that reservation: on
the reserved node they must end (by their --time) before it begins. No time limit = runs forever.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from console.jobs.model import REASON_ARRAY_LIMIT, REASON_BAD, REASON_NODES, REASON_PRIORITY, \
    REASON_RESOURCES


@dataclass(slots=True)
class NodeRoom:
    """One node's capacity and what is taken: roost's allocations plus foreign load."""
    name: str
    cores: int
    mem_mb: int | None = None        # None: unknown, memory not enforced
    up: bool = True
    used_cores: int = 0              # roost's running tasks
    used_mem: int = 0
    foreign_cores: int = 0           # live load not caused by roost (rounded down)
    ends: list[tuple[float, int]] = field(default_factory=list)  # (end time, cores) running

    def free_cores(self) -> int:
        return self.cores - self.used_cores - self.foreign_cores

    def fits(self, cpus: int, mem: int | None) -> bool:
        if self.free_cores() < cpus:
            return False
        return self._mem_fits(mem)

    def _mem_fits(self, mem: int | None) -> bool:
        if self.mem_mb is None or mem is None:
            return True
        need = self.mem_mb if mem == 0 else mem   # --mem=0: the whole node's memory
        return self.mem_mb - self.used_mem >= need

    def could_ever_fit(self, cpus: int, mem: int | None) -> bool:
        return self.cores >= cpus and (self.mem_mb is None or mem is None or
                                       self.mem_mb >= mem)

    def take(self, cpus: int, mem: int | None, end: float) -> None:
        self.used_cores += cpus
        if mem is not None and self.mem_mb is not None:
            self.used_mem += self.mem_mb if mem == 0 else mem
        self.ends.append((end, cpus))


@dataclass(frozen=True, slots=True)
class Demand:
    """A job's pending tasks, all alike."""
    job_id: int
    pending: int
    cpus: int = 1
    mem_mb: int | None = None
    time_limit: float | None = None   # seconds
    slots: int | None = None          # %N limit minus its running tasks; None = no limit
    nodelist: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(slots=True)
class Plan:
    starts: list[tuple[int, str]] = field(default_factory=list)   # (job id, node) per task
    reasons: dict[int, str] = field(default_factory=dict)         # job id -> why it waits


def _eligible(d: Demand, nodes: list[NodeRoom]) -> list[NodeRoom]:
    allowed = set(d.nodelist) if d.nodelist else None
    return [n for n in nodes if n.name not in d.exclude and (allowed is None or n.name in allowed)]


def _shadow(d: Demand, nodes: list[NodeRoom]) -> tuple[float, str] | None:
    """When and where the blocked job d could start once running work ends."""
    best = None
    for node in nodes:
        free, when = node.free_cores(), 0.0
        for end, cpus in sorted(node.ends):
            if free >= d.cpus:
                break
            free, when = free + cpus, end
        if free >= d.cpus and (best is None or when < best[0]):
            best = (when, node.name)
    return best


def place(demands: list[Demand], nodes: list[NodeRoom], now: float) -> Plan:
    plan, reservation = Plan(), None   # reservation: (start time, node name)
    for d in demands:
        eligible = _eligible(d, nodes)
        if not any(n.could_ever_fit(d.cpus, d.mem_mb) for n in eligible):
            plan.reasons[d.job_id] = REASON_BAD if eligible else REASON_NODES
            continue
        want = d.pending if d.slots is None else min(d.pending, d.slots)
        end = now + d.time_limit if d.time_limit else math.inf
        placed = _fill(d, [n for n in eligible if n.up], want, end, reservation, plan)
        if placed < d.pending:
            plan.reasons[d.job_id] = _reason(d, placed, want, reservation)
        if placed < want and reservation is None:
            reservation = _shadow(d, [n for n in eligible if n.up]) or (math.inf, "")
    return plan


def _reason(d: Demand, placed: int, want: int, reservation) -> str:
    if placed >= want and d.slots is not None:
        return REASON_ARRAY_LIMIT
    return REASON_PRIORITY if reservation is not None else REASON_RESOURCES


def _fill(d: Demand, nodes: list[NodeRoom], want: int, end: float, reservation,
          plan: Plan) -> int:
    """Start up to `want` tasks, one per node in turn (spreads an array over the fleet)."""
    placed, open_nodes = 0, [n for n in nodes if _allowed(n, end, reservation)]
    while placed < want and open_nodes:
        still = []
        for node in open_nodes:
            if placed < want and node.fits(d.cpus, d.mem_mb):
                node.take(d.cpus, d.mem_mb, end)
                plan.starts.append((d.job_id, node.name))
                placed += 1
                still.append(node)
        open_nodes = still
    return placed


def _allowed(node: NodeRoom, end: float, reservation) -> bool:
    """Backfill rule: on the reserved node, only work that ends before the reservation."""
    if reservation is None or node.name != reservation[1]:
        return True
    return end <= reservation[0]
