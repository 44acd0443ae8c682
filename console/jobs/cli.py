"""`roost submit / queue / job / cancel / suspend / resume`: sbatch/squeue/scancel-like clients of
the job database. The lead's console/cli.py calls register(subparsers); each subcommand carries
its handler as `jobs_handler(args, config) -> exit status`.

Errors are one line, "roost submit: error: ..." (sbatch's wording where it has one), exit 1.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.jobs.directives import add_options, add_script_arguments, spec_from_args
from console.jobs.location import cluster_name, open_store, queue_failure, scheduler_lock
from console.jobs.model import State, Task
from console.jobs.spec import SpecError, format_hostlist, format_indices, format_time, parse_target, signal_name
from console.jobs.store import JobRow, Store
from console.jobs.submission import Details, check_spec, job_details, task_entries
from console.tables import clean, error as _fail, format_table, print_facts, print_table

if TYPE_CHECKING:
    from console.config import Config

Handler = Callable[[argparse.Namespace, "Config"], int]   # a subcommand: (args, config) -> status

# asyncio, the scheduler (console.jobs.service: asyncssh) and the report modules are imported
# where they are used: `roost submit` in a shell loop starts Python for every line

NO_SCHEDULER = "no scheduler running — start the console or roost serve"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = subparsers.add_parser("submit", help="submit a batch script or --wrap CMD (like sbatch)")
    add_options(s)
    s.add_argument("--wrap", metavar="CMD", help="run CMD under /bin/sh instead of a script")
    s.add_argument("-W", "--wait", action="store_true",
                   help="wait for the job to end; exit with its (highest) exit code")
    s.add_argument("--parsable", action="store_true", help="print only the job id")
    s.add_argument("-p", "--partition", help="Slurm partition (backend = \"slurm\" only)")
    add_script_arguments(s)
    s.set_defaults(jobs_handler=_routed("submit", cmd_submit))

    s = subparsers.add_parser("queue", help="pending and running jobs (like squeue)",
                              add_help=False)
    s.add_argument("--help", action="help", help="show this help and exit")
    s.add_argument("-j", "--jobs", metavar="IDS", help="only these job ids (comma separated)")
    s.add_argument("-a", "--all", action="store_true", help="finished tasks too")
    s.add_argument("-u", "--user", metavar="USERS", help="only these users' jobs (comma separated)")
    s.add_argument("-t", "--states", metavar="STATES",
                   help="only tasks in these states: PD,R,S,CD,F,CA,TO,NF,OOM or long names; all")
    s.add_argument("-o", "--format", metavar="FMT",
                   help="squeue's format, e.g. \"%%.7i %%.9j %%.2t %%.10M %%.6D %%R\"")
    s.add_argument("-h", "--noheader", action="store_true", help="no header line")
    s.add_argument("--json", action="store_true", help="one JSON document")
    s.add_argument("-P", "--partitions", action="store_true",
                   help="Slurm's partitions instead (like sinfo; backend = \"slurm\")")
    s.add_argument("-N", "--nodes", dest="slurm_nodes", action="store_true",
                   help="Slurm's nodes instead (like sinfo -N; backend = \"slurm\")")
    s.set_defaults(jobs_handler=_routed("queue", cmd_queue))

    s = subparsers.add_parser("job", help="one job: details, output paths, per-task states")
    s.add_argument("job_id", metavar="ID", help="a job id (ID_INDEX shows the whole array)")
    s.add_argument("--json", action="store_true",
                   help="one JSON document (ISO 8601 times, counts by state)")
    s.set_defaults(jobs_handler=_routed("job", cmd_job))

    for name, what in (("cancel", "cancel"), ("suspend", "suspend"), ("resume", "resume")):
        s = subparsers.add_parser(name, help=f"{what} jobs or array tasks: ID, ID_5, ID_[1-3]")
        s.add_argument("ids", nargs="*" if name == "cancel" else "+", metavar="ID",
                       help="job ids, or array tasks as ID_5 or ID_[1-3,7]")
        if name == "cancel":
            s.add_argument("-n", "--name", "--jobname", dest="job_name", metavar="NAME",
                           help="the jobs of this name")
            s.add_argument("-s", "--signal", metavar="SIG",
                           help="send SIG (USR1, HUP, 10 ...) to the running tasks instead")
        s.set_defaults(jobs_handler=_routed(name, cmd_request), jobs_want=what)


def _routed(name: str, builtin: Handler) -> Handler:
    """The handler for [jobs] backend: the built-in queue, or Slurm on the controller."""
    def handler(args: argparse.Namespace, config: Config) -> int:
        if config.jobs.uses_ray:
            from console.ray.jobs_cli import HANDLERS as RAY
            return RAY[name](args, config)
        if config.jobs.uses_slurm:
            from console.jobs.slurm_cli import HANDLERS
            return HANDLERS[name](args, config)
        try:
            return builtin(args, config)
        except (sqlite3.Error, OSError) as exc:   # a full or read-only state file system
            return _fail(name, queue_failure(config, exc))
    return handler


# --- submit -------------------------------------------------------------------------------

def cmd_submit(args: argparse.Namespace, config: Config) -> int:
    try:
        spec = spec_from_args(args, args.script, args.wrap)
        store = open_store(config)     # one connection for the checks and the insert
        spec = check_spec(spec, config.names, store, config.jobs.cores)
    except SpecError as exc:
        return _fail("submit", str(exc))
    for warning in spec.warnings:
        print(f"roost submit: warning: {warning}", file=sys.stderr)
    if getattr(args, "partition", None):
        print("roost submit: warning: ignoring --partition (the built-in queue has none)",
              file=sys.stderr)
    job_id = store.submit(spec)
    print(job_id if args.parsable else f"Submitted batch job {job_id}", flush=True)
    if not args.wait:
        return 0
    import asyncio
    return asyncio.run(_wait(config, store, job_id))


async def _wait(config: Config, store: Store, job_id: int) -> int:
    """Schedule in-process when nobody else does (on the Prometheus source, linking only the
    nodes placement chooses, when the config reads the fleet from Prometheus); else watch the
    database."""
    import asyncio

    from console.jobs.service import run_scheduler
    stop = asyncio.Event()
    while not _finished(store, job_id):
        if await run_scheduler(config, stop, until_job=job_id, store=store, own_source=True):
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
               now: float | None = None) -> list[dict[str, object]]:
    """squeue's rows: one per running task, one per job for its pending tasks (12_[3-9])."""
    now = time.time() if now is None else now
    ids = jobs if jobs is not None else store.job_ids(live_only=not all_tasks)
    rows: list[dict[str, object]] = []
    for job_id in ids:
        row = store.job(job_id)
        if row is None:
            continue
        tasks = store.tasks(job_id)
        rows += _job_rows(row, tasks, all_tasks, now)
    return rows


def _job_rows(row: JobRow, tasks: list[Task], all_tasks: bool, now: float
              ) -> list[dict[str, object]]:
    out = []
    shown = [t for t in tasks if t.state in (State.RUNNING, State.SUSPENDED)
             or (all_tasks and t.state.done)]
    for t in shown:
        out.append(_row(t.label, row, t, now))
    pending = [t for t in tasks if t.state is State.PENDING]
    if pending:
        label = str(row.id)
        if pending[0].index is not None:
            label += f"_[{format_indices([t.index for t in pending if t.index is not None])}]"
        reason = pending[0].reason if pending[0].attempt else (row.reason or "Priority")
        out.append(_row(label, row, pending[0], now, reason))
    return out


def _row(label: str, row: JobRow, task: Task, now: float, reason: str | None = None
         ) -> dict[str, object]:
    """One squeue row; every field squeue's --format codes can show (console.jobs.reports)."""
    from console.jobs.reports import iso
    spec, state = row.spec, task.state
    nodes = format_hostlist(task.nodes)
    used = task.elapsed(now) if state is not State.PENDING else 0
    left = spec.time_limit - used if spec.time_limit else None
    return {"job_id": label, "name": row.name, "user": row.user, "state": state.value,
            "st": state.code, "time": format_time(used), "nodes": len(task.nodes) or
            spec.node_count, "nodelist": f"({reason})" if reason else nodes,
            "nodes_list": nodes, "reason": reason or "None", "exit_code": task.exit_code,
            "array_job_id": row.id, "array_task_id": "N/A" if task.index is None else
            label.partition("_")[2], "time_limit": format_time(spec.time_limit),
            "time_left": format_time(left), "cpus": spec.cpus * spec.total_tasks,
            "partition": "roost", "submit": iso(row.submit),
            "start": iso(task.start) if task.start else "N/A", "end": iso(task.end)
            if task.end else "N/A", "nice": spec.nice, "work_dir": spec.work_dir,
            "command": " ".join([row.name] + list(spec.args))}


def cmd_queue(args: argparse.Namespace, config: Config) -> int:
    from console.jobs.reports import squeue_format, state_names
    if getattr(args, "partitions", False) or getattr(args, "slurm_nodes", False):
        return _fail("queue", "--partitions/--nodes need [jobs] backend = \"slurm\"")
    store = open_store(config)
    try:
        jobs = [int(j) for j in args.jobs.split(",")] if args.jobs else None
        states = state_names(args.states) if getattr(args, "states", None) else set()
        lines = squeue_format(args.format, []) if getattr(args, "format", None) else None
    except SpecError as exc:          # (a ValueError too: first)
        return _fail("queue", str(exc))
    except ValueError:
        return _fail("queue", f"Invalid job id: {args.jobs}")
    finished = any(s.done for s in states)
    rows = queue_rows(store, jobs, args.all or finished)
    rows = _filtered(rows, states, getattr(args, "user", None))
    holder = scheduler_lock(config).holder()
    if holder is None:      # pending jobs wait for a scheduler, not for priority: say so
        rows = [{**r, "nodelist": f"({NO_SCHEDULER})", "reason": NO_SCHEDULER}
                if r["state"] == "PENDING" else r for r in rows]
    if args.json:
        print(json.dumps({"cluster": cluster_name(config), "scheduler_pid": holder,
                          "jobs": rows}, indent=1))
        return 0
    header = not getattr(args, "noheader", False)
    if lines is not None:
        for line in squeue_format(args.format, rows, header):
            print(clean(line))
        return 0
    if header:
        print(f"CLUSTER: {clean(cluster_name(config))}")    # as squeue -M prints it
    print_queue(rows, header)
    return 0


def _filtered(rows: list[dict[str, object]], states: set[State], users: str | None
              ) -> list[dict[str, object]]:
    names = {s.value for s in states}
    who = set(users.split(",")) if users else set()
    return [r for r in rows if (not names or r["state"] in names)
            and (not who or r["user"] in who)]


def print_queue(rows: list[dict[str, object]], header: bool = True) -> None:
    """squeue's table (the Slurm backend prints its rows through this too)."""
    from console.jobs.queue_view import QUEUE_COLUMNS
    head: list[list[object]] = [[h for h, _ in QUEUE_COLUMNS]]
    body = [[r[k] for _, k in QUEUE_COLUMNS] for r in rows]
    if header:
        print_table(head + body, right=(0, 4))
    elif body:                             # the widths the header would have given
        print("\n".join(format_table(head + body, right=(0, 4)).splitlines()[1:]))


# --- job ----------------------------------------------------------------------------------

def cmd_job(args: argparse.Namespace, config: Config) -> int:
    from console.jobs import job_view
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
        print(json.dumps(job_view.as_json(info), indent=1))
        return 0
    print_facts(job_view.facts(info, time.time()))
    rows: list[list[object]] = [["TASK", "STATE", "NODE", "EXIT", "ELAPSED", "ATTEMPT", "OUTPUT"]]
    rows += [[t["task"], t["state"], t["node"] or "-", "-" if t["exit_code"] is None
              else t["exit_code"], t["elapsed"], t["attempt"], t["output"]]
             for t in task_entries(info)]
    print_table(rows, right=(0, 4))
    return 0


def _unscheduled(info: Details) -> Details:
    """Nobody schedules: a pending job's reason says that, not Priority."""
    tasks = [{**t, "reason": NO_SCHEDULER} if t["state"] == "PENDING" else t
             for t in task_entries(info)]
    states = info.get("states")
    pending = isinstance(states, dict) and "PENDING" in states
    return {**info, "reason": NO_SCHEDULER if pending else info["reason"], "tasks": tasks}


# --- cancel / suspend / resume ------------------------------------------------------------

_NOTHING = {"cancel": "Kill job error on job id {}: Job/step already completing or completed",
            "suspend": "Job {} is not running", "resume": "Job {} is not suspended",
            "signal": "Signal job error on job id {}: Job is not running"}


def cmd_request(args: argparse.Namespace, config: Config) -> int:
    cmd, store, status = args.jobs_want, open_store(config), 0
    try:
        want, targets = _request_targets(args, store)
    except SpecError as exc:
        return _fail(cmd, str(exc))
    for text in targets:
        try:
            job_id, indices = parse_target(text)
        except SpecError as exc:
            status = _fail(cmd, str(exc))
            continue
        if store.job(job_id) is None:
            status = _fail(cmd, f"Kill job error on job id {text}: Invalid job id specified"
                           if cmd == "cancel" else f"Invalid job id specified: {text}")
            continue
        if store.request(job_id, indices, want) == 0:
            status = _fail(cmd, _NOTHING.get(want, _NOTHING["signal"]).format(text))
    if store.wants() and scheduler_lock(config).holder() is None:
        import asyncio

        from console.jobs.service import settle_requests
        asyncio.run(settle_requests(config, store, timeout=30.0))
    return status


def _request_targets(args: argparse.Namespace, store: Store) -> tuple[str, list[str]]:
    """(the request, the job ids it is for): the ids given, and with -n the live jobs of that
    name; --signal turns a cancel into "signal:NAME"."""
    want, targets = args.jobs_want, list(args.ids)
    name = getattr(args, "job_name", None)
    if name is not None:
        targets += [str(j) for j in store.job_ids_named(name) if store.has_live(j)]
    if getattr(args, "signal", None):
        want = f"signal:{signal_name(args.signal)}"
    if not targets and name is None:
        raise SpecError("No job identification provided (give ID ... or -n NAME)")
    return want, targets
