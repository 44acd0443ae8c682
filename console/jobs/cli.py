"""`roost submit / queue / job / cancel / suspend / resume`: sbatch/squeue/scancel-like clients of
the job database. The lead's console/cli.py calls register(subparsers); each subcommand carries
its handler as `jobs_handler(args, config) -> exit status`.

Errors are one line, "roost submit: error: ..." (sbatch's wording where it has one), exit 1.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sqlite3
import sys
import time

from console.jobs.directives import add_options, spec_from_args
from console.jobs.model import State, Task
from console.jobs.queue_view import QUEUE_COLUMNS
from console.jobs.service import (cluster_name, open_store, run_scheduler, scheduler_lock,
                                  settle_requests)
from console.jobs.spec import SpecError, format_indices, format_time, parse_array
from console.jobs.store import Store
from console.jobs.submission import check_spec, job_details
from console.tables import clean, error as _fail, print_facts, print_table


NO_SCHEDULER = "no scheduler running — start the console or roost serve"


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
        if config.jobs.uses_ray:
            from console.ray.jobs_cli import HANDLERS as RAY
            return RAY[name](args, config)
        if config.jobs.uses_slurm:
            from console.jobs.slurm_cli import HANDLERS
            return HANDLERS[name](args, config)
        try:
            return builtin(args, config)
        except (sqlite3.Error, OSError) as exc:   # a full or read-only state file system
            return _fail(name, f"job queue in {config.state_dir}: "
                               f"{getattr(exc, 'strerror', None) or exc}{_full(config)}")
    handler.builtin = builtin
    return handler


def _full(config) -> str:
    """SQLite says "disk I/O error" when the shared-memory file cannot grow: name the cause."""
    try:
        free = shutil.disk_usage(config.state_dir).free
    except OSError:
        return ""
    return " (its file system is full)" if free < 64 << 10 else ""


# --- submit -------------------------------------------------------------------------------

def cmd_submit(args: argparse.Namespace, config) -> int:
    try:
        spec = spec_from_args(args, args.script, args.wrap)
        spec = check_spec(spec, config.names, open_store(config), config.jobs.cores)
    except SpecError as exc:
        return _fail("submit", str(exc))
    for warning in spec.warnings:
        print(f"roost submit: warning: {warning}", file=sys.stderr)
    if getattr(args, "partition", None):
        print("roost submit: warning: ignoring --partition (the built-in queue has none)",
              file=sys.stderr)
    store = open_store(config)
    job_id = store.submit(spec)
    print(job_id if args.parsable else f"Submitted batch job {job_id}", flush=True)
    if not args.wait:
        return 0
    return asyncio.run(_wait(config, store, job_id))


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


def cmd_queue(args: argparse.Namespace, config) -> int:
    if getattr(args, "partitions", False) or getattr(args, "slurm_nodes", False):
        return _fail("queue", "--partitions/--nodes need [jobs] backend = \"slurm\"")
    store = open_store(config)
    try:
        jobs = [int(j) for j in args.jobs.split(",")] if args.jobs else None
    except ValueError:
        return _fail("queue", f"Invalid job id: {args.jobs}")
    rows = queue_rows(store, jobs, args.all)
    holder = scheduler_lock(config).holder()
    if holder is None:      # pending jobs wait for a scheduler, not for priority: say so
        rows = [{**r, "nodelist": f"({NO_SCHEDULER})"} if r["state"] == "PENDING" else r
                for r in rows]
    if args.json:
        print(json.dumps({"cluster": cluster_name(config), "scheduler_pid": holder,
                          "jobs": rows}, indent=1))
        return 0
    print(f"CLUSTER: {clean(cluster_name(config))}")    # as squeue -M prints it
    print_queue(rows)
    return 0


def print_queue(rows: list[dict]) -> None:
    """squeue's table (the Slurm backend prints its rows through this too)."""
    print_table([[h for h, _ in QUEUE_COLUMNS]] + [[r[k] for _, k in QUEUE_COLUMNS] for r in rows],
                right=(0, 4))


# --- job ----------------------------------------------------------------------------------

def cmd_job(args: argparse.Namespace, config) -> int:
    try:
        job_id = int(args.job_id.split("_", 1)[0])
    except ValueError:
        return _fail("job", f"Invalid job id specified: {args.job_id}")
    info = job_details(open_store(config), job_id)
    if info is None:
        return _fail("job", f"Invalid job id specified: {job_id}")
    if scheduler_lock(config).holder() is None:
        info = _unscheduled(info)
    info = {"job_id": info["job_id"], "cluster": cluster_name(config), **info}
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print_facts((k, v) for k, v in info.items() if k != "tasks" and v not in (None, False))
    rows = [["TASK", "STATE", "NODE", "EXIT", "ELAPSED", "ATTEMPT", "OUTPUT"]]
    rows += [[t["task"], t["state"], t["node"] or "-", "-" if t["exit_code"] is None
              else t["exit_code"], t["elapsed"], t["attempt"], t["output"]]
             for t in info["tasks"]]
    print_table(rows, right=(0, 4))
    return 0


def _unscheduled(info: dict) -> dict:
    """Nobody schedules: a pending job's reason says that, not Priority."""
    tasks = [{**t, "reason": NO_SCHEDULER} if t["state"] == "PENDING" else t
             for t in info["tasks"]]
    pending = "PENDING" in info["states"]
    return {**info, "reason": NO_SCHEDULER if pending else info["reason"], "tasks": tasks}


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
    want, store, status = args.jobs_want, open_store(config), 0
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
    if store.wants() and scheduler_lock(config).holder() is None:
        asyncio.run(settle_requests(config, store, timeout=30.0))
    return status
