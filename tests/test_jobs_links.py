"""The scheduler's links when a node's connection goes away at a bad moment: between a task's
end and the fetch of its output (the task stays RUNNING, its output is fetched after
re-attaching, nothing raises), or before its events feed could start (the feed's channel goes
back to the connection's budget exactly once)."""
from __future__ import annotations

import asyncio
import time

import pytest

from collectors import transport
from collectors.model import NodeTarget
from console.jobs.model import JobSpec, State
from console.jobs.remote import AgentError, Events, NodeInfo
from console.jobs.scheduler import Scheduler
from console.jobs.store import Store


async def test_an_end_seen_after_the_link_dropped_waits_for_reattach(tmp_path):
    store = Store(tmp_path / "jobs.db")
    job = store.submit(JobSpec(script="#!/bin/sh\ntrue\n", name="t",
                               output=str(tmp_path / "t-%j.out")))
    task = store.tasks(job)[0]
    assert store.start(task, "pi-1", time.time())
    task.state, task.node = State.RUNNING, "pi-1"
    sched = Scheduler(store, [NodeTarget("pi-1", "pi-1.lab")])
    link = sched.links["pi-1"]
    # connected once (so what setup learnt is kept), then dropped: no connection, no SFTP
    link.info = NodeInfo(home="/home/pi", cores=4, mem_mb=1024, load1=0.0, events_size=0)
    sched._drop(link)
    r = sched._tracking(task, link)
    sched.running[(job, task.pos)] = r
    assert r.remote_out != r.out        # not on a shared file system: must be fetched

    await sched._finish(link, [(r, 0, None)])

    assert [t.state for t in store.tasks(job)] == [State.RUNNING]
    assert (job, task.pos) in sched.running
    store.close()



async def _free_channels(slot: asyncio.Semaphore) -> int:
    """How many channels the connection's budget still grants (taken, then given back)."""
    taken = 0
    while not slot.locked():
        await slot.acquire()
        taken += 1
    for _ in range(taken):
        slot.release()
    return taken


@pytest.mark.peers
async def test_an_events_feed_that_cannot_start_gives_its_channel_back_once(ssh_lab):
    """The feed's channel is returned when its tail cannot start, and not again when the
    scheduler then drops the link (closing the feed): the budget stays CHANNELS_PER_CONNECTION."""
    node = ssh_lab.start(1)[0]
    try:
        conn = await transport.connect(node.target())
        slot = transport.channel_slot(conn)
        assert await _free_channels(slot) == transport.CHANNELS_PER_CONNECTION
        conn.close()
        await conn.wait_closed()
        feed = Events(node.name, conn, "roost-test", lambda *line: None)
        with pytest.raises(AgentError):
            await feed.start(0)
        feed.close()
        assert await _free_channels(slot) == transport.CHANNELS_PER_CONNECTION
    finally:
        ssh_lab.stop([node])
