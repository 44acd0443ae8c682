"""What a submitted job must satisfy before it is queued, and what `roost job ID` reports.

Shared by `roost submit`, the console's form and `roost job`/the job screen, so the CLI and the
UI refuse the same jobs with the same one line (sbatch's wording where it has one).
"""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Mapping

from console.jobs.model import JobSpec, State, Task
from console.jobs.outpaths import absolute, task_outputs
from console.jobs.placement import NodeRoom, demand, place
from console.jobs.spec import Dependency, SpecError, format_dependency, format_hostlist, format_indices, format_time
from console.jobs.store import Store

NO_NODE = "Batch job submission failed: Requested node configuration is not available"


def check_spec(spec: JobSpec, known_nodes: Iterable[str], store: Store,
               cores: Mapping[str, int] | None = None) -> JobSpec:
    """Node names must exist; some node must be big enough (cores: [jobs] overrides, else the
    sizes schedulers recorded); the output directories must exist (a task never runs only to
    lose its output); dependencies must name known jobs (an array task's own SLURM_JOB_ID is
    turned into JOB_INDEX). Returns the spec, possibly with resolved deps."""
    known = set(known_nodes)
    for name in spec.nodelist + spec.candidates:
        if known and name not in known:
            raise SpecError(f"Batch job submission failed: Invalid node name specified ({name})")
    _check_fits(spec, known, store, cores or {})
    for directory in output_dirs(spec):
        if not os.path.isdir(directory):
            raise SpecError(f"Batch job submission failed: output directory {directory} does "
                            "not exist")
    items = [_resolve(store, dep) for dep in spec.dependencies.items]
    deps = dataclasses.replace(spec.dependencies, items=tuple(items))
    return dataclasses.replace(spec, dependencies=deps)


def _check_fits(spec: JobSpec, known: set[str], store: Store, cores: Mapping[str, int]) -> None:
    """Like Slurm: refuse at submit a job no eligible node could ever hold. Only judged when
    the size of every eligible node is known (nodes never seen yet might be big enough)."""
    sizes = node_sizes(store, cores)
    eligible = (known or set(sizes)) - set(spec.exclude)
    if spec.candidates:
        eligible &= set(spec.candidates)
    if not spec.allocation and spec.nodelist:
        eligible &= set(spec.nodelist)
    if not eligible or not eligible <= set(sizes):
        return
    rooms = [NodeRoom(n, *sizes[n]) for n in sorted(eligible)]
    if place([demand(0, 1, spec, None)], rooms, 0.0).reasons:
        raise SpecError(NO_NODE)


def node_sizes(store: Store, cores: Mapping[str, int] | None = None
               ) -> dict[str, tuple[int, int | None]]:
    """node -> (cores, memory MB or None): what schedulers recorded, [jobs] cores over it."""
    sizes = store.node_sizes()
    for name, n in (cores or {}).items():
        sizes[name] = (n, sizes.get(name, (n, None))[1])
    return sizes


def min_nodes(spec: JobSpec, sizes: Mapping[str, tuple[int, int | None]]) -> int:
    """Slurm's NumNodes for a pending job: -N (or the nodes -w names), or the fewest nodes
    whose cores hold every task when only -n is given."""
    if spec.tasks_per_node:
        return max(spec.node_count, -(-spec.total_tasks // spec.tasks_per_node))
    if spec.node_count > 1 or not sizes:
        return spec.node_count
    biggest = max(c for c, _ in sizes.values())
    return max(1, -(-spec.total_tasks * spec.cpus // max(1, biggest)))


def output_dirs(spec: JobSpec) -> set[str]:
    """The directories -o/-e write into, where the pattern fixes them (no % in the dir part)."""
    dirs: set[str] = set()
    for pattern in (spec.output_pattern(spec.array is not None), spec.error):
        if pattern and pattern != os.devnull:
            directory = os.path.dirname(absolute(pattern, spec.work_dir))
            if "%" not in directory:
                dirs.add(directory)
    return dirs


def _resolve(store: Store, dep: Dependency) -> Dependency:
    if dep.kind == "singleton":
        return dep
    if dep.name is not None and not dep.job:    # LSF's done(NAME): its newest job
        found = store.job_ids_named(dep.name)
        if not found:
            raise SpecError(f"Batch job submission failed: Job dependency problem (no job "
                            f"named {dep.name})")
        return dataclasses.replace(dep, job=found[-1], name=None)
    if store.job(dep.job) is not None:
        return dep
    task = store.array_task(dep.job)
    if task is None or dep.task is not None:
        raise SpecError(f"Batch job submission failed: Job dependency problem (no job {dep.job})")
    return dataclasses.replace(dep, job=task[0], task=task[1])


Details = dict[str, object]   # JSON-ready: `roost job ID --json` prints it as it is


def task_entries(info: Details) -> list[Details]:
    """The per-task entries of a job's Details (job_details(), and Slurm's and Ray's views')."""
    tasks = info.get("tasks")
    return [t for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []


def job_details(store: Store, job_id: int, now: float | None = None) -> Details | None:
    """Everything `roost job ID` shows (and the job screen): facts, then one entry per task."""
    row = store.job(job_id)
    if row is None:
        return None
    spec, tasks, now = row.spec, store.tasks(job_id), time.time() if now is None else now
    counts: dict[str, int] = {}
    for t in tasks:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    starts = [t.start for t in tasks if t.start is not None]
    ended = all(t.state.done for t in tasks) and all(t.end is not None for t in tasks)
    return {
        "job_id": job_id, "name": row.name, "user": row.user, "submit": row.submit,
        "start": min(starts, default=None),
        "end": max((t.end for t in tasks if t.end is not None), default=None) if ended else None,
        "states": counts, "reason": row.reason, "cpus_per_task": spec.cpus, "mem_mb": spec.mem_mb,
        "time_limit": format_time(spec.time_limit), "work_dir": spec.work_dir,
        "array": format_indices(list(spec.array)) if spec.array else None,
        "array_limit": spec.array_limit,
        "dependency": format_dependency(spec.dependencies) or None,
        "nodelist": format_hostlist(spec.nodelist) or None,
        "exclude": format_hostlist(spec.exclude) or None, "requeue": spec.requeue is not False,
        "output": spec.output_pattern(any(t.index is not None for t in tasks)), "error": spec.error,
        **_allocation(spec, store),
        "tasks": [_task_entry(spec, t, now, row.reason) for t in tasks],
    }


def _allocation(spec: JobSpec, store: Store) -> Details:
    """What a job asks of the nodes beyond one task: as scontrol show job names it."""
    nodes = str(min_nodes(spec, node_sizes(store)))
    return {"num_nodes": nodes + (f"-{spec.nodes_max}" if spec.nodes_max else ""),
            "num_tasks": spec.total_tasks, "tasks_per_node": spec.tasks_per_node,
            "mem_per_cpu": spec.mem_per_cpu, "exclusive": spec.exclusive, "nice": spec.nice,
            "begin": spec.begin, "command": " ".join([spec.script_path] + list(spec.args))
            if spec.script_path else None,
            "candidates": format_hostlist(spec.candidates) or None}


def _task_entry(spec: JobSpec, t: Task, now: float, job_reason: str | None = None) -> Details:
    out, err = task_outputs(spec, t, t.node or "%N")
    reason = t.reason if t.state is State.PENDING or t.reason != "Priority" else None
    if t.state is State.PENDING and not t.attempt:
        reason = job_reason or reason    # never started: it waits for what its job waits for
    paths = {"output": out, **({"error": err} if err else {})}
    return {"task": t.label, "task_job_id": t.task_job_id, "state": t.state.value,
            "node": t.node, "nodes": format_hostlist(t.nodes) or None,
            "exit_code": t.exit_code, "attempt": t.attempt,
            "start": t.start, "end": t.end, "elapsed": format_time(t.elapsed(now)),
            "reason": reason,
            **paths}
