"""Placement and launch for Scheduler: pending demands (dependencies, --begin, array limits,
nice), free room per node (cores, memory, foreign load, allocations), console.jobs.placement,
then per node one batch: job files once per job, the shared-directory probe, per-task files
of allocations, and the launch lines. A task is RUNNING in the store before its launch line is
sent (see scheduler's docstring).
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence

from console.jobs.core import Link, Running, SchedulerCore
from console.jobs.deps import dependency_verdict
from console.jobs.limits import Limits
from console.jobs.model import REASON_BEGIN, REASON_DEPENDENCY, REASON_NEVER, JobSpec, State, Task
from console.jobs.placement import Alloc, Demand, NodeRoom, demand, place
from console.jobs.remote import AgentError, Wrapper, launch_line, wrapper_script
from console.jobs.spec import format_indices
from console.jobs.taskenv import alloc_env, env_file, job_env, parse_cpuset, pick_cores

log = logging.getLogger("roost.jobs")


class DispatchMixin(SchedulerCore):
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
        order = sorted(self._pending, key=lambda j: (self._spec(j).nice, j))
        for job_id in order:
            pending, spec = self._pending.get(job_id, 0), self._spec(job_id)
            if not pending or not self._eligible_now(job_id, spec, now):
                continue
            slots = None
            if spec.array_limit is not None:
                slots = max(0, spec.array_limit - running_per_job.get(job_id, 0))
            out.append(demand(job_id, pending, spec, slots))
        return out

    def _eligible_now(self, job_id: int, spec: JobSpec, now: float) -> bool:
        if spec.begin is not None and spec.begin > now:
            self.store.set_job_reason(job_id, REASON_BEGIN)
            return False
        return self._deps_ready(job_id, spec, now)

    def _deps_ready(self, job_id: int, spec: JobSpec, now: float) -> bool:
        if not spec.dependencies.items:
            return True
        verdict = dependency_verdict(self.store, spec.dependencies, job_id, spec.name, spec.user)
        if verdict is None:
            self.store.set_job_reason(job_id, REASON_DEPENDENCY)
            return False
        if verdict is False:
            self.store.cancel_pending(job_id, REASON_NEVER, now)
            if self._pending is not None:   # read by _demands, which asks here
                self._pending.pop(job_id, None)
            self.store.set_job_reason(job_id, REASON_NEVER)
            return False
        return True

    def _rooms(self, now: float, demands: Sequence[Demand] = ()) -> list[NodeRoom]:
        rooms, loads = {}, {}
        linkable = self.on_demand and self._room_budget() > 0
        for name in self._candidates(demands, now):   # (on demand: unlinked ones by report)
            cores, mem, up, loads[name] = self._size(name, self.links[name], linkable, now)
            rooms[name] = NodeRoom(name, cores, mem, up=up)
        ours: dict[str, int] = {}
        for r in self.running.values():
            end = (r.task.start or 0) + r.spec.time_limit if r.spec.time_limit else math.inf
            d = demand(r.task.job_id, 1, r.spec, None)
            for node, tasks in r.task.alloc or ((r.node, 1),):
                room = rooms.get(node)
                if room is not None:
                    room.take(room.cores if d.exclusive else d.cpus * tasks, d.mem_for(tasks),
                              end)
                    ours[node] = ours.get(node, 0) + 1
        if self.options.use_load:
            for name, room in rooms.items():
                room.foreign_cores = max(0, int(loads[name] - ours.get(name, 0)))
        # held links first (placement fills nodes in this order, so work goes where a link
        # is), then the others as _candidates ordered them (freest first)
        return sorted(rooms.values(), key=lambda room: not self.links[room.name].up)

    async def _schedule(self, now: float) -> None:
        demands = self._demands(now)
        if not demands:
            return
        plan = place(demands, self._rooms(now, demands), now)
        self._links_reason(plan.reasons)
        for job_id, reason in plan.reasons.items():
            self.store.set_job_reason(job_id, reason)
        starts = [(job_id, ((node, 1),)) for job_id, node in plan.starts] + plan.allocs
        starts = self._defer_unlinked(starts)    # on demand: unlinked nodes are linked first
        if not starts:
            return
        per_job: dict[int, list[Alloc]] = {}
        for job_id, alloc in starts:
            per_job.setdefault(job_id, []).append(alloc)
        per_node: dict[str, list[Running]] = {}
        busy = self._pinned()
        with self.store.transaction():
            for job_id, allocs in per_job.items():
                tasks = self.store.tasks(job_id, [State.PENDING], limit=len(allocs))
                for task, alloc in zip(tasks, allocs):
                    r = self._start(task, alloc, now, busy)
                    if r is not None:
                        per_node.setdefault(r.node, []).append(r)
        if self._pending is not None:   # read by _demands above
            self._pending = {j: n for j, n in self._pending.items() if n > 0}
        for node, runs in per_node.items():
            self._spawn(self._launch(self.links[node], runs))

    def _start(self, task: Task, alloc: Alloc, now: float,
               busy: dict[str, set[int]]) -> Running | None:
        """PENDING -> RUNNING on alloc's first node (pinned to free cores there)."""
        spec, node = self._spec(task.job_id), alloc[0][0]
        multi = spec.allocation
        cpuset = self._cores_for(node, spec, alloc[0][1], busy)
        if not self.store.start(task, node, now, alloc if multi else (), cpuset):
            return None
        task.state, task.node, task.start, task.pid = State.RUNNING, node, now, None
        task.alloc, task.cpuset = (tuple(alloc) if multi else ()), cpuset
        busy.setdefault(node, set()).update(parse_cpuset(cpuset))
        if self._pending is not None:   # read by _demands before placement
            self._pending[task.job_id] -= 1
        r = self._tracking(task, self.links[node])
        self.running[(task.job_id, task.pos)] = r   # counted from now on
        return r

    def _pinned(self) -> dict[str, set[int]]:
        """node -> the cores running tasks are pinned to."""
        busy: dict[str, set[int]] = {}
        for r in self.running.values():
            busy.setdefault(r.node, set()).update(parse_cpuset(r.task.cpuset))
        return busy

    def _cores_for(self, node: str, spec: JobSpec, tasks: int,
                   busy: dict[str, set[int]]) -> str | None:
        """The cores to pin the task to on node, when its limits tool pins (else None)."""
        link = self.links[node]
        if self.options.limits == "off" or link.info is None or link.info.limits == "none":
            return None
        want = link.info.cores if spec.exclusive else spec.cpus * tasks
        return pick_cores(link.info.cores, busy.get(node, set()), want)

    async def _launch(self, link: Link, runs: list[Running]) -> None:
        runs = self._outputs_writable(runs)
        if not runs:
            return
        try:
            await self._prepare(link, runs)
            for r in runs:
                if r.task.alloc:
                    await self._write_alloc(link, r)
            lines = [launch_line(link.root, r.task.job_id, f"{r.task.pos}.{r.task.attempt}",
                                 r.task.index, r.task.task_job_id, r.remote_out, r.remote_err,
                                 r.task.cpuset)
                     for r in runs]
            pids = await link.require_agent().launch(lines)
        except (AgentError, AttributeError, OSError) as exc:
            log.info("jobs: %s: launch failed: %s", link.target.name, exc)
            self._drop(link)   # tasks stay RUNNING without pid: re-attach settles them
            return
        with self.store.transaction():
            for r in runs:
                r.task.pid = pids.get(r.key)
                self.store.set_pid(r.task, r.task.pid)
        self.stats["launched"] += len(runs)

    async def _write_alloc(self, link: Link, r: Running) -> None:
        """An allocation's own variables and hostfile, beside its job's files."""
        key = f"{r.task.pos}.{r.task.attempt}"
        hostfile = f"{link.require_info().home}/{link.root}/{r.task.job_id}/{key}.hosts"
        hosts = {n: self.links[n].target.host for n, _ in r.task.alloc if n in self.links}
        whole = {n: (info.cores if (info := self.links[n].info) else r.spec.cpus)
                 for n, _ in r.task.alloc if r.spec.exclusive and n in self.links}
        env, hostfile_text = alloc_env(r.spec, r.task.alloc, hosts, whole, hostfile)
        first_tasks = r.task.alloc[0][1]
        mem = demand(r.task.job_id, 1, r.spec, None).mem_for(first_tasks)
        if mem:
            env["ROOST_MEM_MB"] = str(mem)
        await link.require_agent().write_task_files(r.task.job_id, key,
                                          {"env": env_file(env), "hosts": hostfile_text})

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
                await link.require_agent().write_job(job_id, r.spec.script,
                                           wrapper_script(self._wrapper(link, r)))
        for r in runs:   # the probe may have changed where outputs go
            r.remote_out, r.remote_err = self._remote_paths(link, r.task, r.out, r.err)
        await self._probe_dirs(link, runs)
        for r in runs:
            r.remote_out, r.remote_err = self._remote_paths(link, r.task, r.out, r.err)

    def _wrapper(self, link: Link, r: Running) -> Wrapper:
        spec = r.spec
        method = link.info.limits if link.info and self.options.limits != "off" else "none"
        mem = demand(r.task.job_id, 1, spec, None).mem_for(1) or None   # 0: the whole node
        limits = Limits(method, spec.time_limit, mem if method != "none" else None,
                        self.options.grace, pin=self.options.limits != "off")
        return Wrapper(link.root, r.task.job_id, self._job_env(spec, r.task, link),
                       spec.export.clean, spec.work_dir, spec.args, spec.open_mode == "append",
                       limits)

    def _job_env(self, spec: JobSpec, task: Task, link: Link) -> dict[str, str]:
        count, lsf_name = None, spec.name
        if task.index is not None:
            count = self.store.ntasks(task.job_id)
            row = self.store.job(task.job_id)   # a job with a running task is not purged
            indices = row.spec.array if row is not None else None
            lsf_name = f"{spec.name}[{format_indices(list(indices or ()))}]"
        return job_env(spec, task.job_id, link.target.name, link.target.host, count, lsf_name)
