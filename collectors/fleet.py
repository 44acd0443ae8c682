"""Run every node: one SSH connection each, one sampler channel on it, Samples and events out.

    fleet = Fleet(targets)
    await fleet.start()
    async for item in fleet.stream():      # Sample or NodeEvent("up"/"down", reason)
        ...
    await fleet.stop()

Per node one task connects (at most max_connect handshakes at a time), starts the sampler
(collectors.probe), decodes its frames and builds a Sample per frame. Any failure (any exception,
not only SSH's: one node never takes the others or its own task down), or no frame for
STALE_INTERVALS intervals, marks the node down with a one-line reason, closes the connection and
retries with exponential backoff and jitter (capped at BACKOFF_CAP s, reset once frames flow).
Every wait is per node, so a dead node never delays the others. Local targets
(NodeTarget.local) are read with collectors.local.sample_local on their interval instead.

The connection is shared: fleet.connection(node) returns it for commands, jobs and SFTP, and
fleet.run_command runs one command on it. Channel budget: sshd allows MaxSessions=10 channels per
connection by default; every channel holds a slot of transport.channel_slot(conn) (8 per
connection: the sampler takes one, commands and jobs share the other 7 and queue beyond that).

Frames are decoded and turned into Samples inside asyncssh's data callback (no task wake-up per
frame); one watchdog task checks every node's deadline. Fleet(lazy=True) hands frames out as
collectors.snapshot.LazySample through items() and parses one only when asked (headless
collection: a frame nobody scrapes or stores is never parsed); stream() always gives Samples.
The stream is a bounded queue: when it is full a node's items wait in order and its channel is
paused (SSH flow control does the rest), so a slow consumer costs no memory (a paused channel
holds at most SAMPLER_WINDOW) and is not mistaken for a stale node, nor is a loop held up by a
loaded machine. stop() ends stream().
"""
from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from collectors import transport
from collectors.frame import Frame, FrameDecoder
from collectors.model import NodeEvent, NodeTarget, Sample
from collectors.probe import sampler_command
from collectors.snapshot import LazySample, Memo, build_sample
from collectors.transport import CommandResult, TransportError

STALE_INTERVALS = 3
PREAMBLE_CAP = 64 * 1024   # bytes a login shell may print before the sampler's first frame
SAMPLER_WINDOW = 64 * 1024   # SSH window of the sampler channel: what a paused node may still
                             # send (asyncssh's 2 MiB default is 2 GB held at 1,000 paused nodes)
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
_STOP: Any = object()
Item = Sample | NodeEvent | LazySample


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
    session: _SamplerSession | None = None
    reported: str | None = None      # last event sent: "up" or the last down reason
    failures: int = 0
    stash: deque[Item] = field(default_factory=deque)  # items waiting for room in the queue
    draining: asyncio.Task[None] | None = None
    retry: asyncio.Event = field(default_factory=asyncio.Event)  # cut a backoff short


class _SamplerSession(asyncssh.SSHClientSession[bytes]):
    """The sampler channel: frames in, Samples out, straight from asyncssh's data callback.

    No task wakes per frame; a fleet-wide watchdog checks `deadline` for stale nodes.
    """

    def __init__(self, fleet: Fleet, state: _NodeState):
        t = state.target
        self.fleet, self.state, self.stale_after = fleet, state, STALE_INTERVALS * t.interval
        self.loop = asyncio.get_running_loop()
        self.decoder = FrameDecoder()
        self.memo = Memo()   # the node's last parses, reused while a file's text is unchanged
        # the first frame carries discovery and static files: allow the connect timeout for it
        self.deadline = self.loop.time() + max(self.stale_after, t.connect_timeout)
        self.done: asyncio.Future[Exception | None] = self.loop.create_future()
        self.chan: asyncssh.SSHClientChannel[bytes] | None = None
        self.stderr, self.stale = "", False
        self.status: int | str | None = None
        self.failure: str | None = None
        self.preamble = 0    # bytes before the first frame header (a .bashrc's banner)
        self.resuming = False      # asyncssh is handing over what it buffered while paused
        self.pause_after = False   # ... and the fleet asked for a pause meanwhile

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self.chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.stderr = (self.stderr + data.decode("utf-8", "replace"))[-500:]
            return
        frames = self.decoder.feed(data)
        if not self.decoder.started and self._banner_too_long(len(data)):
            return
        if frames and self.deadline != math.inf:
            self.deadline = self.loop.time() + self.stale_after
        try:
            for frame in frames:
                self.fleet._deliver(self.state, frame, self.memo)
        except Exception as e:  # a bug or a frame no parser survives: this session ends, loudly
            self.failure = one_line(f"cannot use frame from sampler: {type(e).__name__}: {e}")
            self.finish()

    def _banner_too_long(self, size: int) -> bool:
        # a login shell printing megabytes would hold the collector busy and the node at no data
        self.preamble += size
        if self.preamble <= PREAMBLE_CAP:
            return False
        self.failure = f"login shell prints {self.preamble:,}+ bytes before the sampler (check .bashrc)"
        self.finish()
        return True

    def exit_status_received(self, status: int) -> None:
        self.status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.status = f"signal {signal}"

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish(exc)

    def finish(self, exc: Exception | None = None) -> None:
        if not self.done.done():
            self.done.set_result(exc)

    def pause(self) -> None:
        # a slow consumer is not a stale node
        self.deadline = math.inf
        assert self.chan is not None   # set by connection_made, before any data
        if self.resuming:
            self.pause_after = True
            return
        self.chan.pause_reading()

    def resume(self) -> None:
        """Take everything asyncssh buffered while paused before pausing again. asyncssh grants
        the peer a whole new window on the first packet it delivers after a pause, however much
        it still holds; pausing again mid-way left the rest buffered and a new window coming, so
        a starved collector's buffers grew by up to a window per pause (17 MB in 90 s at 30
        nodes, without bound). Taken whole, a node holds at most its stash and one window."""
        self.deadline = self.loop.time() + self.stale_after
        assert self.chan is not None
        self.resuming, self.pause_after = True, False
        try:
            self.chan.resume_reading()   # delivers what was buffered, at once
        finally:
            self.resuming = False
        if self.pause_after:
            self.chan.pause_reading()


class Fleet:
    def __init__(self, targets: Sequence[NodeTarget], *, max_connect: int = 64,
                 queue_size: int | None = None, sampler_shell: str = "auto", lazy: bool = False):
        self._nodes = {t.name: _NodeState(t) for t in targets}
        self.up: dict[str, bool] = {t.name: False for t in targets}
        self._connect_slots = asyncio.Semaphore(max_connect)
        self._queue: asyncio.Queue[Item] = asyncio.Queue(queue_size or max(256, 4 * len(targets)))
        self._lazy = lazy     # frames leave as LazySamples, parsed when someone asks (items())
        self._shell = sampler_shell
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False

    # ---- public --------------------------------------------------------------------------

    @property
    def targets(self) -> dict[str, NodeTarget]:
        return {name: n.target for name, n in self._nodes.items()}

    async def start(self) -> None:
        for state in self._nodes.values():
            run = self._local_loop if state.target.local else self._node_loop
            self._tasks.append(asyncio.create_task(run(state), name=f"fleet:{state.target.name}"))
        self._tasks.append(asyncio.create_task(self._watchdog(), name="fleet:watchdog"))

    async def stop(self) -> None:
        self._stopped = True
        tasks = self._tasks + [s.draining for s in self._nodes.values() if s.draining]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        for state in self._nodes.values():
            self._drop(state)
            state.stash.clear()
        if self._queue.full():  # make room for the end marker; one sample is lost at shutdown
            self._queue.get_nowait()
        self._queue.put_nowait(_STOP)

    async def stream(self) -> AsyncIterator[Sample | NodeEvent]:
        """Samples (a lazy fleet's parsed here) and events, in each node's order."""
        async for item in self.items():
            yield item.sample() if isinstance(item, LazySample) else item

    async def items(self) -> AsyncIterator[Item]:
        """As stream(), but a lazy fleet's frames stay LazySamples until their sample() call."""
        while True:
            item = await self._queue.get()
            if item is _STOP:
                self._queue.put_nowait(_STOP)  # other readers end too
                return
            yield item

    def ready(self, limit: int) -> list[Item]:
        """Up to limit items already queued, without waiting: a consumer that takes the fleet's
        output in batches spends no task wake-up, future and loop turn per frame (at 1,000
        nodes a second, the per-item await cost as much as decoding the frames)."""
        out: list[Item] = []
        queue = self._queue
        while len(out) < limit and not queue.empty():
            item = queue.get_nowait()      # wakes a paused node's drain waiting for room
            if item is _STOP:
                queue.put_nowait(_STOP)
                break
            out.append(item)
        return out

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
            self._report(state, "down", reason)
            state.failures += 1
            state.retry.clear()
            try:
                await asyncio.wait_for(state.retry.wait(), backoff_delay(state.failures))
            except TimeoutError:
                pass

    def retry_now(self, node: str) -> None:
        """Reconnect a down node at once, forgetting its backoff: it was just powered on."""
        state = self._state(node)
        state.failures = 0
        state.retry.set()

    async def _session(self, state: _NodeState) -> str:
        """Connect, stream until something breaks; returns why it ended (one line)."""
        try:
            async with self._connect_slots:
                state.conn = await transport.connect(state.target)
            async with transport.channel_slot(state.conn):
                return await self._sample(state, state.conn)
        except TransportError as e:
            return one_line(e.message)
        except (asyncssh.Error, OSError) as e:
            return one_line(f"connection lost: {getattr(e, 'reason', None) or e}")
        except Exception as e:  # noqa: BLE001 - any failure is this node's down reason, never a dead task
            return one_line(f"{type(e).__name__}: {e}")

    async def _sample(self, state: _NodeState, conn: asyncssh.SSHClientConnection) -> str:
        session = _SamplerSession(self, state)
        # bytes: frame lengths count bytes (collectors.frame decodes the text)
        await conn.create_session(lambda: session, sampler_command(state.target, shell=self._shell),
                                  encoding=None, window=SAMPLER_WINDOW)
        state.session = session
        try:
            exc = await session.done
        finally:
            state.session = None
        if session.failure:
            return session.failure
        if session.stale:
            return f"no data for {session.stale_after:g} s (stale)"
        if exc is not None:
            return one_line(f"connection lost: {getattr(exc, 'reason', None) or exc}")
        err = f": {session.stderr}" if session.stderr.strip() else ""
        return one_line(f"sampler ended (status {session.status}){err}")

    def _deliver(self, state: _NodeState, frame: Frame, memo: Memo) -> None:
        if state.reported != "up":
            state.failures = 0
            self._report(state, "up", "sampling")
        name, now = state.target.name, time.time()
        if self._lazy:    # the frame's records are walked only if its sample is asked for
            item: Item = LazySample(name, frame, now, seq=frame.seq, node_clock=frame.node_clock,
                                    memo=memo)
        else:
            item = build_sample(name, frame.snapshot, now, seq=frame.seq,
                                node_clock=frame.node_clock, memo=memo)
        self._emit(state, item)

    def _report(self, state: _NodeState, kind: str, reason: str) -> None:
        """Send an event when the state or the down reason changes (retries don't repeat it)."""
        key = "up" if kind == "up" else reason
        if state.reported == key or self._stopped:
            return
        state.reported = key
        self.up[state.target.name] = kind == "up"
        self._emit(state, NodeEvent(state.target.name, time.time(), kind, reason))

    def _emit(self, state: _NodeState, item: Item) -> None:
        """Queue item now, or stash it (in order) and pause the node's channel until room."""
        if not state.stash and not self._queue.full():
            self._queue.put_nowait(item)
            return
        state.stash.append(item)
        if state.draining is None:
            paused = state.session
            if paused is not None:
                paused.pause()
            state.draining = asyncio.get_running_loop().create_task(self._drain(state, paused))

    async def _drain(self, state: _NodeState, paused: _SamplerSession | None) -> None:
        while state.stash:
            await self._queue.put(state.stash.popleft())
        state.draining = None
        if paused is not None and paused is state.session:
            paused.resume()

    async def _watchdog(self) -> None:
        """One timer for the whole fleet: a node with no frame for STALE_INTERVALS is down."""
        intervals = [n.target.interval for n in self._nodes.values()] or [1.0]
        tick = min(1.0, max(0.05, min(intervals) / 2))
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            late, last = now - last - tick, now
            for state in self._nodes.values():
                session = state.session
                if session is None:
                    continue
                if late > tick / 2:     # the loop was held (a loaded machine): not the node's time
                    session.deadline += late
                if now > session.deadline:
                    session.stale = True
                    session.finish()

    def _drop(self, state: _NodeState) -> None:
        if state.conn is not None:
            state.conn.close()
        state.conn = None
        self.up[state.target.name] = False

    async def _local_loop(self, state: _NodeState) -> None:
        """The console's own host, through psutil, on the node's interval."""
        from collectors.local import sample_local
        t = state.target
        next_tick = time.monotonic()
        while True:
            try:
                sample = await asyncio.to_thread(sample_local, t.name)
            except Exception as e:  # noqa: BLE001 - a failed read is a down node, not a dead task
                self._report(state, "down", one_line(f"local read failed: {e}"))
            else:
                self._report(state, "up", "local")
                self._emit(state, sample)
            if state.draining is not None:
                await asyncio.shield(state.draining)
            next_tick = max(next_tick + t.interval, time.monotonic())
            await asyncio.sleep(next_tick - time.monotonic())
