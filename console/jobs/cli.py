"""`roost submit / queue / job / cancel / suspend / resume`: sbatch/squeue/scancel-like clients of
the job database. The lead's console/cli.py calls register(subparsers); each subcommand carries
its handler as `jobs_handler(args, config) -> exit status`.

Errors are one line, "roost submit: error: ..." (sbatch's wording where it has one), exit 1.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import sys
import time

from console.jobs.directives import add_options, spec_from_args
from console.jobs.model import State, Task
from console.jobs.spec import Dependency
from console.jobs.service import open_store, run_scheduler, settle_requests
from console.jobs.spec import SpecError, format_hostlist, format_indices, format_time, \
    parse_array
from console.jobs.lock import SchedulerLock
from console.jobs.store import Store


def register(subparsers) -> None:
    s = subparsers.add_parser("submit", help="submit a batch script or --wrap CMD (like sbatch)")
    add_options(s)
    s.add_argument("--wrap", metavar="CMD", help="run CMD under /bin/sh instead of a script")
    s.add_argument("-W", "--wait", action="store_true",
                   help="wait for the job to end; exit with its (highest) exit code")
    s.add_argument("--parsable", action="store_true", help="print only the job id")
    s.add_argument("-p", "--partition", help="Slurm partition (backend = \"slurm\" only)")
    s.add_argument("script", nargs="?", metavar="SCRIPT")
    s.set_defaults(jobs_handler=_routed("submit", cmd_submit))

    s = subparsers.add_parser("queue", help="pending and running jobs (like squeue)")
    s.add_argument("-j", "--jobs", metavar="IDS", help="only these job ids (comma separated)")
    s.add_argument("-a", "--all", action="store_true", help="finished tasks too")
    s.add_argument("--json", action="store_true", help="one JSON document")
    s.add_argument("-P", "--partitions", action="store_true",
                   help="Slurm's partitions instead (like sinfo; backend = \"slurm\")")
    s.add_argument("-N", "--nodes", dest="slurm_nodes", action="store_true",
                   help="Slurm's nodes instead (like sinfo -N; backend = \"slurm\")")
    s.set_defaults(jobs_handler=_routed("queue", cmd_queue))

    s = subparsers.add_parser("job", help="one job: details, output paths, per-task states")
    s.add_argument("job_id", metavar="ID")
    s.add_argument("--json", action="store_true")
    s.set_defaults(jobs_handler=_routed("job", cmd_job))

    for name, what in (("cancel", "cancel"), ("suspend", "suspend"), ("resume", "resume")):
        s = subparsers.add_parser(name, help=f"{what} jobs or array tasks: ID, ID_5, ID_[1-3]")
        s.add_argument("ids", nargs="+", metavar="ID")
        s.set_defaults(jobs_handler=_routed(name, cmd_request), jobs_want=what)


def _routed(name: str, builtin):
    """The handler for [jobs] backend: the built-in queue, or Slurm on the controller."""
    def handler(args: argparse.Namespace, config) -> int:
        from console.jobs.slurm import SlurmConfigError, backend_name
        try:
            backend = backend_name(config.jobs)
        except SlurmConfigError as exc:
            return _fail(name, str(exc), 2)
        if backend == "slurm":
            from console.jobs.slurm_cli import HANDLERS
            return HANDLERS[name](args, config)
        return builtin(args, config)
    handler.builtin = builtin
    return handler


def _fail(cmd: str, message: str, code: int = 1) -> int:
    print(f"roost {cmd}: error: {message}", file=sys.stderr)
    return code


# --- submit -------------------------------------------------------------------------------

def cmd_submit(args: argparse.Namespace, config) -> int:
    try:
        spec = spec_from_args(args, args.script, args.wrap)
        spec = _check_spec(spec, config, open_store(config.state_dir))
    except SpecError as exc:
        return _fail("submit", str(exc))
    for warning in spec.warnings:
        print(f"roost submit: warning: {warning}", file=sys.stderr)
    if getattr(args, "partition", None):
        print("roost submit: warning: ignoring --partition (the built-in queue has none)",
              file=sys.stderr)
    store = open_store(config.state_dir)
    job_id = store.submit(spec)
    print(job_id if args.parsable else f"Submitted batch job {job_id}", flush=True)
    if not args.wait:
        return 0
    return asyncio.run(_wait(config, store, job_id))


def _check_spec(spec, config, store: Store):
    """Node names must exist; dependencies must name known jobs (an array task's own
    SLURM_JOB_ID is turned into JOB_INDEX). Returns the spec, possibly with resolved deps."""
    known = set(config.names)
    for name in spec.nodelist:
        if known and name not in known:
            raise SpecError(f"Batch job submission failed: Invalid node name specified ({name})")
    items = [_resolve(store, dep) for dep in spec.dependencies.items]
    deps = dataclasses.replace(spec.dependencies, items=tuple(items))
    return dataclasses.replace(spec, dependencies=deps)


def _resolve(store: Store, dep: Dependency) -> Dependency:
    if store.job(dep.job) is not None:
        return dep
    row = store.db.execute(
        "SELECT t.job_id, t.idx FROM jobs j JOIN tasks t ON t.job_id = j.id "
        "WHERE j.id < ? AND j.id + j.ntasks > ? AND t.pos = ? - j.id",
        (dep.job, dep.job, dep.job)).fetchone()
    if row is None or dep.task is not None:
        raise SpecError(f"Batch job submission failed: Job dependency problem (no job {dep.job})")
    return dataclasses.replace(dep, job=row[0], task=row[1])


async def _wait(config, store: Store, job_id: int) -> int:
    """Schedule in-process when nobody else does; else watch the database."""
    stop = asyncio.Event()
    while not _finished(store, job_id):
        if await run_scheduler(config, stop, until_job=job_id, store=store):
            break
        await asyncio.sleep(0.2)
    return _exit_status(store.tasks(job_id))


def _finished(store: Store, job_id: int) -> bool:
    counts = store.state_counts(job_id)
    return not any(counts.get(s) for s in (State.PENDING, State.RUNNING, State.SUSPENDED))


def _exit_status(tasks: list[Task]) -> int:
    """sbatch --wait: the job's exit code; for an array the highest; 1 if killed without one."""
    codes = [t.exit_code if t.exit_code is not None else (0 if t.state is State.COMPLETED else 1)
             for t in tasks]
    worst = max(codes, default=0)
    if worst == 0 and any(t.state is not State.COMPLETED for t in tasks):
        return 1
    return worst


# --- queue --------------------------------------------------------------------------------

def queue_rows(store: Store, jobs: list[int] | None = None, all_tasks: bool = False,
               now: float | None = None) -> list[dict]:
    """squeue's rows: one per running task, one per job for its pending tasks (12_[3-9])."""
    now = time.time() if now is None else now
    ids = jobs if jobs is not None else store.job_ids(live_only=not all_tasks)
    rows = []
    for job_id in ids:
        row = store.job(job_id)
        if row is None:
            continue
        tasks = store.tasks(job_id)
        rows += _job_rows(row, tasks, all_tasks, now)
    return rows


def _job_rows(row, tasks: list[Task], all_tasks: bool, now: float) -> list[dict]:
    out = []
    shown = [t for t in tasks if t.state in (State.RUNNING, State.SUSPENDED)
             or (all_tasks and t.state.done)]
    for t in shown:
        out.append(_row(t.label, row, t.state, t.elapsed(now), t.node or "", t.exit_code))
    pending = [t for t in tasks if t.state is State.PENDING]
    if pending:
        label = str(row.id)
        if pending[0].index is not None:
            label += f"_[{format_indices([t.index for t in pending])}]"
        reason = pending[0].reason if pending[0].attempt else (row.reason or "Priority")
        out.append(_row(label, row, State.PENDING, 0, f"({reason})", None))
    return out


def _row(label, row, state: State, elapsed: float, where: str, code) -> dict:
    return {"job_id": label, "name": row.name, "user": row.user, "state": state.value,
            "st": state.code, "time": format_time(elapsed), "nodes": 1,
            "nodelist": where, "exit_code": code}


COLUMNS = [("JOBID", "job_id"), ("NAME", "name"), ("ST", "st"), ("TIME", "time"),
           ("NODES", "nodes"), ("NODELIST(REASON)", "nodelist")]


def cmd_queue(args: argparse.Namespace, config) -> int:
    if getattr(args, "partitions", False) or getattr(args, "slurm_nodes", False):
        return _fail("queue", "--partitions/--nodes need [jobs] backend = \"slurm\"")
    store = open_store(config.state_dir)
    try:
        jobs = [int(j) for j in args.jobs.split(",")] if args.jobs else None
    except ValueError:
        return _fail("queue", f"Invalid job id: {args.jobs}")
    rows = queue_rows(store, jobs, args.all)
    if args.json:
        holder = SchedulerLock(config.state_dir).holder()
        print(json.dumps({"scheduler_pid": holder, "jobs": rows}, indent=1))
        return 0
    _print_table([[h for h, _ in COLUMNS]] + [[str(r[k]) for _, k in COLUMNS] for r in rows])
    return 0


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.rjust(w) if i in (0, 4) else c.ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())


# --- job ----------------------------------------------------------------------------------

def job_details(store: Store, job_id: int, now: float | None = None) -> dict | None:
    from console.jobs.scheduler import _absolute
    from console.jobs.spec import PatternValues, expand_pattern, format_dependency
    row = store.job(job_id)
    if row is None:
        return None
    spec, tasks, now = row.spec, store.tasks(job_id), time.time() if now is None else now
    counts: dict[str, int] = {}
    for t in tasks:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1

    def paths(t: Task) -> dict:
        v = PatternValues(t.task_job_id, job_id, t.index, spec.name, t.node or "%N", spec.user)
        out = {"output": _absolute(expand_pattern(spec.output_pattern(t.index is not None), v),
                                   spec.work_dir)}
        if spec.error:
            out["error"] = _absolute(expand_pattern(spec.error, v), spec.work_dir)
        return out
    return {
        "job_id": job_id, "name": row.name, "user": row.user, "submit": row.submit,
        "states": counts, "reason": row.reason, "cpus_per_task": spec.cpus, "mem_mb": spec.mem_mb,
        "time_limit": format_time(spec.time_limit), "work_dir": spec.work_dir,
        "array": format_indices(list(spec.array)) if spec.array else None,
        "array_limit": spec.array_limit,
        "dependency": format_dependency(spec.dependencies) or None,
        "nodelist": format_hostlist(spec.nodelist) or None,
        "exclude": format_hostlist(spec.exclude) or None, "requeue": spec.requeue,
        "output": spec.output_pattern(any(t.index is not None for t in tasks)), "error": spec.error,
        "tasks": [{"task": t.label, "task_job_id": t.task_job_id, "state": t.state.value,
                   "node": t.node, "exit_code": t.exit_code, "attempt": t.attempt,
                   "elapsed": format_time(t.elapsed(now)),
                   "reason": t.reason if t.state is State.PENDING or t.reason != "Priority"
                   else None, **paths(t)} for t in tasks],
    }


def cmd_job(args: argparse.Namespace, config) -> int:
    try:
        job_id = int(args.job_id.split("_", 1)[0])
    except ValueError:
        return _fail("job", f"Invalid job id specified: {args.job_id}")
    info = job_details(open_store(config.state_dir), job_id)
    if info is None:
        return _fail("job", f"Invalid job id specified: {job_id}")
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    for key, value in info.items():
        if key != "tasks" and value not in (None, False):
            print(f"{key:>14}: {value}")
    rows = [["TASK", "STATE", "NODE", "EXIT", "ELAPSED", "ATTEMPT", "OUTPUT"]]
    rows += [[t["task"], t["state"], t["node"] or "-", str(t["exit_code"] if t["exit_code"]
              is not None else "-"), t["elapsed"], str(t["attempt"]), t["output"]]
             for t in info["tasks"]]
    _print_table(rows)
    return 0


# --- cancel / suspend / resume ------------------------------------------------------------

_TARGET = re.compile(r"(\d+)(?:_(\d+|\[[^\]]+\]))?")


def parse_target(text: str) -> tuple[int, list[int] | None]:
    """"12" -> (12, None); "12_3" -> (12, [3]); "12_[1-3,7]" -> (12, [1, 2, 3, 7])."""
    match = _TARGET.fullmatch(text.strip())
    if not match:
        raise SpecError(f"Invalid job id specified: {text}")
    part = match.group(2)
    if part is None:
        return int(match.group(1)), None
    indices = parse_array(part.strip("[]")).indices
    return int(match.group(1)), list(indices)


_NOTHING = {"cancel": "Kill job error on job id {}: Job/step already completing or completed",
            "suspend": "Job {} is not running", "resume": "Job {} is not suspended"}


def cmd_request(args: argparse.Namespace, config) -> int:
    want, store, status = args.jobs_want, open_store(config.state_dir), 0
    for text in args.ids:
        try:
            job_id, indices = parse_target(text)
        except SpecError as exc:
            status = _fail(want, str(exc))
            continue
        if store.job(job_id) is None:
            status = _fail(want, f"Kill job error on job id {text}: Invalid job id specified"
                           if want == "cancel" else f"Invalid job id specified: {text}")
            continue
        if store.request(job_id, indices, want) == 0:
            status = _fail(want, _NOTHING[want].format(text))
    if store.wants() and SchedulerLock(config.state_dir).holder() is None:
        asyncio.run(settle_requests(config, store, timeout=30.0))
    return status
