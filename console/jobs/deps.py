"""Dependency verdicts (afterok/afterany/afternotok/after on jobs and array tasks; singleton).

True: satisfied; False: can never be satisfied (roost then cancels the waiting job, as Slurm's
kill_invalid_depend does); None: not yet.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from console.jobs.model import FINISHED, State
from console.jobs.spec import Dependencies, Dependency

if TYPE_CHECKING:
    from console.jobs.store import Store

LIVE = (State.PENDING, State.RUNNING, State.SUSPENDED)


def one_verdict(dep: Dependency, counts: Mapping[State, int]) -> bool | None:
    """counts: the task states of the job (or of the one array task) depended on."""
    if not counts:
        return False                        # no such job or index
    live = sum(counts.get(s, 0) for s in LIVE)
    if dep.kind == "after":                 # started (or ended) is enough
        return True if counts.get(State.PENDING, 0) < sum(counts.values()) else None
    if live:
        return None
    ok = counts.get(State.COMPLETED, 0)
    bad = sum(counts.get(s, 0) for s in FINISHED) - ok
    if dep.kind == "afterany":
        return True
    if dep.kind == "afterok":
        return bad == 0
    return bad > 0                          # afternotok


def combine(verdicts: list[bool | None], any_of: bool) -> bool | None:
    if any_of:
        if any(v is True for v in verdicts):
            return True
        return False if all(v is False for v in verdicts) else None
    if any(v is False for v in verdicts):
        return False
    return True if all(v is True for v in verdicts) else None


def dependency_verdict(store: Store, deps: Dependencies, job_id: int = 0, name: str = "",
                       user: str = "") -> bool | None:
    """The verdict for job job_id (its name and user matter to singleton)."""
    verdicts = [_singleton(store, job_id, name, user) if d.kind == "singleton"
                else one_verdict(d, store.state_counts(d.job, d.task)) for d in deps.items]
    return combine(verdicts, deps.any_of)


def _singleton(store: Store, job_id: int, name: str, user: str) -> bool | None:
    """Slurm's singleton: once no earlier job of the same name and user is live."""
    return None if store.live_namesake(job_id, name, user) else True
