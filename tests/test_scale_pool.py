"""collectors.sshpool.SshPool against real sshd nodes: connections on demand, shared by callers
of one node, at most `cap` open (least recently used idle one closed), closed when idle."""
from __future__ import annotations

import asyncio

import pytest

from collectors.sshpool import SshPool
from collectors.transport import TransportError

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def nodes(ssh_lab):
    return {n.name: n for n in ssh_lab.start(3)}


async def test_connections_open_on_demand_and_are_shared(nodes):
    pool = SshPool(lambda n: nodes[n].target() if n in nodes else None, cap=8, idle=60)
    name = sorted(nodes)[0]
    try:
        assert pool.held() == [] and pool.opened == 0          # nothing before it is asked
        results = await asyncio.gather(*(pool.run(name, f"echo {i}", 10) for i in range(6)))
        assert [r.stdout for r in results] == [f"{i}\n" for i in range(6)]
        assert pool.opened == 1 and pool.held() == [name]        # one handshake, shared
    finally:
        await pool.close()
    assert pool.held() == []


async def test_the_cap_closes_the_least_recently_used_idle_connection(nodes):
    a, b, c = sorted(nodes)
    pool = SshPool(lambda n: nodes[n].target(), cap=2, idle=60)
    try:
        await pool.run(a, "true", 10)
        await pool.run(b, "true", 10)
        await pool.run(a, "true", 10)                 # a is now the more recently used
        await pool.run(c, "true", 10)
        assert sorted(pool.held()) == sorted([a, c]) and pool.opened == 3
        # all held connections busy: a third node waits for one to be given back
        async with pool.lease(a), pool.lease(c):
            waiter = asyncio.create_task(pool.run(b, "hostname", 10))
            await asyncio.sleep(0.3)
            assert not waiter.done() and len(pool.held()) == 2
        assert (await waiter).exit_status == 0 and len(pool.held()) == 2
    finally:
        await pool.close()


async def test_idle_connections_close_and_reopen_when_needed(nodes):
    a = sorted(nodes)[0]
    pool = SshPool(lambda n: nodes[n].target(), cap=4, idle=1.0)
    try:
        await pool.run(a, "true", 10)
        assert pool.held() == [a]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while pool.held() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert pool.held() == []
        assert (await pool.run(a, "echo again", 10)).stdout == "again\n" and pool.opened == 2
    finally:
        await pool.close()


async def test_a_dead_node_is_one_error_line_and_a_restarted_one_works_again(nodes):
    a = sorted(nodes)[1]
    pool = SshPool(lambda n: nodes[n].target() if n in nodes else None, cap=4, idle=60)
    try:
        with pytest.raises(TransportError, match="no SSH settings"):
            await pool.run("ghost", "true", 5)
        await pool.run(a, "true", 10)
        nodes[a].kill()
        with pytest.raises((TransportError, OSError, asyncio.TimeoutError)):
            await pool.run(a, "true", 5)
        nodes[a].restart()
        for _ in range(3):      # the dead connection is replaced on a later use
            try:
                assert (await pool.run(a, "echo back", 10)).stdout == "back\n"
                break
            except (TransportError, OSError):
                await asyncio.sleep(0.5)
        else:
            pytest.fail("the pool did not reconnect to a restarted node")
    finally:
        await pool.close()


async def test_a_long_lived_connection_is_held_past_idle_and_cap_until_closed(nodes):
    """pool.connection (the job scheduler's link): never reaped as idle nor closed to make
    room; once its user closes it, its slot is free again."""
    a, b = sorted(nodes)[:2]
    pool = SshPool(lambda n: nodes[n].target(), cap=2, idle=0.5)
    try:
        link = await pool.connection(a)
        await pool.run(b, "true", 10)
        await asyncio.sleep(1.5)                     # three reaper passes past the idle time
        assert pool.held() == [a] and not link.is_closed()   # b reaped, the link kept
        # the cap is full with the link and b: a third lease waits for b, never takes the link
        waiter = asyncio.create_task(pool.run(sorted(nodes)[2], "true", 10))
        async with pool.lease(b):
            await asyncio.sleep(0.3)
            assert not waiter.done() and not link.is_closed()
        assert (await waiter).exit_status == 0 and not link.is_closed()
        link.close()
        await link.wait_closed()
        await pool.run(b, "true", 10)                # the closed link's slot is free again:
        c = sorted(nodes)[2]                         # b opens beside c, evicting nobody
        assert sorted(n for n in pool.held() if n != a) == sorted([b, c])
    finally:
        await pool.close()
