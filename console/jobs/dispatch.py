"""Placement and launch for Scheduler: pending demands (dependencies, array limits), free
room per node (cores, memory, foreign load), console.jobs.placement.place, then per node one
batch: job files once per job, the shared-directory probe, and the launch lines. A task is
RUNNING in the store before its launch line is sent (see scheduler's docstring).
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import TYPE_CHECKING

from console.jobs.deps import dependency_verdict
from console.jobs.model import REASON_DEPENDENCY, REASON_NEVER, JobSpec, State, Task
from console.jobs.placement import Demand, NodeRoom, place
from console.jobs.remote import AgentError, launch_line, wrapper_script

if TYPE_CHECKING:
    from console.jobs.links import Link
    from console.jobs.tracking import Running

log = logging.getLogger("roost.jobs")


class DispatchMixin:
    """From pending tasks to launched ones."""

    def _spec(self, job_id: int) -> JobSpec:
        spec = self.specs.get(job_id)
        if spec is None:
            spec = self.specs[job_id] = self.store.spec_only(job_id)
        return spec

    def _demands(self, now: float) -> list[Demand]:
        running_per_job: dict[int, int] = {}
        for r in self.running.values():
            running_per_job[r.task.job_id] = running_per_job.get(r.task.job_id, 0) + 1
        out = []
        if self._pending is None:   # re-read only after others wrote (or a requeue)
            self._pending = self.store.pending_counts()
        for job_id, pending in list(self._pending.items()):
            spec = self._spec(job_id)
            if not self._deps_ready(job_id, spec, now):
                continue
            slots = None
            if spec.array_limit is not None:
                slots = max(0, spec.array_limit - running_per_job.get(job_id, 0))
            out.append(Demand(job_id, pending, spec.cpus, spec.mem_mb, spec.time_limit, slots,
                              spec.nodelist, spec.exclude))
        return out

    def _deps_ready(self, job_id: int, spec: JobSpec, now: float) -> bool:
        if not spec.dependencies.items:
            return True
        verdict = dependency_verdict(self.store, spec.dependencies)
        if verdict is None:
            self.store.set_job_reason(job_id, REASON_DEPENDENCY)
            return False
        if verdict is False:
            self.store.cancel_pending(job_id, REASON_NEVER, now)
            self._pending.pop(job_id, None)
            self.store.set_job_reason(job_id, REASON_NEVER)
            return False
        return True

    def _rooms(self) -> list[NodeRoom]:
        rooms = {}
        for name, link in self.links.items():
            cores = self.options.cores.get(name) or (link.info.cores if link.info else 1)
            mem = link.info.mem_mb if link.info else None
            rooms[name] = NodeRoom(name, cores, mem, up=link.up)
        for r in self.running.values():
            room = rooms.get(r.task.node)
            if room is not None:
                end = (r.task.start or 0) + r.spec.time_limit if r.spec.time_limit else math.inf
                room.take(r.spec.cpus, r.spec.mem_mb, end)
        if self.options.use_load:
            for name, room in rooms.items():
                ours = sum(1 for r in self.running.values() if r.task.node == name)
                room.foreign_cores = max(0, int(self.links[name].load1 - ours))
        return list(rooms.values())

    async def _schedule(self, now: float) -> None:
        demands = self._demands(now)
        if not demands:
            return
        plan = place(demands, self._rooms(), now)
        for job_id, reason in plan.reasons.items():
            self.store.set_job_reason(job_id, reason)
        if not plan.starts:
            return
        per_job: dict[int, list[str]] = {}
        for job_id, node in plan.starts:
            per_job.setdefault(job_id, []).append(node)
        per_node: dict[str, list[Running]] = {}
        with self.store.transaction():
            for job_id, nodes in per_job.items():
                tasks = self.store.tasks(job_id, [State.PENDING], limit=len(nodes))
                for task, node in zip(tasks, nodes):
                    if self.store.start(task, node, now):
                        task.state, task.node, task.start = State.RUNNING, node, now
                        task.pid = None
                        self._pending[job_id] -= 1
                        r = self._tracking(task, self.links[node])
                        self.running[(task.job_id, task.pos)] = r   # counted from now on
                        per_node.setdefault(node, []).append(r)
        self._pending = {j: n for j, n in self._pending.items() if n > 0}
        for node, runs in per_node.items():
            self._spawn(self._launch(self.links[node], runs))

    async def _launch(self, link: Link, runs: list[Running]) -> None:
        runs = self._outputs_writable(runs)
        if not runs:
            return
        try:
            await self._prepare(link, runs)
            lines = [launch_line(link.root, r.task.job_id, f"{r.task.pos}.{r.task.attempt}",
                                 r.task.index, r.task.task_job_id, r.remote_out, r.remote_err)
                     for r in runs]
            pids = await link.agent.launch(lines)
        except (AgentError, AttributeError, OSError) as exc:
            log.info("jobs: %s: launch failed: %s", link.target.name, exc)
            self._drop(link)   # tasks stay RUNNING without pid: re-attach settles them
            return
        with self.store.transaction():
            for r in runs:
                r.task.pid = pids.get(r.key)
                self.store.set_pid(r.task, r.task.pid)
        self.stats["launched"] += len(runs)

    def _outputs_writable(self, runs: list[Running]) -> list[Running]:
        """Like Slurm at start: a task whose output directory is gone fails now, unrun, rather
        than after its work is done (OutputFetchFailed)."""
        ok = []
        for r in runs:
            missing = [os.path.dirname(p) for p in (r.out, r.err)
                       if p and p != os.devnull and not os.path.isdir(os.path.dirname(p))]
            if not missing:
                ok.append(r)
                continue
            self.store.set_reason(r.task, f"OutputDirMissing: {missing[0]}")
            self.store.finish(r.task, State.FAILED, None, time.time())
            self.running.pop((r.task.job_id, r.task.pos), None)
            self._dirty = True
        return ok

    async def _prepare(self, link: Link, runs: list[Running]) -> None:
        """Job files on the node (once per job) and the shared-file-system probe per dir."""
        for r in runs:
            job_id = r.task.job_id
            if job_id not in link.written:
                # marked first: a later batch must not rewrite `run` under a starting task
                # (the agent runs calls in order, so its launch follows this write)
                link.written.add(job_id)
                env = self._job_env(r.spec, r.task, link.target.name)
                wrapper = wrapper_script(link.root, job_id, env, r.spec.export.clean,
                                         r.spec.work_dir)
                await link.agent.write_job(job_id, r.spec.script, wrapper)
        for r in runs:   # the probe may have changed where outputs go
            r.remote_out, r.remote_err = self._remote_paths(link, r.task, r.out, r.err)
        await self._probe_dirs(link, runs)
        for r in runs:
            r.remote_out, r.remote_err = self._remote_paths(link, r.task, r.out, r.err)

    def _job_env(self, spec: JobSpec, task: Task, node: str) -> dict[str, str]:
        job_id = task.job_id
        env = {"SLURM_JOB_NAME": spec.name, "SLURM_CPUS_PER_TASK": str(spec.cpus),
               "SLURM_SUBMIT_DIR": spec.submit_dir, "SLURMD_NODENAME": node,
               "SLURM_JOB_NUM_NODES": "1", "SLURM_NTASKS": "1", "ROOST_JOB_ID": str(job_id)}
        if task.index is not None:
            count = self.store.ntasks(job_id)
            env.update(SLURM_ARRAY_JOB_ID=str(job_id), SLURM_ARRAY_TASK_COUNT=str(count))
        env.update(dict(spec.export.values))
        return env
