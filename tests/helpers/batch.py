"""The built-in scheduler driven from a test: submit like `roost submit`, step until jobs finish
(shared by the batch and MPI tests against lab sshd nodes)."""
from __future__ import annotations

import asyncio
import dataclasses
import time

from console.jobs.directives import build_spec, parse_submit_argv, wrap_script
from console.jobs.scheduler import Options, Scheduler

FAST = Options(use_load=False, grace=1.0, node_fail_after=5.0, poll_every=0.3, tick=0.02)


def submit(store, *argv, script="#!/bin/sh\ntrue\n", args=(), cwd="/tmp", now=None):
    cli = parse_submit_argv(list(argv))
    if cli.wrap is not None:
        spec = build_spec(cli, wrap_script(cli.wrap), "--wrap", submit_dir=cwd, now=now)
    else:
        spec = build_spec(cli, script, "job.sh", submit_dir=cwd, args=args, now=now)
    return store.submit(spec)


async def until(sched, cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        if sched is not None:
            await sched.step()
        await asyncio.sleep(0.02)


def done(store, job):
    return lambda: all(t.state.done for t in store.tasks(job))


async def scheduler(store, nodes, **kw):
    opts = dataclasses.replace(FAST, **kw)
    sched = Scheduler(store, [n.target() for n in nodes], opts)
    await sched.start()
    return sched


async def run_jobs(store, nodes, *jobs, **kw):
    sched = await scheduler(store, nodes, **kw)
    try:
        for job in jobs:
            await until(sched, done(store, job))
    finally:
        await sched.close()
