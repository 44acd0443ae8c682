"""Client requests and limits for Scheduler: cancel (TERM, then KILL after grace), suspend
(STOP), resume (CONT) and `cancel --signal` (any signal) by process group, and --time limits
(TIMEOUT). The reason is recorded before the signal, so the end state does not depend on who
sees the task end.

A task's own wrapper enforces its --time on the node (console.jobs.limits), also with no
scheduler running; the scheduler's check is the backstop (BACKSTOP seconds after the wrapper's
grace) for tasks whose wrapper cannot.
"""
from __future__ import annotations

import math
import time

from console.jobs.core import Link, Running, SchedulerCore
from console.jobs.remote import AgentError

BACKSTOP = 10.0   # seconds past a task's limit and grace before the scheduler ends it itself



def _pids(r: Running) -> list[int]:
    """The task's process group to signal (none before its launch reported a pid)."""
    return [r.task.pid] if r.task.pid is not None else []


class SignalsMixin(SchedulerCore):
    """Requests (cancel/suspend/resume) and time limits for Scheduler."""

    def _handle_wants(self) -> None:
        for task in self.store.wants():
            r = self.running.get((task.job_id, task.pos))
            link = self.links.get(task.node or "")
            if r is None or link is None or not link.up or r.task.pid is None or not task.want:
                continue    # retried at the next poll (every poll_every seconds)
            self._spawn(self._act(link, r, task.want), ("act", task.job_id, task.pos))

    async def _act(self, link: Link, r: Running, want: str) -> None:
        try:
            if want == "cancel":
                self._mark_kill(r, "cancel")
                self.store.clear_want(r.task)
                await self._term(link, r)
            elif want == "suspend" and self.store.suspend(r.task, time.time()):
                await link.require_agent().signal(_pids(r), "STOP")
            elif want == "resume" and self.store.resume(r.task, time.time()):
                await link.require_agent().signal(_pids(r), "CONT")
            elif want.startswith("signal:"):
                self.store.clear_want(r.task)
                await link.require_agent().signal(_pids(r), want.partition(":")[2])
            else:
                self.store.clear_want(r.task)
        except AgentError:
            self._drop(link)

    def _mark_kill(self, r: Running, reason: str) -> None:
        """Record why before signalling: the end state must not depend on who sees it end."""
        if r.task.kill_reason is None:
            r.task.kill_reason = reason
            self.store.set_kill_reason(r.task, reason)
        r.kill_at = time.time() + self.options.grace

    async def _term(self, link: Link, r: Running) -> None:
        # CONT after TERM: a stopped task must run to act on TERM.
        await link.require_agent().signal(_pids(r), "TERM")
        await link.require_agent().signal(_pids(r), "CONT")

    async def _signal(self, link: Link, r: Running, sig: str) -> None:
        try:
            await (self._term(link, r) if sig == "TERM" else link.require_agent().signal(_pids(r), sig))
        except AgentError:
            self._drop(link)

    def _enforce(self, now: float) -> None:
        for r in list(self.running.values()):
            link = self.links.get(r.node)
            if link is None or not link.up or r.task.pid is None:
                continue
            if r.kill_at is not None and now >= r.kill_at:
                r.kill_at = math.inf            # KILL once; the next poll sees it gone
                self._spawn(self._signal(link, r, "KILL"))
                self._last_poll = now - self.options.poll_every + 0.2
            elif (r.kill_at is None and r.spec.time_limit and r.task.suspended_at is None
                  and r.task.elapsed(now) > r.spec.time_limit + self.options.grace + BACKSTOP):
                self._mark_kill(r, "timeout")
                self._spawn(self._signal(link, r, "TERM"))
