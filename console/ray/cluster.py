"""`roost ray up|down|status`: the Ray cluster of [ray], started and stopped over SSH.

up:     probe every node (in parallel) -> refuse on any problem (one line each) -> start the
        head, wait until Ray says it runs -> start the workers in parallel -> wait until the
        head's node list shows every one ALIVE.
down:   the workers in parallel, then the head; each by the pid and token roost recorded.
status: roost's supervised process on each node, and Ray's own view from the head.

A NODESET narrows any of them (`roost ray up n5` adds a worker to a running head; the head is
probed for its address and started only if it is not running).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncssh

from collectors import transport
from collectors.model import NodeTarget
from collectors.transport import CommandResult, TransportError, channel_slot
from console.config import Config, ConfigError, RayNodeSettings
from console.errors import RoostError
from console.ray import plan, remote
from console.ray.client import RayClient, RayError
from console.ray.parse import RayNode, fleet_map
from console.ray.tunnel import RayTunnel

Connect = Callable[[NodeTarget], Awaitable[asyncssh.SSHClientConnection]]
Say = Callable[[str], None]
PROBE_TIMEOUT = 30.0
JOIN_TIMEOUT = 30.0           # after `ray start` returned, until the head lists the node ALIVE


class RayClusterError(RoostError):
    """One line; nothing more was done."""


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    target: NodeTarget
    settings: RayNodeSettings


def members(config: Config, nodeset: str | None = None) -> tuple[str, list[Member]]:
    """(head, the [ray] nodes, head first) narrowed to nodeset (which always keeps the head
    for its address; callers decide whether to act on it)."""
    ray = config.ray
    if not ray.head:
        raise ConfigError(f"{ray.where or 'roost.toml'}: ray.head: expected the name of the "
                          f"node that runs the Ray head, got none")
    names = [s.name for s in config.select(ray.nodes) if ray.nodes or not s.local]
    names = [ray.head] + [n for n in names if n != ray.head]
    if nodeset:
        wanted = {s.name for s in config.select(nodeset)}
        outside = sorted(wanted - set(names))
        if outside:
            raise RayClusterError(f"{outside[0]}: not one of the [ray] nodes ([ray] nodes = "
                                  f"{ray.nodes!r})")
        names = [n for n in names if n in wanted or n == ray.head]
    out = []
    for name in names:
        spec = config.node(name)
        if spec.local:
            raise RayClusterError(f"{name}: a local node (local = true) cannot join the Ray "
                                  f"cluster over SSH")
        out.append(Member(name, config.target(spec), ray.settings(spec.groups)))
    return ray.head, out


async def run_sh(conn: asyncssh.SSHClientConnection, node: str, script: str,
                 timeout: float) -> CommandResult:
    """script on the node's sh (on stdin: the login shell may be fish or csh)."""
    try:
        async with channel_slot(conn):
            done = await conn.run("exec sh -s", input=script, check=False, timeout=timeout)
    except asyncssh.TimeoutError:
        raise TransportError(node, f"no answer within {timeout:g} s") from None
    except (asyncssh.Error, OSError) as exc:
        raise TransportError(node, f"connection lost ({exc})") from None
    return CommandResult(done.returncode, _text(done.stdout), _text(done.stderr))


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


class Cluster:
    """One SSH connection per node, opened on first use and closed by close()."""

    def __init__(self, config: Config, connect: Connect = transport.connect):
        self.config, self.ray, self._connect = config, config.ray, connect
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}

    async def conn(self, m: Member) -> asyncssh.SSHClientConnection:
        if m.name not in self._conns or self._conns[m.name].is_closed():
            self._conns[m.name] = await self._connect(m.target)
        return self._conns[m.name]

    async def close(self) -> None:
        conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            c.close()
        for c in conns:
            try:
                await asyncio.wait_for(c.wait_closed(), 5.0)
            except (TimeoutError, OSError, asyncssh.Error):
                pass

    async def sh(self, m: Member, script: str, timeout: float) -> str:
        """The script's output (its stderr when it printed nothing: sh's own complaint)."""
        done = await run_sh(await self.conn(m), m.name, script, timeout)
        return done.stdout if done.stdout.strip() else done.stderr

    # ---- probe -------------------------------------------------------------------------------

    async def probe(self, ms: list[Member]) -> tuple[dict[str, remote.Facts], list[str]]:
        """Facts of every reachable member; one line per unreachable one."""
        async def one(m: Member):
            try:
                return remote.parse_facts(await self.sh(m, remote.probe_script(m.settings.python),
                                                        PROBE_TIMEOUT))
            except TransportError as exc:
                return str(exc)
        found = await asyncio.gather(*(one(m) for m in ms))
        facts = {m.name: f for m, f in zip(ms, found) if isinstance(f, remote.Facts)}
        return facts, [f for f in found if isinstance(f, str)]

    # ---- up ----------------------------------------------------------------------------------

    async def up(self, nodeset: str | None, say: Say, warn: Say) -> bool:
        head, ms = members(self.config, nodeset)
        facts = await self._checked(head, ms, warn)
        if facts is None:
            return False
        plans = plan.plans(self.ray, head, facts, {m.name: m.settings for m in ms})
        by_name = {m.name: m for m in ms}
        if await self._start(by_name[head], plans[0], say, warn) is None:
            return False
        results = await asyncio.gather(*(self._start(by_name[p.node], p, say, warn)
                                         for p in plans[1:]))
        started = {p.node: facts[p.node].ip for p, r in zip(plans, [True, *results]) if r}
        joined = await self._joined(by_name[head], started, say, warn)
        return joined and all(r is not None for r in results)

    async def _checked(self, head: str, ms: list[Member], warn: Say
                       ) -> dict[str, remote.Facts] | None:
        """Every node's facts, or None after one line per problem (nothing was started)."""
        facts, errors = await self.probe(ms)
        if not errors:
            checked = plan.check(facts, head, {m.name: m.settings for m in ms})
            errors = checked.errors
            for line in checked.warnings if not errors else ():
                warn(f"warning: {line}")
        for line in errors:
            warn(line)
        return None if errors else facts

    async def _start(self, m: Member, p: plan.NodePlan, say: Say, warn: Say
                     ) -> remote.Outcome | None:
        role = "head" if p.head else "worker"
        t0 = time.monotonic()
        script = remote.start_script(m.name, p.argv, p.token, p.env, self.ray.start_timeout,
                                     p.bin_dir)
        try:
            out = remote.parse_outcome(await self.sh(m, script, self.ray.start_timeout + 15))
        except TransportError as exc:
            warn(f"{m.name}: {role} not started: {exc.message}")
            return None
        took = time.monotonic() - t0
        if out.word == "up":
            say(f"{m.name}: {role} up (pid {out.pid}, {took:.1f} s)")
        elif out.word == "running":
            say(f"{m.name}: {role} already running (pid {out.pid})")
        else:
            warn(f"{m.name}: {role} failed to start ({out.word}): {out.detail} "
                 f"(log: ~/{remote.node_dir(m.name)}/log on {m.name})")
            return None
        return out

    def client(self, head: Member) -> RayClient:
        """The Job/state API through this cluster's own connection to the head."""
        return RayClient(RayTunnel(head.name, lambda: self.conn(head), self.ray.dashboard_port,
                                   owned=False))

    async def _joined(self, head: Member, hosts: dict[str, str], say: Say, warn: Say) -> bool:
        """Wait until the head's node list shows every started node ALIVE."""
        deadline = time.monotonic() + JOIN_TIMEOUT
        client = self.client(head)
        try:
            while True:
                alive, missing = await _alive(client, hosts)
                if not missing:
                    cpus = sum(n.cpus for n in alive.values())
                    say(f"ray: {len(alive)} nodes ALIVE ({cpus:g} CPUs), head {head.name}")
                    return True
                if time.monotonic() > deadline:
                    warn(f"{', '.join(missing)}: started, but not ALIVE on the head after "
                         f"{JOIN_TIMEOUT:g} s")
                    return False
                await asyncio.sleep(0.2)
        finally:
            await client.close()

    # ---- down --------------------------------------------------------------------------------

    async def down(self, nodeset: str | None, say: Say, warn: Say) -> bool:
        head, ms = members(self.config, nodeset)
        if nodeset and head not in {s.name for s in self.config.select(nodeset)}:
            ms = [m for m in ms if m.name != head]
        workers = [m for m in ms if m.name != head]
        oks = await asyncio.gather(*(self._stop(m, say, warn) for m in workers))
        if any(m.name == head for m in ms):
            oks = list(oks) + [await self._stop(next(m for m in ms if m.name == head), say, warn)]
        return all(oks)

    async def _stop(self, m: Member, say: Say, warn: Say) -> bool:
        try:
            out = remote.parse_outcome(await self.sh(m, remote.stop_script(
                m.name, self.ray.stop_timeout), self.ray.stop_timeout + 15))
        except TransportError as exc:
            warn(f"{m.name}: not stopped: {exc.message}")
            return False
        if out.word == "none":
            say(f"{m.name}: not running")
        elif out.word == "stopped":
            extra = f"; killed {out.leftovers} leftover processes" if out.leftovers else ""
            say(f"{m.name}: stopped (pid {out.pid}, {out.waited:.1f} s{extra})")
        else:
            warn(f"{m.name}: stop: {out.detail}")
            return False
        return True


async def _alive(client: RayClient, hosts: dict[str, str]
                 ) -> tuple[dict[str, RayNode], list[str]]:
    """The named nodes the head lists ALIVE, and the ones it does not (yet)."""
    try:
        nodes = await client.nodes()
    except RayError:
        return {}, list(hosts)
    mapped = {k: v for k, v in fleet_map(nodes, hosts).items() if v.alive}
    return mapped, [n for n in hosts if n not in mapped]


@dataclass(frozen=True, slots=True)
class StatusRow:
    node: str
    role: str                         # head | worker
    process: str                      # roost's supervised process: "pid 123" | stopped | ...
    ray: str                          # the head's view: ALIVE | DEAD | "-" (not listed)
    address: str
    cpus: str                         # "in use/total" | "-"


async def cluster_status(cluster: Cluster, nodeset: str | None
                         ) -> tuple[list[StatusRow], str]:
    """A row per [ray] node (narrowed to nodeset) and one line on the head's API ("" if ok)."""
    head, ms = members(cluster.config, nodeset)
    processes = await asyncio.gather(*(_process(cluster, m) for m in ms))
    view, note = await _view(cluster, ms[0])
    hosts = {m.name: m.target.host for m in ms}
    mapped = fleet_map(view[0], hosts) if view else {}
    usage = view[1] if view else {}
    rows = []
    for m, process in zip(ms, processes):
        node = mapped.get(m.name)
        used = usage.get(node.node_id) if node and node.alive else None
        cpus = f"{used[0]:g}/{used[1]:g}" if used else (f"-/{node.cpus:g}" if node and
                                                         node.alive else "-")
        rows.append(StatusRow(m.name, "head" if m.name == head else "worker", process,
                              node.state if node else "-", node.ip if node else m.target.host,
                              cpus))
    return rows, note


async def _process(cluster: Cluster, m: Member) -> str:
    try:
        out = remote.parse_outcome(await cluster.sh(m, remote.status_script(m.name), 30.0))
    except TransportError as exc:
        return f"unreachable: {exc.message}"
    return f"pid {out.pid}" if out.word == "running" else \
        {"none": "not started", "stopped": "stopped"}.get(out.word, out.detail)


async def _view(cluster: Cluster, head: Member):
    client = cluster.client(head)
    try:
        return (await client.nodes(), await client.usage()), ""
    except RayError as exc:
        return None, str(exc)
    finally:
        await client.close()
