"""`roost run [NODESET] [-w NODESET] [-x EXCLUDE] [-g GROUP] -- CMD`: the arguments of `run`.

clush's habits work: `-w` names nodes, `-x` excludes, `-g` names groups, `-a` is every node,
`-b` (grouped output) is already the default and `-L` prefixes lines instead. Without any of
them NODESET defaults to all nodes, so `roost run -- uptime` runs everywhere. Words after `--`
(or, with -w/-g/-a, every word) are the command; without `--` the first word is the NODESET, as
in `roost run n1 uptime`. `--job ID` runs on every node of a running job's allocation instead,
with the job's ids in the environment (srun inside a job).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from collectors.model import NodeTarget
from console.argparsing import Parser
from console.collect import positive_seconds
from console.errors import RoostError

USAGE = ("roost run [NODESET] [-w NODESET] [-x EXCLUDE] [-g GROUP] [--job ID] [-L] [--timeout S]"
         " -- CMD")


class RunUsageError(RoostError):
    """A `roost run` argument problem: one line, exit status 2."""


@dataclass(frozen=True)
class RunRequest:
    nodeset: str | None       # None: every node
    exclude: str | None
    command: str
    timeout: float
    grouped: bool
    job: str | None = None    # --job: the nodes of this job's allocation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_options(parser)
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="[NODESET] -- CMD",
                        help="nodes in hostlist syntax (default: all), then `--` and the command")


def _add_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("node selection (as clush)")
    g.add_argument("-w", dest="run_nodes", action="append", metavar="NODESET",
                   help="nodes to run on, e.g. n[1-4],@rack2 (repeatable)")
    g.add_argument("-x", dest="run_exclude", action="append", metavar="EXCLUDE",
                   help="nodes to leave out (repeatable)")
    g.add_argument("-g", dest="run_groups", action="append", metavar="GROUP",
                   help="run on the nodes of GROUP (repeatable; same as -w @GROUP)")
    g.add_argument("-a", "--all", dest="run_all", action="store_true", help="every node (the default)")
    g.add_argument("--job", metavar="ID",
                   help="on every node of this running job's allocation (like srun in a job)")
    o = parser.add_argument_group("output")
    o.add_argument("-b", dest="run_grouped", action="store_true",
                   help="group identical outputs (the default; clush -b)")
    o.add_argument("-L", "--lines", action="store_true", help="prefix each line with its node instead")
    parser.add_argument("--timeout", type=positive_seconds, default=60.0, metavar="S",
                        help="per node, login included (default 60)")


def request(args: argparse.Namespace) -> RunRequest:
    """The parsed `run` arguments as one request; RunUsageError for what argparse cannot see."""
    before, command = _split(args)
    if before:
        _reparse(before, args)
    if not command:
        raise RunUsageError("no command given (roost run [NODESET] -- CMD; NODESET defaults to all)")
    nodeset = _nodeset(args)
    if args.job is not None and (nodeset or args.run_exclude):
        raise RunUsageError("--job runs on the job's own nodes: no NODESET, -w, -g or -x with it")
    return RunRequest(nodeset, _joined(args.run_exclude), " ".join(command),
                      args.timeout, grouped=not args.lines, job=args.job)


def _split(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(words that select nodes or set options, words of the command)."""
    words = list(args.words)
    if "--" in words:
        cut = words.index("--")
        return words[:cut], words[cut + 1:]
    if args.run_nodes or args.run_groups or args.run_all or args.job is not None:
        return [], words
    return words[:1], words[1:]


def _reparse(before: list[str], args: argparse.Namespace) -> None:
    """Options after the NODESET (`roost run n1 -L -- cmd`) count as well as those before it."""
    parser = Parser(prog="roost run", add_help=False)
    _add_options(parser)
    parser.add_argument("nodeset", nargs="?", metavar="NODESET")
    parser.parse_args(before, namespace=args)


def _nodeset(args: argparse.Namespace) -> str | None:
    if args.run_all:
        return None
    parts = [getattr(args, "nodeset", None), *(args.run_nodes or ()),
             *(f"@{g.lstrip('@')}" for grp in args.run_groups or () for g in grp.split(",") if g)]
    return _joined([p for p in parts if p])


def _joined(parts: list[str] | None) -> str | None:
    return ",".join(parts) if parts else None


def targets(config, req: RunRequest) -> list[NodeTarget]:
    specs = config.select(req.nodeset, exclude=req.exclude)
    if not specs:
        raise RunUsageError(f"no nodes left: -x {req.exclude} leaves out every node of "
                            f"{req.nodeset or 'all'}")
    return [config.target(spec) for spec in specs]


def run(args: argparse.Namespace, config) -> int:
    from console import runcmd
    try:
        req = request(args)
        chosen = targets(config, req) if req.job is None else []
    except RunUsageError as exc:
        print(f"roost run: error: {exc}", file=sys.stderr)
        return 2
    command = req.command       # joined with spaces, as ssh does: the remote shell parses it
    if req.job is not None:
        from console.jobs.service import job_step, node_targets
        from console.jobs.spec import SpecError
        try:
            nodes, prefix = job_step(config, req.job)
        except SpecError as exc:
            print(f"roost: run: {exc}", file=sys.stderr)
            return 1
        # nodes the queue names (on [source] prometheus, maybe only Prometheus knows them)
        chosen, command = node_targets(config, nodes), prefix + command
    return runcmd.run(chosen, command, req.timeout, grouped=req.grouped)
