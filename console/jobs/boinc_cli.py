"""`roost boinc tasks|suspend|resume|abort NODESET [TASK]`: BOINC tasks across the fleet.

The lead's console/cli.py calls register(subparsers); each subcommand carries its handler as
`jobs_handler(args, config) -> exit status` (the same hook as console.jobs.cli).

tasks: one table over every node in NODESET (all nodes when omitted); a node without a BOINC
client, or unreachable, is one line on stderr and does not hide the others. Exit 0 when at least
one node answered. suspend/resume/abort: TASK is a task (result) name, matched on every node of
NODESET (--project URL narrows it when two projects use the same name); exit 1 unless every
matched task was acted on.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict

from collectors.transport import TransportError, connect
from console import tables
from console.jobs.boinc import BoincConfigError, BoincError, BoincView, boinc_control, boinc_tasks, settings_for
from console.jobs.boinc_rpc import BoincTask
from console.tables import clean

COLUMNS = ("NODE", "PROJECT", "TASK", "STATE", "DONE", "ELAPSED", "DEADLINE")
PAST = {"suspend": "suspended", "resume": "resumed", "abort": "aborted"}


def register(subparsers) -> None:
    boinc = subparsers.add_parser("boinc", help="BOINC tasks on the nodes: list, suspend, resume, abort")
    sub = boinc.add_subparsers(dest="boinc_command", metavar="ACTION", required=True)
    s = sub.add_parser("tasks", help="every task on NODESET (default: all nodes), like boinctui")
    s.add_argument("nodeset", nargs="?", metavar="NODESET",
                   help="nodes and @groups in hostlist syntax (default: all)")
    s.add_argument("--json", action="store_true", help="one JSON document")
    s.set_defaults(jobs_handler=cmd_tasks)
    for op in PAST:
        s = sub.add_parser(op, help=f"{op} a task by name on NODESET")
        s.add_argument("nodeset", metavar="NODESET", help="the nodes running the task (hostlist)")
        s.add_argument("task", metavar="TASK", help="the task's name, as `roost boinc tasks` shows it")
        s.add_argument("--project", metavar="URL", help="only the task of this project URL")
        s.set_defaults(jobs_handler=cmd_control, boinc_op=op)


def _fail(message: str) -> int:
    print(f"roost boinc: error: {message}", file=sys.stderr)
    return 1


def _note(node: str, message: str) -> None:
    print(f"roost boinc: {node}: {clean(message)}", file=sys.stderr)


def _nodes(args: argparse.Namespace, config) -> tuple[list, dict]:
    """The NODESET's targets and their BOINC settings; ValueError when nothing matches."""
    targets = config.targets(args.nodeset)
    if not targets:
        raise ValueError(f"no nodes match {args.nodeset!r}")
    return targets, {t.name: settings_for(config.jobs.boinc, t.name) for t in targets}


# ---- tasks -----------------------------------------------------------------------------------

def cmd_tasks(args: argparse.Namespace, config) -> int:
    try:
        targets, settings = _nodes(args, config)
    except (BoincConfigError, ValueError) as exc:
        return _fail(str(exc))
    view = asyncio.run(_with_connections(targets, lambda conns: boinc_tasks(conns, settings)))
    print(json.dumps(_as_json(view), indent=1) if args.json else format_table(view.tasks))
    for node, note in view.notes.items():
        _note(node, note)
    return 0 if len(view.notes) < len(targets) else 1


async def _with_connections(targets, work):
    """work({node: conn or None}) with every node connected concurrently; closes them after."""
    results = await asyncio.gather(*(connect(t) for t in targets), return_exceptions=True)
    conns = {t.name: r for t, r in zip(targets, results) if not isinstance(r, BaseException)}
    failed = {t.name: _error(r) for t, r in zip(targets, results) if isinstance(r, BaseException)}
    try:
        view = await work(conns)
    finally:
        for conn in conns.values():
            conn.close()
    return _merge_notes(view, failed) if isinstance(view, BoincView) else (view, failed)


def _error(exc: BaseException) -> str:
    return exc.message if isinstance(exc, TransportError) else f"{type(exc).__name__}: {exc}"


def _merge_notes(view: BoincView, failed: dict[str, str]) -> BoincView:
    return BoincView(view.tasks, {**failed, **view.notes})


def _as_json(view: BoincView) -> dict:
    return {"tasks": [asdict(t) for t in view.tasks], "notes": dict(view.notes)}


def format_table(tasks: tuple[BoincTask, ...] | list[BoincTask]) -> str:
    rows = [COLUMNS] + [_row(t) for t in sorted(tasks, key=lambda t: (t.node, t.project_name, t.name))]
    return tables.format_table(rows)


def _row(t: BoincTask) -> tuple[str, ...]:
    return (t.node, t.project_name, t.name, t.state, f"{t.fraction_done * 100:.1f}%",
            format_duration(t.elapsed), format_deadline(t.deadline))


def format_duration(seconds: float) -> str:
    s = max(int(seconds), 0)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_deadline(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(when)) if when > 0 else "-"


# ---- suspend / resume / abort ----------------------------------------------------------------

def cmd_control(args: argparse.Namespace, config) -> int:
    try:
        targets, settings = _nodes(args, config)
    except (BoincConfigError, ValueError) as exc:
        return _fail(str(exc))
    work = lambda conns: _control(conns, settings, args)  # noqa: E731
    (done, errors), failed = asyncio.run(_with_connections(targets, work))
    for node, message in {**failed, **errors}.items():
        _note(node, message)
    if not done and not errors:
        return _fail(f"no task {clean(args.task)!r} on {args.nodeset}")
    for t in done:
        print(f"{clean(t.node)}: {PAST[args.boinc_op]} {clean(t.name)} ({clean(t.project_name)})")
    return 0 if done and not errors and not failed else 1


async def _control(conns, settings, args) -> tuple[list[BoincTask], dict[str, str]]:
    view = await boinc_tasks(conns, settings)
    matches = [t for t in view.tasks if t.name == args.task
               and (args.project is None or t.project_url == args.project)]
    errors = dict(view.notes)
    done = []
    for t in matches:
        try:
            await boinc_control(conns[t.node], t.node, args.boinc_op, t.project_url, t.name,
                                settings[t.node])
            done.append(t)
        except BoincError as exc:
            errors[t.node] = exc.message
    return done, errors
