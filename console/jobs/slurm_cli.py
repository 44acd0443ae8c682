"""`roost submit / queue / job / cancel / suspend / resume` when [jobs] backend = "slurm": the
same flags as the built-in queue, carried out by sbatch/squeue/scontrol/scancel/sinfo on the
controller (console.jobs.slurm). Slurm validates the job: its error is printed as one line.
"""
from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from console.jobs.directives import OPTIONS
from console.jobs.model import State
from console.jobs.queue_view import QUEUE_COLUMNS
from console.jobs.slurm import SlurmBackend, SlurmConfigError, SlurmError
from console.jobs.slurm_parse import ParseError
from console.tables import error as _fail, print_facts, print_table

if TYPE_CHECKING:
    from console.config import Config


def _run(cmd: str, config: Config, work: Callable[[SlurmBackend], Awaitable[int]]) -> int:
    """Run work(backend) -> exit status; any SlurmError/ParseError is one line, exit 1."""
    async def go() -> int:
        async with SlurmBackend.from_config(config) as backend:
            return await work(backend)
    try:
        return asyncio.run(go())
    except SlurmConfigError as exc:
        return _fail(cmd, str(exc), 2)
    except (SlurmError, ParseError) as exc:
        return _fail(cmd, str(exc))


def args_flags(args: argparse.Namespace) -> list[str]:
    """The sbatch flags the user gave, as sbatch spells them (Slurm parses the values)."""
    flags = []
    for names, dest, extra in OPTIONS:
        value = getattr(args, dest, None)
        if value is None:
            continue
        if "const" in extra:
            if value == extra["const"]:
                flags.append(names[-1])
            continue
        flags.append(f"{names[-1]}={value}")
    if getattr(args, "partition", None):
        flags.append(f"--partition={args.partition}")
    return flags


def _script(args: argparse.Namespace) -> str | None:
    if getattr(args, "script_args", None):   # the script goes to sbatch on stdin: no $1 $2
        raise SlurmError("script arguments need the built-in queue (Slurm's sbatch gets the "
                         "script on stdin here); pass values with --export=ALL,NAME=value")
    if args.wrap is not None:
        if args.script:
            raise SlurmError("script arguments not permitted with --wrap option")
        return None
    if not args.script:
        raise SlurmError("Batch script is empty! (give a script or --wrap CMD)")
    try:
        with open(args.script, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise SlurmError(f"Unable to open file {args.script}: {exc.strerror}") from None


def cmd_submit(args: argparse.Namespace, config: Config) -> int:
    try:
        script = _script(args)
    except SlurmError as exc:
        return _fail("submit", str(exc))
    flags = args_flags(args)

    def show(job_id: int) -> None:
        print(job_id if args.parsable else f"Submitted batch job {job_id}", flush=True)

    async def work(backend: SlurmBackend) -> int:
        if args.wait:
            job, code = await backend.submit_wait(script, flags, wrap=args.wrap, on_id=show)
            return code or await _unfinished(backend, job)
        show(await backend.submit(script, flags, wrap=args.wrap))
        return 0
    return _run("submit", config, work)


async def _unfinished(backend: SlurmBackend, job: int) -> int:
    """sbatch --wait exits 0 for a job cancelled before it ran; roost says 1, as for the
    built-in queue, when any task did not complete."""
    try:
        rows = await backend.queue([str(job)], all_states=True, expand=True)
    except SlurmError:
        return 0      # already purged from slurmctld (MinJobAge): nothing says otherwise
    return 0 if all(r.state is State.COMPLETED for r in rows) else 1


def cmd_queue(args: argparse.Namespace, config: Config) -> int:
    if getattr(args, "partitions", False) or getattr(args, "slurm_nodes", False):
        return _sinfo(args, config)
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()] if args.jobs else []

    async def work(backend: SlurmBackend) -> int:
        rows = [r.as_dict() for r in await backend.queue(jobs, all_states=args.all)]
        if args.json:
            print(json.dumps({"backend": "slurm", "controller": backend.name, "jobs": rows},
                             indent=1))
        else:
            print_table([[h for h, _ in QUEUE_COLUMNS]] + [[r[k] for _, k in QUEUE_COLUMNS]
                                                          for r in rows], right=(0, 4))
        return 0
    return _run("queue", config, work)


def _sinfo(args: argparse.Namespace, config: Config) -> int:
    async def work(backend: SlurmBackend) -> int:
        if args.partitions:
            head = ["PARTITION", "AVAIL", "TIMELIMIT", "NODES", "A/I/O", "NODELIST"]
            rows = [[p.name + ("*" if p.default else ""), p.available, p.time_limit,
                     str(p.nodes), f"{p.allocated}/{p.idle}/{p.other}", p.nodelist]
                    for p in await backend.partitions()]
        else:
            head = ["NODE", "PARTITIONS", "STATE", "CPUS", "ALLOC", "MEMORY", "REASON"]
            rows = [[n.name, ",".join(n.partitions), n.state, str(n.cpus), str(n.cpus_alloc),
                     str(n.memory_mb), n.reason] for n in await backend.nodes()]
        if args.json:
            print(json.dumps([dict(zip(head, r)) for r in rows], indent=1))
        else:
            print_table([head] + rows)
        return 0
    return _run("queue", config, work)


def cmd_job(args: argparse.Namespace, config: Config) -> int:
    async def work(backend: SlurmBackend) -> int:
        records = await backend.job(args.job_id)
        if args.json:
            print(json.dumps(records, indent=1))
            return 0
        for i, record in enumerate(records):
            if i:
                print()
            print_facts(record.items(), width=18)
        return 0
    return _run("job", config, work)


def cmd_request(args: argparse.Namespace, config: Config) -> int:
    want = args.jobs_want

    async def work(backend: SlurmBackend) -> int:
        errors = await getattr(backend, want)(args.ids)
        for line in errors:
            _fail(want, line)
        return 1 if errors else 0
    return _run(want, config, work)


HANDLERS = {"submit": cmd_submit, "queue": cmd_queue, "job": cmd_job, "cancel": cmd_request,
            "suspend": cmd_request, "resume": cmd_request}
