"""`roost submit / queue / job / cancel / suspend / resume` when [jobs] backend = "ray": the
same flags as the built-in queue, carried out on Ray's Job API (console.ray.jobs). Errors are
one line, "roost submit: error: ...", exit 1 (config problems exit 2).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from console.config import ConfigError
from console.jobs.queue_view import QUEUE_COLUMNS
from console.jobs.spec import SpecError
from console.ray.client import RayError
from console.ray.jobs import NOT_SUPPORTED, RayJobs
from console.tables import clean, error, print_facts, print_table


def _fail(cmd: str, message: str, code: int = 1) -> int:
    return error(cmd, message, code)


def _run(cmd: str, config, work) -> int:
    """work(jobs) -> exit status; every RayError is one line, exit 1."""
    async def go() -> int:
        async with RayJobs.from_config(config) as jobs:
            return await work(jobs)
    try:
        return asyncio.run(go())
    except ConfigError as exc:
        return _fail(cmd, str(exc), 2)
    except RayError as exc:
        return _fail(cmd, str(exc))


def cmd_submit(args: argparse.Namespace, config) -> int:
    from console.jobs.directives import spec_from_args
    try:
        spec = spec_from_args(args, args.script, args.wrap)
    except SpecError as exc:
        return _fail("submit", str(exc))
    if getattr(args, "partition", None):
        return _fail("submit", "--partition: Ray has no partitions (use --nodelist)")
    from console.ray.jobs import warnings
    for line in warnings(spec):
        print(f"roost submit: warning: {line}", file=sys.stderr)

    async def work(jobs: RayJobs) -> int:
        number = await jobs.submit(spec, args.wrap, config.names)
        print(number if args.parsable else f"Submitted batch job {number}", flush=True)
        if not args.wait:
            return 0
        job = await jobs.wait(number)
        return job.exit_code if job.exit_code is not None else (0 if job.state.value ==
                                                                 "COMPLETED" else 1)
    return _run("submit", config, work)


def cmd_queue(args: argparse.Namespace, config) -> int:
    if getattr(args, "partitions", False) or getattr(args, "slurm_nodes", False):
        return _fail("queue", "--partitions/--nodes need [jobs] backend = \"slurm\" "
                     "(for Ray's nodes: roost ray status)")
    ids = [j.strip() for j in args.jobs.split(",") if j.strip()] if args.jobs else []

    async def work(jobs: RayJobs) -> int:
        rows = await jobs.rows(ids, args.all)
        if args.json:
            print(json.dumps({"backend": "ray", "head": jobs.client.head, "jobs": rows},
                             indent=1))
        else:
            print_table([[h for h, _ in QUEUE_COLUMNS]] +
                        [[str(r[k]) for _, k in QUEUE_COLUMNS] for r in rows], right=(0, 4))
        return 0
    return _run("queue", config, work)


def cmd_job(args: argparse.Namespace, config) -> int:
    async def work(jobs: RayJobs) -> int:
        info, log = await jobs.details(args.job_id.split("_", 1)[0])
        if args.json:
            print(json.dumps({**info, "log_tail": log}, indent=1))
            return 0
        print_facts((k, v) for k, v in info.items() if v not in (None, ""))
        if log:
            print(f"{'log':>14}: (the driver's last lines)")
            sys.stdout.write("".join(f"  {clean(line)}\n" for line in log.splitlines()))
        return 0
    return _run("job", config, work)


def cmd_request(args: argparse.Namespace, config) -> int:
    want = args.jobs_want
    if want != "cancel":
        return _fail(want, f"{want}: {NOT_SUPPORTED}")

    async def work(jobs: RayJobs) -> int:
        status = 0
        for label in args.ids:
            try:
                problem = await jobs.cancel(label.split("_", 1)[0])
            except RayError as exc:
                problem = str(exc)
            if problem:
                status = _fail("cancel", problem)
        return status
    return _run("cancel", config, work)


HANDLERS = {"submit": cmd_submit, "queue": cmd_queue, "job": cmd_job, "cancel": cmd_request,
            "suspend": cmd_request, "resume": cmd_request}
