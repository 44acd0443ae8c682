"""`roost ray up|down|status [NODESET]` and `roost ray logs JOB`: the Ray cluster of [ray].

Progress goes to stdout, one line per node; problems to stderr as "roost ray ACTION: ..."
(one line each). Exit status: 0 done, 1 something failed, 2 a config or usage error.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from console.config import Config

NODESET_HELP = "[ray] nodes in hostlist syntax, e.g. 'n[3-4]' (default: every [ray] node)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ray_action", metavar="ACTION", required=True)
    for action, text in (("up", "check versions, start the head, then the workers"),
                         ("down", "stop what roost started: the workers, then the head"),
                         ("status", "roost's Ray processes and the head's view of the nodes")):
        s = sub.add_parser(action, help=text)
        s.add_argument("nodeset", nargs="?", metavar="NODESET", help=NODESET_HELP)
    s = sub.add_parser("logs", help="the last lines of a Ray job's driver log")
    s.add_argument("job", metavar="JOB", help="roost's job number or Ray's submission id")
    s.add_argument("-n", "--lines", type=int, default=50, metavar="N", help="how many lines")


def run(args: argparse.Namespace, config: Config) -> int:
    from console.ray.client import RayError
    from console.ray.cluster import RayClusterError
    action = args.ray_action
    try:
        return asyncio.run(ACTIONS[action](args, config))
    except RayClusterError as exc:
        return fail(action, str(exc), 2)
    except RayError as exc:
        return fail(action, str(exc))


def fail(action: str, message: str, code: int = 1) -> int:
    from console.tables import clean
    print(f"roost ray {action}: {clean(message)}", file=sys.stderr, flush=True)
    return code


def _say(line: str) -> None:
    print(line, flush=True)


def _failing(cmd: str) -> Callable[[str], None]:
    """A problem line printed as `roost ray CMD: ...` (its exit status is the caller's)."""
    def say(line: str) -> None:
        fail(cmd, line)
    return say


async def _up(args: argparse.Namespace, config: Config) -> int:
    from console.ray.cluster import Cluster
    cluster = Cluster(config)
    try:
        ok = await cluster.up(args.nodeset, _say, _failing("up"))
    finally:
        await cluster.close()
    return 0 if ok else 1


async def _down(args: argparse.Namespace, config: Config) -> int:
    from console.ray.cluster import Cluster
    cluster = Cluster(config)
    try:
        ok = await cluster.down(args.nodeset, _say, _failing("down"))
    finally:
        await cluster.close()
    return 0 if ok else 1


async def _status(args: argparse.Namespace, config: Config) -> int:
    from console.ray.cluster import Cluster, cluster_status
    cluster = Cluster(config)
    try:
        rows, note = await cluster_status(cluster, args.nodeset)
    finally:
        await cluster.close()
    table = [("NODE", "ROLE", "ROOST", "RAY", "ADDRESS", "CPUS")]
    table += [(r.node, r.role, r.process, r.ray, r.address, r.cpus) for r in rows]
    print_table(table)
    if note:
        fail("status", note)
    return 0


async def _logs(args: argparse.Namespace, config: Config) -> int:
    from console.ray.jobs import RayJobs
    async with RayJobs.from_config(config) as jobs:
        job = await jobs.find(args.job)
        text = await jobs.client.logs(job, args.lines)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


ACTIONS = {"up": _up, "down": _down, "status": _status, "logs": _logs}


def print_table(rows: Sequence[Sequence[str]]) -> None:
    from console import tables
    from console.ray.parse import one_line
    tables.print_table([tuple(one_line(c, 80) for c in r) for r in rows])

