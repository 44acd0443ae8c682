"""Tracking live tasks: re-attaching to what runs on a node when its link comes up, the
events feed and the safety poll turning into end states, and removing a job's files from the
nodes once it has no live task left.
"""
from __future__ import annotations

import asyncio
import time

from console.jobs.core import Finished, Link, Running, SchedulerCore
from console.jobs.model import State, Task, final_state
from console.jobs.remote import AgentError, Status


class TrackingMixin(SchedulerCore):
    """Task lifecycle for Scheduler: reattach, events, polls, finish, clean-up."""

    def _db_active(self, node: str) -> list[Task]:
        return [t for t in self.store.active() if t.node == node]

    def _adopt_orphans(self) -> None:
        """Tasks the database puts on nodes roost does not know any more: NODE_FAIL."""
        for task in self.store.active():
            if task.node not in self.links:
                self.store.finish(task, State.NODE_FAIL, None, time.time())

    async def _reattach(self, link: Link, tasks: list[Task]) -> None:
        known = {(t.job_id, t.pos): t for t in tasks}
        link.written |= {t.job_id for t in tasks}    # their files are there: clean up later
        for task in tasks:
            if (task.job_id, task.pos) not in self.running:
                self.running[(task.job_id, task.pos)] = self._tracking(task, link)
        runs = [self.running[k] for k in known]
        await self._probe_dirs(link, runs)
        for r in runs:
            r.remote_out, r.remote_err = self._remote_paths(link, r.task, r.out, r.err)
        keys = [r.key for r in runs]
        statuses = await link.require_agent().poll(keys)
        await self._apply_statuses(link, statuses)

    def _tracking(self, task: Task, link: Link) -> Running:
        spec = self._spec(task.job_id)
        out, err = self._paths(spec, task, link.target.name)
        remote_out, remote_err = self._remote_paths(link, task, out, err)
        return Running(task, link.target.name, spec, out, err, remote_out, remote_err)

    async def _apply_statuses(self, link: Link, statuses: list[Status]) -> None:
        finished = []
        for st in statuses:
            r = self._by_key(st.key)
            if r is None:
                continue
            if st.kind == "X":
                finished.append((r, st.value, st.why))
            elif st.kind == "G":
                finished.append((r, None, st.why))
            elif st.kind == "N":      # the launch never reached the node: launch it again
                self.running.pop((r.task.job_id, r.task.pos), None)
                self.store.unstart(r.task)
                self._dirty, self._pending = True, None
            elif st.kind == "R" and r.task.pid is None:
                r.task.pid = st.value
                self.store.set_pid(r.task, st.value)
        await self._finish(link, finished)

    def _by_key(self, key: str) -> Running | None:
        job, _, rest = key.partition("/")
        pos, _, attempt = rest.partition(".")
        r = self.running.get((int(job), int(pos)))
        return r if r is not None and r.task.attempt == int(attempt) else None

    def _on_event(self, node: str, job_id: int, key: str, rc: int, why: str | None) -> None:
        self._done.append((node, job_id, key, rc, why))
        self._wake.set()

    def _apply_events(self) -> None:
        if not self._done:
            return
        batch, self._done = self._done, []
        per_node: dict[str, list[Finished]] = {}
        for node, job_id, key, rc, why in batch:
            r = self._by_key(f"{job_id}/{key}")
            if r is not None and r.node == node:
                per_node.setdefault(node, []).append((r, rc, why))
        for node, finished in per_node.items():
            self._spawn(self._finish(self.links[node], finished))

    async def _finish(self, link: Link, finished: list[Finished]) -> None:
        """Fetch outputs that are not on a shared file system, then record the end state.
        finished: (Running, exit code (negative: killed by that signal) or None, why the
        wrapper ended it or None)."""
        if not finished:
            return
        now, rows = time.time(), []
        fetched = await asyncio.gather(*(self._fetch(link, r) for r, _, _ in finished))
        for (r, rc, why), ok in zip(finished, fetched):
            if ok is None:
                continue    # connection lost mid-fetch: still RUNNING; re-attach retries
            state = final_state(rc, r.task.kill_reason or why)
            if not ok and state is State.COMPLETED:
                state = State.FAILED
            rows.append((r.task, state, rc if rc is None or rc >= 0 else None))
            self.running.pop((r.task.job_id, r.task.pos), None)
        self.stats["finished"] += self.store.finish_many(rows, now)
        for task, state, _ in rows:      # an allocation that lost a node runs again, anew
            if state is State.NODE_FAIL and self._spec(task.job_id).requeue is not False:
                self.store.requeue(task, "NodeFail")
                self._pending = None
        self._dirty = True
        await self._cleanup({r.task.job_id for r, _, _ in finished})
        self._wake.set()

    async def _cleanup(self, jobs: set[int]) -> None:
        """Remove a job's files from every node once none of its tasks is live anywhere."""
        for job_id in jobs:
            if not self._job_done(job_id):
                continue
            for link in self.links.values():
                if job_id in link.written and link.up:
                    link.written.discard(job_id)
                    try:
                        await link.require_agent().cleanup(job_id)
                    except (AgentError, AttributeError):
                        pass

    def _poll_all(self) -> None:
        by_node: dict[str, list[str]] = {}
        for r in self.running.values():
            if r.task.pid is not None:   # launches in flight are not asked about ("N")
                by_node.setdefault(r.node, []).append(r.key)
        for node, keys in by_node.items():
            self._spawn(self._poll_node(self.links.get(node), keys), ("poll", node))

    async def _poll_node(self, link: Link | None, keys: list[str]) -> None:
        if link is not None and link.up:
            try:
                await self._apply_statuses(link, await link.require_agent().poll(keys))
            except AgentError:
                self._drop(link)

    def _job_done(self, job_id: int) -> bool:
        return not self.store.has_live(job_id)
