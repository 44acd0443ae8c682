"""The simulated fleet: N real SSH servers in this process, one ticker, keys and known_hosts.

start()/stop() run in whatever event loop awaits them (the TUI's, a test's, or a thread's).
roost reaches the nodes only through its normal path: targets() are plain NodeTargets with the
demo's client key and known_hosts, verified strictly like any other fleet.
"""
from __future__ import annotations

import asyncio
import getpass
import os
import random
import resource
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from collectors.model import NodeTarget
from console.demo import control, shell
from console.demo.boards import fleet_profiles
from console.demo.node import DemoNode, NodeContext, kill_tagged, killpg
from console.demo.power import DemoPowerChannel
from console.demo.ticker import Ticker

HOST = "127.0.0.1"
RACK = 10                      # nodes per simulated rack (a group, and a shared ambient)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    board: str
    title: str
    cores: int
    groups: tuple[str, ...]


class DemoFleet:
    def __init__(self, nodes: int, profile: str = "mixed", seed: int = 0, steady: bool = False,
                 state_dir: Path | None = None, boot_delay: float = 3.0, interval: float = 1.0,
                 drop_every: float = 60.0, drop_for: tuple[float, float] = (5.0, 20.0)):
        if nodes < 1:
            raise ValueError(f"demo fleet needs at least one node, got {nodes}")
        if interval <= 0 or boot_delay < 0:
            raise ValueError("demo interval must be > 0 and boot delay >= 0")
        self.profiles = fleet_profiles(nodes, profile)   # raises on an unknown profile name
        self.seed, self.steady, self.interval = seed, steady, interval
        self.boot_delay, self.drop_every, self.drop_for = boot_delay, drop_every, drop_for
        self._own_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir else None
        self._nodes: list[DemoNode] = []
        self._power: dict[str, DemoPowerChannel] = {}
        self._ticker = Ticker(slot=min(0.05, interval / 4))
        self._chaos: asyncio.Task | None = None
        self._control: asyncio.AbstractServer | None = None
        self._jobs: asyncio.Task | None = None
        self._ctx: NodeContext | None = None
        self.drops = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Everything that needs no event loop: keys, node dirs, bound listening sockets,
        known_hosts. After it, targets() are final, so a caller can hand them to a loop that
        starts later (connects that arrive early wait in the sockets' backlog)."""
        if self._nodes:
            return
        _raise_fd_limit(len(self.profiles) * 4 + 256)
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="roost-demo-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if control.in_use(self.control_socket):
            raise ValueError(f"another roost demo is running with state dir {self.state_dir} "
                             "(stop it, or give this one its own --state-dir)")
        self._ctx = NodeContext(self._ticker, asyncssh.read_authorized_keys(
            str(self._client_key())), uuid.uuid4().hex[:12], self.interval, HOST)
        nodes = self._build_nodes(self._ctx)
        try:
            for n in nodes:
                n.bind()
        except OSError:
            for n in nodes:
                n.unbind()
            raise
        self._nodes = nodes
        self._write_known_hosts()

    async def start(self) -> None:
        """prepare() if not done, then serve every node in the running loop."""
        self.prepare()
        self._ticker.start()
        await asyncio.gather(*(n.listen() for n in self._nodes))
        self._power = {n.name: DemoPowerChannel(n, self.boot_delay) for n in self._nodes}
        for n in self._nodes:
            n.power = self._power[n.name]
        self._control = await control.serve(self, self.control_socket)
        loop = asyncio.get_running_loop()
        if not self.steady and self.drop_every > 0:
            self._chaos = loop.create_task(self._drop_offs())
        assert self._ctx is not None   # prepare() made it
        self._jobs = loop.create_task(self._count_jobs(self._ctx))

    async def stop(self) -> None:
        await self.quiesce()
        await asyncio.gather(*(n.unlisten(kill=False) for n in self._nodes))
        self.cleanup()

    async def quiesce(self) -> None:
        """Stop frames, drop-offs and new connections, but leave live connections for their
        clients to close (a roost in the same loop shuts down without seeing nodes die)."""
        for task in (self._chaos, self._jobs):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._chaos = self._jobs = None
        if self._control is not None:
            self._control.close()
            self._control = None
        for power in self._power.values():
            power.cancel()
        self._ticker.stop()
        await asyncio.gather(*(n.close_port() for n in self._nodes))

    def cleanup(self) -> None:
        """Loop-free clean-up: kill the fleet's jobs, close sockets, drop a temporary dir."""
        for n in self._nodes:
            n.unbind()
            for proc in list(n.procs):
                killpg(proc.pid)
        ctx = self._ctx
        if self._nodes and ctx is not None and ctx.commands:
            kill_tagged(f"{ctx.tag}:")   # one /proc pass for the whole fleet
        if self.state_dir is not None:
            self.control_socket.unlink(missing_ok=True)
        if self._own_dir and self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    async def __aenter__(self) -> DemoFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        """The state dir (prepare() makes one when none was given)."""
        assert self.state_dir is not None, "prepare() makes the state dir first"
        return self.state_dir

    def _client_key(self) -> Path:
        """The demo's client key (kept across runs in a given state dir); returns the .pub."""
        key = self.dir / "id_ed25519"
        if not key.exists():
            private = asyncssh.generate_private_key("ssh-ed25519", comment="roost-demo")
            private.write_private_key(str(key))
            private.write_public_key(str(key) + ".pub")
            key.chmod(0o600)
        return Path(str(key) + ".pub")

    def _build_nodes(self, ctx: NodeContext) -> list[DemoNode]:
        rng = random.Random(self.seed)
        counts: dict[str, int] = {}
        width = max(2, len(str(len(self.profiles))))
        racks = [rng.uniform(20.0, 27.0) for _ in range(len(self.profiles) // RACK + 1)]
        nodes = []
        for i, prof in enumerate(self.profiles):
            counts[prof.name] = counts.get(prof.name, 0) + 1
            name = f"{prof.name}-{counts[prof.name]:0{width}d}"
            directory = self.dir / "nodes" / name
            directory.mkdir(parents=True, exist_ok=True)
            key = asyncssh.generate_private_key("ssh-ed25519")
            node = DemoNode(ctx, i, name, prof, key, directory, self.seed * 1_000_003 + i,
                            racks[i // RACK])
            node.groups = (prof.name, f"rack{i // RACK + 1}")
            nodes.append(node)
        return nodes

    def _write_known_hosts(self) -> None:
        """One combined file (for people and ssh -o UserKnownHostsFile) and one per node.

        roost parses a target's known_hosts files on every connect, so a 1,000-line file read
        1,000 times made connect-all quadratic (20 s); a one-line file per node keeps it flat.
        """
        per_node = self.dir / "known_hosts.d"
        per_node.mkdir(exist_ok=True)
        lines = []
        for n in self._nodes:
            line = (f"[{HOST}]:{n.port} "
                    f"{n.host_key.export_public_key('openssh').decode().strip()}\n")
            (per_node / n.name).write_text(line)
            lines.append(line)
        (self.dir / "known_hosts").write_text("".join(lines))

    @property
    def control_socket(self) -> Path:
        """The power control socket (a Unix socket path must stay under ~100 bytes)."""
        path = self.dir / "power.sock"
        if len(str(path)) < 100:
            return path
        return Path(tempfile.gettempdir()) / f"roost-demo-{os.getuid()}-{id(self):x}.sock"

    def node_known_hosts(self, name: str) -> Path:
        return self.dir / "known_hosts.d" / name

    # -- queries --------------------------------------------------------------------------------
    @property
    def nodes(self) -> list[NodeInfo]:
        return [NodeInfo(n.name, n.profile.name, n.profile.title, n.cores, n.groups)
                for n in self._nodes]

    def node(self, name: str) -> DemoNode:
        for n in self._nodes:
            if n.name == name:
                return n
        raise KeyError(f"no demo node named {name!r}")

    def power(self, name: str) -> DemoPowerChannel:
        if name not in self._power:
            raise KeyError(f"no demo node named {name!r}")
        return self._power[name]

    @property
    def identity_file(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    def targets(self) -> list[NodeTarget]:
        user = getpass.getuser()
        return [NodeTarget(name=n.name, host=HOST, port=n.port, user=user,
                           identity_files=(str(self.identity_file),),
                           known_hosts=(str(self.node_known_hosts(n.name)),),
                           host_keys="strict",
                           interval=self.interval, groups=n.groups) for n in self._nodes]

    # -- drop-offs ------------------------------------------------------------------------------
    async def drop(self, name: str, duration: float, hang: bool = False) -> None:
        """Take a node off the network for duration seconds: its port refuses, and its live
        connections are cut (hang=False) or left open but silent (hang=True)."""
        self.drops += 1
        await self.power(name).drop(duration, hang)

    async def _drop_offs(self) -> None:
        rng = random.Random(self.seed ^ 0x5EED)
        while True:
            await asyncio.sleep(rng.expovariate(1.0 / self.drop_every))
            up = [n for n in self._nodes if n.state == "on"]
            if up:
                await self.drop(rng.choice(up).name, rng.uniform(*self.drop_for),
                                hang=rng.random() < 0.5)

    async def _count_jobs(self, ctx: NodeContext) -> None:
        """Detached jobs (nohup, setsid) load their node's CPUs too: count them every few
        seconds, but only once some command has run (an idle demo never scans /proc)."""
        while True:
            await asyncio.sleep(max(2.0, 2 * self.interval))
            if not ctx.commands:
                continue
            counts = shell.job_counts(ctx.tag)
            for n in self._nodes:
                n.sim.jobs = max(len(n.procs), counts.get(n.name, 0))


def _raise_fd_limit(want: int) -> None:
    # Each node holds a listener and, once roost connects, two sockets in this one process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(hard, want)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
