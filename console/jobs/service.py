"""Glue for holders of the scheduler: the console, `roost serve`, and CLI clients that find
nobody scheduling (`submit --wait`, cancel/suspend/resume of running tasks)."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from console.jobs.lock import SchedulerLock
from console.jobs.scheduler import Options, Scheduler, fleet_connect
from console.jobs.store import Store


def jobs_db(state_dir: Path) -> Path:
    return Path(state_dir) / "jobs.db"


def open_store(state_dir: Path) -> Store:
    Path(state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    return Store(jobs_db(state_dir))


async def run_scheduler(config, stop: asyncio.Event, *, until_job: int | None = None,
                        store: Store | None = None, fleet=None) -> bool:
    """Hold the lock and schedule until stop (or until_job ends); False if another holds it.
    With a running collectors.fleet.Fleet, jobs use its connections instead of opening more."""
    lock = SchedulerLock(config.state_dir)
    Path(config.state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    if not lock.acquire():
        return False
    try:
        store = store or open_store(config.state_dir)
        targets = [t for t in config.targets() if not t.local]
        connect = {} if fleet is None else {"connect": fleet_connect(fleet),
                                                "shared_connections": True}
        sched = Scheduler(store, targets, Options.from_config(config.jobs), **connect)
        await sched.start()
        try:
            await sched.run(stop, until_job=until_job)
        finally:
            await sched.close()
        return True
    finally:
        lock.release()


async def settle_requests(config, store: Store, timeout: float) -> bool:
    """Nobody schedules: act on pending client requests ourselves (signals need the nodes).
    True when no request is left (cancelled tasks have ended)."""
    lock = SchedulerLock(config.state_dir)
    if not lock.acquire():
        return False   # a holder appeared: it will act on the requests
    try:
        nodes = {t.node for t in store.wants()}
        targets = [t for t in config.targets() if t.name in nodes]
        options = dataclasses.replace(Options.from_config(config.jobs), partial=True)
        sched = Scheduler(store, targets, options)
        await sched.start()
        sched._version = None     # force a look at the requests
        deadline = time.monotonic() + timeout
        try:
            while store.wants() and time.monotonic() < deadline:
                await sched.step()
                await asyncio.sleep(0.05)
            while _killing(sched) and time.monotonic() < deadline:
                await sched.step()
                await asyncio.sleep(0.05)
        finally:
            await sched.close()
        return not store.wants()
    finally:
        lock.release()


def _killing(sched: Scheduler) -> bool:
    return any(r.task.kill_reason for r in sched.running.values())
