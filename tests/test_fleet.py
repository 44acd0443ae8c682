"""collectors.fleet against real OpenSSH nodes from the lab: streaming, faults, shared connection."""
from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from collectors.fleet import BACKOFF_CAP, Fleet, backoff_delay
from collectors.model import NodeEvent, NodeTarget, Sample
from collectors.transport import TransportError

INTERVAL = 0.2


@pytest.fixture(scope="module")
def five(ssh_lab):
    return ssh_lab.start(5)


class Collector:
    """Drains fleet.stream() in the background; tests wait on conditions over what arrived."""

    def __init__(self, fleet: Fleet):
        self.fleet, self.items = fleet, []
        self.task = asyncio.create_task(self._drain())

    async def _drain(self):
        async for item in self.fleet.stream():
            self.items.append(item)

    def samples(self, since: int = 0) -> Counter:
        return Counter(i.node for i in self.items[since:] if isinstance(i, Sample))

    def events(self, node: str, kind: str | None = None) -> list[NodeEvent]:
        return [i for i in self.items if isinstance(i, NodeEvent) and i.node == node
                and kind in (None, i.kind)]

    async def until(self, cond, timeout: float = 10.0) -> float:
        start = time.monotonic()
        while not cond():
            assert time.monotonic() - start < timeout, "condition not reached in time"
            await asyncio.sleep(0.02)
        return time.monotonic() - start

    async def close(self):
        await self.fleet.stop()
        await asyncio.wait_for(self.task, 5)


async def running(targets, **kw) -> Collector:
    fleet = Fleet(targets, **kw)
    await fleet.start()
    return Collector(fleet)


async def test_streams_from_five_nodes(five):
    c = await running([n.target(interval=INTERVAL) for n in five])
    names = {n.name for n in five}
    await c.until(lambda: all(c.samples()[n] >= 3 for n in names))
    await c.close()
    s = next(i for i in c.items if isinstance(i, Sample))
    assert s.cpu_total is not None and s.memory.total > 0 and s.load is not None
    assert s.facts.hostname and abs(s.node_clock - s.ts) < 5
    assert all(c.events(n, "up") for n in names)
    assert not any(c.events(n, "down") for n in names)


async def test_node_killed_mid_stream_then_back(ssh_lab):
    nodes = ssh_lab.start(3)
    victim, others = nodes[0], nodes[1:]
    c = await running([n.target(interval=INTERVAL) for n in nodes])
    await c.until(lambda: all(c.samples()[n.name] >= 2 for n in nodes))
    victim.kill()
    t_kill = time.monotonic()
    await c.until(lambda: c.events(victim.name, "down"), timeout=5)
    assert time.monotonic() - t_kill < 3
    assert not c.fleet.up[victim.name]
    mark = len(c.items)
    await c.until(lambda: all(c.samples(mark)[n.name] >= 5 for n in others))
    assert c.samples(mark)[victim.name] == 0
    victim.restart()
    await c.until(lambda: len(c.events(victim.name, "up")) == 2, timeout=15)
    await c.until(lambda: c.samples(mark)[victim.name] >= 2)
    assert c.fleet.up[victim.name]
    await c.close()
    ssh_lab.stop(nodes)


async def test_stale_sampler_marked_down_and_recovers(ssh_lab):
    node, = ssh_lab.start(1)
    c = await running([node.target(interval=INTERVAL)])
    await c.until(lambda: c.samples()[node.name] >= 2)
    frozen = node.session_pids()
    for pid in frozen:  # the sampler hangs; TCP and sshd stay healthy
        os.kill(pid, signal.SIGSTOP)
    took = await c.until(lambda: c.events(node.name, "down"), timeout=5)
    assert "stale" in c.events(node.name, "down")[0].reason
    assert took < 3 * INTERVAL + 1.5
    await c.until(lambda: len(c.events(node.name, "up")) == 2, timeout=10)  # fresh session
    await c.close()
    for pid in frozen:
        os.kill(pid, signal.SIGKILL)
    ssh_lab.stop([node])


async def test_dead_and_unknown_nodes_do_not_delay_others(five, tmp_path):
    refused = NodeTarget("gone", "127.0.0.1", port=1, connect_timeout=5)
    blackhole = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # never speaks SSH
    silent = NodeTarget("mute", "127.0.0.1", port=blackhole.sockets[0].getsockname()[1],
                        connect_timeout=8)
    strange = five[0].target(name="stranger", known_hosts=(str(tmp_path / "none"),))
    c = await running([refused, silent, strange, five[1].target(interval=INTERVAL)])
    waited = await c.until(lambda: c.samples()[five[1].name] >= 3)
    assert waited < 4  # far less than the mute node's 8 s connect timeout
    await c.until(lambda: c.events("gone") and c.events("stranger"))
    assert "connection refused" in c.events("gone")[0].reason
    assert c.events("stranger")[0].reason.startswith("host key not in known_hosts")
    await c.close()
    blackhole.close()


async def test_shared_connection_and_commands(five):
    c = await running([five[2].target(interval=INTERVAL)])
    await c.until(lambda: c.fleet.up[five[2].name])
    conn = c.fleet.connection(five[2].name)
    assert conn is not None
    results = await asyncio.gather(*(c.fleet.run_command(five[2].name, f"echo {i}", 5)
                                     for i in range(20)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(20)]
    assert c.fleet.connection(five[2].name) is conn  # commands rode the sampler's connection
    before = c.samples()[five[2].name]
    await c.until(lambda: c.samples()[five[2].name] > before)  # and sampling went on
    with pytest.raises(TransportError, match="^nope: no such node"):
        await c.fleet.run_command("nope", "true", 1)
    await c.close()
    with pytest.raises(TransportError, match=rf"^{five[2].name}: not connected$"):
        await c.fleet.run_command(five[2].name, "true", 1)


async def test_stop_leaves_no_remote_processes(five):
    c = await running([n.target(interval=INTERVAL) for n in five])
    await c.until(lambda: all(c.fleet.up.values()))
    assert all(n.session_pids() for n in five)
    await c.close()
    await c.until(lambda: not any(n.session_pids() for n in five), timeout=5)


async def test_sh_fallback_through_fleet(ssh_lab):
    node, = ssh_lab.start(1, no_bash=True)
    c = await running([node.target(interval=INTERVAL)])
    await c.until(lambda: c.samples()[node.name] >= 2)
    await c.close()
    ssh_lab.stop([node])


async def test_local_target():
    pytest.importorskip("psutil")
    c = await running([NodeTarget("me", "localhost", local=True, interval=INTERVAL)])
    await c.until(lambda: c.samples()["me"] >= 2)
    await c.close()
    assert c.events("me", "up")


async def test_slow_consumer_is_not_stale(five):
    fleet = Fleet([five[3].target(interval=0.05)], queue_size=2)
    await fleet.start()
    await asyncio.sleep(0.6)  # nobody reads: the queue fills, the reader waits (not stale)
    items = [item async for item in _take(fleet.stream(), 6)]
    await fleet.stop()
    assert not any(isinstance(i, NodeEvent) and i.kind == "down" for i in items)


async def _take(stream, n):
    async for item in stream:
        yield item
        n -= 1
        if n == 0:
            return


@given(st.integers(1, 100), st.integers(0, 2**32))
def test_backoff_bounded_and_growing(failures, seed):
    delay = backoff_delay(failures, random.Random(seed))
    ceiling = min(BACKOFF_CAP, 0.5 * 2 ** (failures - 1))
    assert ceiling / 2 <= delay <= ceiling <= BACKOFF_CAP


async def test_garbage_files_give_problems_not_a_crash(five):
    """A node whose files are garbage (record separators, binary, nonsense) keeps streaming."""
    root = Path(tempfile.mkdtemp(prefix="roost-garbage-"))
    try:
        (root / "proc" / "net").mkdir(parents=True)
        (root / "sys").mkdir()
        (root / "proc" / "stat").write_bytes(b"cpu x y z\n\x1eF proc/meminfo\nMemTotal: lots\n")
        (root / "proc" / "meminfo").write_bytes(bytes(range(256)))
        (root / "proc" / "loadavg").write_text("1 2\n")
        (root / "proc" / "net" / "dev").write_text("nonsense\n" * 3)
        subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
        target = five[4].target(interval=INTERVAL, procfs=str(root / "proc"), sysfs=str(root / "sys"))
        c = await running([target])
        await c.until(lambda: c.samples()[five[4].name] >= 3)
        await c.close()
        sample = [i for i in c.items if isinstance(i, Sample)][-1]
        assert sample.problems and sample.cpu_total is None
        assert not c.events(five[4].name, "down")
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_retry_now_skips_a_grown_backoff(ssh_lab, monkeypatch):
    """A node that was off long enough for a long backoff reconnects at once when told it is
    back (the console calls retry_now after a successful power-on)."""
    import collectors.fleet as fleet_mod
    monkeypatch.setattr(fleet_mod, "backoff_delay", lambda failures, rng=None: 60.0)
    node = ssh_lab.start(1)[0]
    c = await running([node.target(interval=INTERVAL)])
    await c.until(lambda: c.samples()[node.name] >= 1)
    node.kill()
    await c.until(lambda: c.events(node.name, "down"), timeout=5)
    node.restart()
    await asyncio.sleep(0)        # the node loop is now inside its 60 s backoff
    started = time.monotonic()
    c.fleet.retry_now(node.name)
    await c.until(lambda: len(c.events(node.name, "up")) == 2, timeout=10)
    assert time.monotonic() - started < 10
    with pytest.raises(TransportError):
        c.fleet.retry_now("no-such-node")
    await c.close()
    ssh_lab.stop([node])


def test_ready_takes_at_most_limit_in_order_and_leaves_the_end_marker():
    """Fleet.ready: the batch consumer's take (console.collect) never waits, never takes more
    than asked, keeps each node's order, and leaves the stop marker for items()'s readers."""
    from collectors.fleet import _STOP

    async def go() -> None:
        fleet = Fleet([], queue_size=16)
        events = [NodeEvent(f"n{i}", float(i), "up") for i in range(5)]
        for e in events:
            fleet._queue.put_nowait(e)
        assert fleet.ready(3) == events[:3]
        fleet._queue.put_nowait(_STOP)
        assert fleet.ready(10) == events[3:]
        assert fleet.ready(10) == [] and fleet._queue.get_nowait() is _STOP
    asyncio.run(go())
