"""Run every node: one SSH connection each, one sampler channel on it, Samples and events out.

    fleet = Fleet(targets)
    await fleet.start()
    async for item in fleet.stream():      # Sample or NodeEvent("up"/"down", reason)
        ...
    await fleet.stop()

Per node one task connects (at most max_connect handshakes at a time), starts the sampler
(collectors.probe), decodes its frames and builds a Sample per frame. Any failure, or no frame for
STALE_INTERVALS intervals, marks the node down with a one-line reason, closes the connection and
retries with exponential backoff and jitter (capped at BACKOFF_CAP s, reset once frames flow).
Every wait is per node, so a dead node never delays the others. Local targets
(NodeTarget.local) are read with collectors.local.sample_local on their interval instead.

The connection is shared: fleet.connection(node) returns it for commands, jobs and SFTP, and
fleet.run_command runs one command on it. Channel budget: sshd allows MaxSessions=10 channels per
connection by default; every channel holds a slot of transport.channel_slot(conn) (8 per
connection: the sampler takes one, commands and jobs share the other 7 and queue beyond that).

The stream is a bounded queue: a slow consumer slows the readers (SSH flow control does the
rest) instead of growing memory. stop() ends stream().
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import AsyncIterator, Sequence

import asyncssh

from collectors import transport
from collectors.frame import FrameDecoder
from collectors.model import NodeEvent, NodeTarget, Sample
from collectors.probe import sampler_command
from collectors.transport import CommandResult, TransportError

STALE_INTERVALS = 3
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
READ_CHUNK = 1 << 16
_STOP = object()


def backoff_delay(failures: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after `failures` consecutive failures: exponential, capped, jittered."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(failures - 1, 16))
    return (rng or random).uniform(ceiling / 2, ceiling)


def one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


@dataclass(slots=True)
class _NodeState:
    target: NodeTarget
    conn: asyncssh.SSHClientConnection | None = None
    reported: str | None = None      # last event sent: "up" or the last down reason
    failures: int = 0


class Fleet:
    def __init__(self, targets: Sequence[NodeTarget], *, max_connect: int = 64,
                 queue_size: int | None = None, sampler_shell: str = "auto"):
        self._nodes = {t.name: _NodeState(t) for t in targets}
        self.up: dict[str, bool] = {t.name: False for t in targets}
        self._connect_slots = asyncio.Semaphore(max_connect)
        self._queue: asyncio.Queue = asyncio.Queue(queue_size or max(256, 4 * len(targets)))
        self._shell = sampler_shell
        self._tasks: list[asyncio.Task] = []
        self._stopped = False

    # ---- public --------------------------------------------------------------------------

    @property
    def targets(self) -> dict[str, NodeTarget]:
        return {name: n.target for name, n in self._nodes.items()}

    async def start(self) -> None:
        for state in self._nodes.values():
            run = self._local_loop if state.target.local else self._node_loop
            self._tasks.append(asyncio.create_task(run(state), name=f"fleet:{state.target.name}"))

    async def stop(self) -> None:
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for state in self._nodes.values():
            self._drop(state)
        if self._queue.full():  # make room for the end marker; one sample is lost at shutdown
            self._queue.get_nowait()
        self._queue.put_nowait(_STOP)

    async def stream(self) -> AsyncIterator[Sample | NodeEvent]:
        while True:
            item = await self._queue.get()
            if item is _STOP:
                self._queue.put_nowait(_STOP)  # other readers end too
                return
            yield item

    def connection(self, node: str) -> asyncssh.SSHClientConnection | None:
        """The node's live connection (shared with the sampler), or None while it is down."""
        return self._state(node).conn

    async def run_command(self, node: str, command: str, timeout: float) -> CommandResult:
        conn = self.connection(node)
        if conn is None:
            raise TransportError(node, "not connected")
        return await transport.run(conn, command, timeout, node=node)

    # ---- per node ------------------------------------------------------------------------

    def _state(self, node: str) -> _NodeState:
        try:
            return self._nodes[node]
        except KeyError:
            raise TransportError(node, "no such node in this fleet") from None

    async def _node_loop(self, state: _NodeState) -> None:
        while True:
            reason = await self._session(state)
            self._drop(state)
            await self._report(state, "down", reason)
            state.failures += 1
            await asyncio.sleep(backoff_delay(state.failures))

    async def _session(self, state: _NodeState) -> str:
        """Connect, stream until something breaks; returns why it ended (one line)."""
        t = state.target
        try:
            async with self._connect_slots:
                state.conn = await transport.connect(t)
            async with transport.channel_slot(state.conn):
                return await self._sample(state, state.conn)
        except TransportError as e:
            return one_line(e.message)
        except TimeoutError:
            return f"no data for {STALE_INTERVALS * t.interval:g} s (stale)"
        except (asyncssh.Error, OSError) as e:
            return one_line(f"connection lost: {getattr(e, 'reason', None) or e}")

    async def _sample(self, state: _NodeState, conn: asyncssh.SSHClientConnection) -> str:
        t = state.target
        proc = await conn.create_process(sampler_command(t, shell=self._shell),
                                         encoding="utf-8", errors="replace")
        decoder = FrameDecoder()
        loop = asyncio.get_running_loop()
        # the first frame carries discovery and static files: allow the connect timeout for it
        async with asyncio.timeout(max(STALE_INTERVALS * t.interval, t.connect_timeout)) as deadline:
            while chunk := await proc.stdout.read(READ_CHUNK):
                if frames := decoder.feed(chunk):
                    deadline.reschedule(None)  # a slow consumer is not a stale node
                    for frame in frames:
                        await self._frame(state, frame)
                    deadline.reschedule(loop.time() + STALE_INTERVALS * t.interval)
        return await self._ended(proc)

    async def _frame(self, state: _NodeState, frame) -> None:
        from collectors.snapshot import build_sample
        if state.reported != "up":
            state.failures = 0
            await self._report(state, "up", "sampling")
        sample = build_sample(state.target.name, frame.snapshot, time.time(), seq=frame.seq,
                              node_clock=frame.node_clock)
        await self._queue.put(sample)

    async def _ended(self, proc) -> str:
        err = ""
        try:
            async with asyncio.timeout(1):
                err = await proc.stderr.read()
                await proc.wait()
        except (TimeoutError, asyncssh.Error, OSError):
            pass
        status = proc.exit_status if proc.exit_status is not None else proc.exit_signal
        return one_line(f"sampler ended (status {status}){': ' + err if err.strip() else ''}")

    def _drop(self, state: _NodeState) -> None:
        if state.conn is not None:
            state.conn.close()
        state.conn = None
        self.up[state.target.name] = False

    async def _report(self, state: _NodeState, kind: str, reason: str) -> None:
        """Send an event when the state or the down reason changes (retries don't repeat it)."""
        key = "up" if kind == "up" else reason
        if state.reported == key or self._stopped:
            return
        state.reported = key
        self.up[state.target.name] = kind == "up"
        await self._queue.put(NodeEvent(state.target.name, time.time(), kind, reason))

    async def _local_loop(self, state: _NodeState) -> None:
        """The console's own host, through psutil, on the node's interval."""
        from collectors.local import sample_local
        t = state.target
        next_tick = time.monotonic()
        while True:
            try:
                sample = await asyncio.to_thread(sample_local, t.name)
            except OSError as e:
                await self._report(state, "down", one_line(f"local read failed: {e}"))
            else:
                await self._report(state, "up", "local")
                await self._queue.put(sample)
            next_tick = max(next_tick + t.interval, time.monotonic())
            await asyncio.sleep(next_tick - time.monotonic())
