"""One simulated node: a real asyncssh server on 127.0.0.1 with its own port and host key.

An exec request that starts with "# roost-sampler " streams frames of the simulated board (the
same wire format as the real remote sampler); any other exec runs for real as a local subprocess
in the node's own directory, at most <cores> at a time; a shell request gets the user's shell
(on a pty if one was asked for); SFTP is rooted at the node directory.
"""
from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncssh

from collectors.fileset import slow_ticks
from collectors.frame import encode_frame
from console.demo import shell
from console.demo.boards import Profile
from console.demo.layout import build_layout
from console.demo.sim import BoardSim
from console.demo.ticker import Ticker


class Halts(Protocol):
    """What a node's power channel (console.demo.power.DemoPowerChannel) does when the OS
    halts: typed here, not imported (power imports this module)."""

    async def halt(self, reboot: bool) -> None: ...

SAMPLER_MAGIC = "# roost-sampler "
MAX_BACKLOG = 256 * 1024      # bytes queued on a channel before frames are skipped
COUNTERS_EVERY = 5            # frames between the scrape-only counters (console.demo.extras)
HALT_DELAY = 0.2              # seconds between "poweroff" answering and sshd going away
QUIET_KILL = 0.1              # power-off: seconds of scans finding no detached job before done
KILL_FOR = 2.0                # ... and at most this long scanning


@dataclass
class NodeContext:
    """What every node of one fleet shares."""
    ticker: Ticker
    client_keys: asyncssh.SSHAuthorizedKeys
    tag: str                  # marks this fleet's processes (power-off kills them)
    interval: float
    host: str = "127.0.0.1"
    commands: int = 0         # commands started so far (the job scan waits for the first)


class SamplerSession:
    """One sampler channel: the ticker calls fire() once per interval."""
    __slots__ = ("node", "process", "interval", "seq", "alive", "slow_every")

    def __init__(self, node: DemoNode, process: asyncssh.SSHServerProcess, interval: float):
        self.node, self.process, self.interval = node, process, interval
        self.seq, self.alive = 0, True
        self.slow_every = slow_ticks(interval)   # the slow files, as often as the real sampler

    def fire(self, now: float) -> None:
        chan = self.process.channel
        if chan.is_closing():
            self.alive = False
            return
        if not self.node.awake.is_set():
            return  # a hung node writes nothing
        if self.seq and chan.get_write_buffer_size() > MAX_BACKLOG:
            return  # a stalled reader: skip, as a blocked real loop would
        lay, sim = self.node.layout, self.node.sim
        files, remembered = sim.files(now), {}
        if self.seq % COUNTERS_EVERY == self.node.index % COUNTERS_EVERY or self.seq == 0:
            remembered.update(sim.counter_files())
        if self.seq % self.slow_every == 0:
            remembered.update(sim.slow_files(now))
        if self.seq == 0:
            frame = encode_frame(0, now, files, static={**lay.static, **remembered}, links=lay.links)
        else:
            frame = encode_frame(self.seq, now, files, static=remembered)
        self.seq += 1
        try:
            chan.write(frame)   # straight to the channel: no stream layers per frame
        except (OSError, asyncssh.Error):
            self.alive = False


class _SFTPServer(asyncssh.SFTPServer):
    """SFTP rooted at the node dir that reports exit status 0 when the session ends, as
    sftp-server does (OpenSSH's scp, in SFTP mode, counts a missing status as failure)."""

    def exit(self) -> None:
        super().exit()
        try:
            self.channel.exit(0)
        except (OSError, asyncssh.Error):
            pass


class _Server(asyncssh.SSHServer):
    def __init__(self, node: DemoNode):
        self.node = node
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.node.conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.node.conns.discard(self.conn)


class DemoNode:
    def __init__(self, ctx: NodeContext, index: int, name: str, profile: Profile,
                 host_key: asyncssh.SSHKey, directory: Path, seed: int, ambient: float):
        self.ctx, self.index, self.name, self.profile = ctx, index, name, profile
        self.host_key, self.dir, self.port = host_key, directory, 0
        self.layout = build_layout(profile, name)
        self.sim = BoardSim(self.layout, random.Random(seed), ambient, time.time())
        self.conns: set[asyncssh.SSHServerConnection] = set()
        self.sessions: set[SamplerSession] = set()
        self.procs: set[asyncio.subprocess.Process] = set()
        self.slots = asyncio.Semaphore(profile.cores)
        self.awake = asyncio.Event()   # cleared while the node hangs
        self.awake.set()
        self.groups: tuple[str, ...] = (profile.name,)
        self.state = "off"     # on | off | booting | halted | dropped
        self.power: Halts | None = None      # its DemoPowerChannel, set by the fleet
        self.started = 0       # successful listens (tests wait on it)
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._sock: socket.socket | None = None
        self._options: asyncssh.SSHServerConnectionOptions | None = None

    @property
    def cores(self) -> int:
        return self.profile.cores

    # -- listener -------------------------------------------------------------------------------
    def bind(self) -> None:
        """Bind and listen on the node's port (a free one the first time, the same after)."""
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.ctx.host, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock, self.port = sock, sock.getsockname()[1]

    def unbind(self) -> None:
        if self._sock is not None and self._acceptor is None:
            self._sock.close()
        self._sock = None

    async def listen(self) -> None:
        """Serve SSH on the node's port; connects queued in the backlog are answered now."""
        if self._acceptor is not None:
            return
        self.bind()
        self._acceptor = await asyncssh.listen(sock=self._sock, options=self._server_options())
        self.state, self.started = "on", self.started + 1

    async def close_port(self) -> None:
        """Refuse new connections; live ones stay."""
        acceptor, self._acceptor, self._sock = self._acceptor, None, None
        if acceptor is not None:
            acceptor.close()
            await acceptor.wait_closed()

    def _server_options(self) -> asyncssh.SSHServerConnectionOptions:
        if self._options is None:
            self._options = asyncssh.SSHServerConnectionOptions(
                server_host_keys=[self.host_key], authorized_client_keys=self.ctx.client_keys,
                server_factory=lambda: _Server(self), process_factory=self._process,
                sftp_factory=lambda chan: _SFTPServer(chan, chroot=str(self.dir).encode()),
                allow_scp=True, encoding=None, x11_forwarding=False, agent_forwarding=False)
        return self._options

    async def unlisten(self, kill: bool, keep_conns: bool = False) -> None:
        """Close the port and every live connection (unless keep_conns: a hang); kill=True
        also kills this node's work."""
        await self.close_port()
        if not keep_conns:
            for conn in list(self.conns):
                conn.abort()
            self.conns.clear()
            for session in self.sessions:
                session.alive = False
            self.sessions.clear()
            self.resume()  # requests parked by a hang see their closed channels and end
        if kill:
            await self._kill_work()

    def hang(self) -> None:
        """Go silent: sampler frames stop and new channels wait, but TCP stays up."""
        self.awake.clear()

    def resume(self) -> None:
        self.awake.set()

    async def _kill_work(self) -> None:
        for proc in list(self.procs):
            killpg(proc.pid)
        # Detached jobs (nohup/setsid) left the group: find them by the fleet tag in environ,
        # until no scan has found one for QUIET_KILL seconds: a shell may fork between the scan
        # and the kill, and a process in the middle of exec has no environ to read for a moment
        # (setsid exec'ing sleep under load outlived a scan that ended at the first empty pass)
        if self.ctx.commands:
            loop = asyncio.get_running_loop()
            end, quiet_since = loop.time() + KILL_FOR, loop.time()
            while loop.time() < end and loop.time() - quiet_since < QUIET_KILL:
                if kill_tagged(f"{self.ctx.tag}:{self.name}\0"):
                    quiet_since = loop.time()
                await asyncio.sleep(0.01)

    # -- sessions -------------------------------------------------------------------------------
    async def _process(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command
        await self.awake.wait()  # a hung node answers nothing new
        if process.channel.is_closing():
            return
        try:
            if command and command.startswith(SAMPLER_MAGIC):
                await self._sample(process, command)
            elif command and (action := shell.os_power_action(command)):
                process.exit(0)   # the OS goes down a moment after it said yes
                asyncio.get_running_loop().call_later(
                    HALT_DELAY, lambda: self._halt(action == "reboot"))
            elif command:
                process.exit(await self._run(process, command))
            else:
                process.exit(await shell.run_shell(self, process))
        except (asyncssh.Error, OSError):
            process.close()
        # Let asyncssh finish its own redirect clean-up before the task ends.
        await process.wait_closed()

    def _halt(self, reboot: bool) -> None:
        if self.power is not None:   # the fleet gives each node its channel when it starts
            asyncio.ensure_future(self.power.halt(reboot))

    async def _sample(self, process: asyncssh.SSHServerProcess, command: str) -> None:
        session = SamplerSession(self, process, _interval(command, self.ctx.interval))
        self.sessions.add(session)
        session.fire(time.time())   # the real sampler writes its first frame at once
        self.ctx.ticker.add(session, session.interval)
        try:
            await process.wait_closed()
        finally:
            session.alive = False
            self.sessions.discard(session)

    async def _run(self, process: asyncssh.SSHServerProcess, command: str) -> int:
        self.ctx.commands += 1
        async with self.slots:
            return await shell.run_command(self, process, command)

    def env(self) -> dict[str, str]:
        return {**os.environ, "ROOST_DEMO_NODE": self.name, "HOME": str(self.dir),
                "PWD": str(self.dir), "OMP_NUM_THREADS": str(self.cores),
                "ROOST_DEMO_TAG": f"{self.ctx.tag}:{self.name}"}


def _interval(command: str, default: float) -> float:
    """interval=<float> from the sampler's header line; the fleet's own otherwise."""
    for word in command.split("\n", 1)[0].split():
        if word.startswith("interval="):
            try:
                return max(0.05, float(word[9:]))
            except ValueError:
                break
    return default


def kill_tagged(tag: str) -> int:
    """SIGKILL every process whose ROOST_DEMO_TAG starts with tag (one /proc pass); returns
    how many were signalled (a zombie has no environ left, so it is not counted)."""
    count = 0
    for pid in shell.tagged_pids(tag):
        killpg(pid, group=False)
        count += 1
    return count


def killpg(pid: int, group: bool = True) -> None:
    try:
        if group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
