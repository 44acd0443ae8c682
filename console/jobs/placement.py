"""Placement: FIFO (by nice, then submission) with EASY backfill over the free cores and memory
of up nodes. Pure.

Jobs are considered in the order given. The first job that cannot start gets a reservation:
the time and nodes where enough running work will have ended (from their time limits). Later
jobs still start now on any free resources (backfill) unless they would delay that
reservation: on the reserved nodes they must end (by their --time) before it begins. No time
limit = runs forever.

A plain task takes `cpus` cores on one node; the tasks of an array fill a node's free cores
before the next node in the order given (packed, as Slurm's default). An allocation (-N, -n,
--ntasks-per-node, --exclusive, or -w naming several nodes) takes a set of nodes at once, as
Slurm does: every node -w names, tasks spread as -N/--ntasks-per-node say (an even split over N
nodes, else packed onto as few nodes as hold them), whole nodes when exclusive.

Spread (--spread-job, -m cyclic): an array's tasks, and -n's tasks without -N, go one per
node in turn (cyclic), the freest node first in each round, over as many nodes as hold one:
per-node counts differ by at most one except where a node is full.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from console.jobs.model import REASON_ARRAY_LIMIT, REASON_BAD, REASON_NODES, REASON_PRIORITY, REASON_RESOURCES, JobSpec


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

    def fits(self, cpus: int, mem: int | None, exclusive: bool = False) -> bool:
        if exclusive and self.used_cores:
            return False
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
    nodelist: tuple[str, ...] = ()    # required nodes (all of them)
    exclude: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()  # any one of these (LSF -m)
    nodes: int = 1                    # nodes per allocation
    tasks: int = 1                    # tasks per allocation
    per_node: int | None = None       # --ntasks-per-node
    exclusive: bool = False
    mem_per_cpu: int | None = None
    spread: bool = False              # one task per node in turn, not packed

    @property
    def allocation(self) -> bool:
        return self.nodes > 1 or self.tasks > 1 or self.exclusive or len(self.nodelist) > 1

    def mem_for(self, tasks: int) -> int | None:
        """Memory one node needs for `tasks` tasks: --mem per node, or --mem-per-cpu."""
        if self.mem_per_cpu is not None:
            return self.mem_per_cpu * self.cpus * tasks
        return self.mem_mb


def demand(job_id: int, pending: int, spec: JobSpec, slots: int | None) -> Demand:
    """The Demand of a job's pending tasks (slots: how many more may run, None: any)."""
    return Demand(job_id, pending, spec.cpus, spec.mem_mb, spec.time_limit, slots,
                  spec.nodelist, spec.exclude, spec.candidates, spec.node_count,
                  spec.total_tasks, spec.tasks_per_node, spec.exclusive, spec.mem_per_cpu,
                  spec.spread)


Reservation = tuple[float, frozenset[str]]   # (start time, node names) of the first blocked job
Alloc = tuple[tuple[str, int], ...]     # (node, tasks on it); the script runs on the first


@dataclass(slots=True)
class Plan:
    starts: list[tuple[int, str]] = field(default_factory=list)   # (job id, node) per task
    allocs: list[tuple[int, Alloc]] = field(default_factory=list)  # (job id, allocation)
    reasons: dict[int, str] = field(default_factory=dict)         # job id -> why it waits


def _eligible(d: Demand, nodes: list[NodeRoom]) -> list[NodeRoom]:
    allowed = set(d.candidates) if d.candidates else None
    if d.nodelist and not d.allocation:
        allowed = set(d.nodelist) & allowed if allowed is not None else set(d.nodelist)
    return [n for n in nodes if n.name not in d.exclude and (allowed is None or n.name in allowed)]


def _free_at(node: NodeRoom, need: int, exclusive: bool) -> float | None:
    """When running work on node will have left `need` cores (all of them if exclusive)."""
    free, when = node.free_cores(), 0.0
    ends = sorted(node.ends)
    if exclusive:
        return ends[-1][0] if ends else 0.0
    for end, cpus in ends:
        if free >= need:
            break
        free, when = free + cpus, end
    return when if free >= need else None


def _shadow(d: Demand, nodes: list[NodeRoom]) -> Reservation | None:
    """When and where the blocked job d could start once running work ends."""
    counts = _counts(d) if d.allocation else [1]
    if not counts:    # -n packed over nodes: once everything eligible has ended
        return (max((e for n in nodes for e, _ in n.ends), default=0.0),
                frozenset(n.name for n in nodes))
    times = sorted((t, n.name not in d.nodelist, n.name) for n in nodes
                   if (t := _free_at(n, d.cpus * counts[0], d.exclusive)) is not None)
    required = [t for t in times if not t[1]]
    chosen = required + [t for t in times if t[1]][:max(0, len(counts) - len(required))]
    if len(chosen) < len(counts):
        return None
    return max(t for t, _, _ in chosen), frozenset(n for _, _, n in chosen)


def place(demands: list[Demand], nodes: list[NodeRoom], now: float) -> Plan:
    plan = Plan()
    reservation: Reservation | None = None   # set by the first job that cannot start
    for d in demands:
        eligible = _eligible(d, nodes)
        verdict = _never(d, eligible, nodes)
        if verdict:
            plan.reasons[d.job_id] = verdict
            continue
        want = d.pending if d.slots is None else min(d.pending, d.slots)
        end = now + d.time_limit if d.time_limit else math.inf
        up = [n for n in eligible if n.up]
        placed = (_fill_allocs if d.allocation else _fill)(d, up, want, end, reservation, plan)
        if placed < d.pending:
            plan.reasons[d.job_id] = _reason(d, placed, want, reservation)
        if placed < want and reservation is None:
            reservation = _shadow(d, up) or (math.inf, frozenset())
    return plan


def _never(d: Demand, eligible: list[NodeRoom], nodes: list[NodeRoom]) -> str | None:
    """Why d can never start on these nodes (squeue's reason), None when it could."""
    if d.allocation:
        known = {n.name for n in eligible}
        if not eligible or any(name not in known for name in d.nodelist):
            return REASON_NODES
        fresh = [replace(n, up=True, used_cores=0, used_mem=0, foreign_cores=0, ends=[])
                 for n in eligible]
        return None if allocate(d, fresh) is not None else REASON_BAD
    if not any(n.could_ever_fit(d.cpus, d.mem_for(1)) for n in eligible):
        return REASON_BAD if eligible else REASON_NODES
    return None


def _reason(d: Demand, placed: int, want: int, reservation: Reservation | None) -> str:
    if placed >= want and d.slots is not None:
        return REASON_ARRAY_LIMIT
    return REASON_PRIORITY if reservation is not None else REASON_RESOURCES


def _fill(d: Demand, nodes: list[NodeRoom], want: int, end: float,
          reservation: Reservation | None, plan: Plan) -> int:
    """Start up to `want` tasks, packed: each node in the order given takes as many as its
    free cores (and memory) hold before the next is used, as Slurm's consumable-cores
    selection does; so an array fills linked nodes before another is linked. Spread: one
    task per node in turn (_cyclic)."""
    placed, mem = 0, d.mem_for(1)
    if d.spread:
        open_nodes = [n for n in nodes if _allowed(n, end, reservation)]
        chosen = _cyclic(open_nodes, want, d.cpus, lambda r, k: _tasks_fit(r, k, d.cpus, mem))
        for node in chosen:
            node.take(d.cpus, mem, end)
            plan.starts.append((d.job_id, node.name))
        return len(chosen)
    for node in nodes:
        if placed >= want:
            break
        if not _allowed(node, end, reservation):
            continue
        while placed < want and node.fits(d.cpus, mem):
            node.take(d.cpus, mem, end)
            plan.starts.append((d.job_id, node.name))
            placed += 1
    return placed


def _fill_allocs(d: Demand, nodes: list[NodeRoom], want: int, end: float,
                 reservation: Reservation | None, plan: Plan) -> int:
    """Start up to `want` allocations, each on its own set of nodes."""
    open_nodes, placed = [n for n in nodes if _allowed(n, end, reservation)], 0
    while placed < want:
        alloc = allocate(d, open_nodes)
        if alloc is None:
            break
        rooms = {n.name: n for n in open_nodes}
        for name, tasks in alloc:
            room = rooms[name]
            room.take(room.cores if d.exclusive else d.cpus * tasks, d.mem_for(tasks), end)
        plan.allocs.append((d.job_id, alloc))
        placed += 1
    return placed


def _counts(d: Demand) -> list[int]:
    """Tasks per node for a fixed node count (-N or --ntasks-per-node), biggest first; []
    when the tasks are packed onto as few nodes as hold them (-n alone)."""
    if d.per_node:
        n = max(d.nodes, math.ceil(d.tasks / d.per_node))
        return [max(1, min(d.per_node, d.tasks - d.per_node * i)) for i in range(n)]
    if d.nodes > 1 or len(d.nodelist) > 1:
        n = max(d.nodes, len(d.nodelist))
        return [d.tasks // n + (1 if i < d.tasks % n else 0) for i in range(n)]
    return []


def allocate(d: Demand, nodes: list[NodeRoom]) -> Alloc | None:
    """The nodes (and tasks on each) for one allocation of d on free room, or None. The nodes
    -w names come first (the first of them runs the script); then the freest others."""
    by_name = {n.name: n for n in nodes}
    if any(name not in by_name for name in d.nodelist):
        return None
    required = [by_name[name] for name in d.nodelist]
    others = sorted((n for n in nodes if n.name not in d.nodelist),
                    key=lambda n: (-n.free_cores(), n.name))
    counts = _counts(d)
    if counts:
        return _fixed(d, counts, required, others)
    return (_spread if d.spread else _packed)(d, required + others)


def _fixed(d: Demand, counts: list[int], required: list[NodeRoom],
           others: list[NodeRoom]) -> Alloc | None:
    out: list[tuple[str, int]] = []
    for room, tasks in zip(required, counts):
        if not room.fits(d.cpus * tasks, d.mem_for(tasks), d.exclusive):
            return None
        out.append((room.name, tasks))
    pool = list(others)
    for tasks in counts[len(required):]:
        free = next((r for r in pool if r.fits(d.cpus * tasks, d.mem_for(tasks), d.exclusive)),
                    None)
        if free is None:
            return None
        pool.remove(free)
        out.append((free.name, tasks))
    return tuple(out)


def _cyclic(rooms: list[NodeRoom], want: int, cpus: int,
            holds: Callable[[NodeRoom, int], bool]) -> list[NodeRoom]:
    """Up to `want` tasks one per node in turn: each round the nodes that hold one more
    (holds(room, tasks): room holds that many at once) take one, the freest first (ties in
    the order given)."""
    taken = {r.name: 0 for r in rooms}
    out: list[NodeRoom] = []
    while len(out) < want:
        fits = [r for r in rooms if holds(r, taken[r.name] + 1)]
        if not fits:
            break
        fits.sort(key=lambda r: taken[r.name] * cpus - r.free_cores())
        for room in fits[:want - len(out)]:
            taken[room.name] += 1
            out.append(room)
    return out


def _tasks_fit(room: NodeRoom, tasks: int, cpus: int, mem: int | None) -> bool:
    """room holds `tasks` plain tasks at once (--mem=0: each takes the node's memory)."""
    if mem == 0 and tasks > 1 and room.mem_mb is not None:
        return False
    return room.fits(cpus * tasks, mem * tasks if mem else mem)


def _spread(d: Demand, rooms: list[NodeRoom]) -> Alloc | None:
    """-n with spread: one task per node in turn over as many nodes as hold one (the nodes
    -w names among them); None when not all fit or a named node is left out."""
    counts: dict[str, int] = {}
    def holds(room: NodeRoom, tasks: int) -> bool:
        return room.fits(d.cpus * tasks, d.mem_for(tasks), d.exclusive)
    for room in _cyclic(rooms, d.tasks, d.cpus, holds):
        counts[room.name] = counts.get(room.name, 0) + 1
    if sum(counts.values()) < d.tasks or not set(d.nodelist) <= counts.keys():
        return None
    first = [n for n in d.nodelist if n in counts]
    return tuple((n, counts[n]) for n in first + [n for n in counts if n not in d.nodelist])


def _packed(d: Demand, rooms: list[NodeRoom]) -> Alloc | None:
    """-n alone: one node if one holds every task, else as few as hold them (freest first)."""
    required = set(d.nodelist)
    whole = [r for r in rooms if r.fits(d.cpus * d.tasks, d.mem_for(d.tasks), d.exclusive)]
    whole = [r for r in whole if not required or r.name in required]
    if whole:
        return ((whole[0].name, d.tasks),)
    out: list[tuple[str, int]] = []
    left = d.tasks
    for room in rooms:
        if left == 0:
            break
        if d.exclusive and room.used_cores:
            continue
        tasks = min(left, room.free_cores() // d.cpus)
        while tasks and not room.fits(d.cpus * tasks, d.mem_for(tasks), d.exclusive):
            tasks -= 1
        if tasks:
            out.append((room.name, tasks))
            left -= tasks
    if left or not required <= {n for n, _ in out}:
        return None
    return tuple(out)


def _allowed(node: NodeRoom, end: float, reservation: Reservation | None) -> bool:
    """Backfill rule: on the reserved nodes, only work that ends before the reservation."""
    if reservation is None or node.name not in reservation[1]:
        return True
    return end <= reservation[0]
