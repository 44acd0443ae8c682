"""`roost history [NODESET] [--metric M] [--since 1h] [--until T] [--step S] [--csv | --json]`.

Reads the history database (`roost serve` keeps STATE_DIR/roost.db; `roost collect --db PATH`
writes the one you name) and prints a chart sized to the terminal, or exports the points:
--csv is `time,epoch,node,label,value` rows (time in ISO 8601 UTC), --json one document.
Nodes default to every node the database holds; a node with no points in the window is named on
stderr. Exit status: 0 shown, 1 no database or nothing stored for the window, 2 bad arguments.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from console.errors import RoostError
from console.history.metrics import METRICS
from console.history.since import ACCEPTED, format_duration, parse_duration, parse_when

NODESET_HELP = "nodes and @groups, e.g. 'n[1-4],@rack2' (default: every node with history)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodeset", nargs="?", metavar="NODESET", help=NODESET_HELP)
    parser.add_argument("-m", "--metric", choices=tuple(METRICS), default="cpu",
                        help="what to show (default cpu): " + ", ".join(METRICS))
    parser.add_argument("--since", default="1h", metavar="WHEN",
                        help=f"start: {ACCEPTED} (default 1h)")
    parser.add_argument("--until", metavar="WHEN", help="end, as --since (default now)")
    parser.add_argument("--step", metavar="S", help="bucket size, e.g. 10s or 5m (default: about "
                        "one point per column for a chart, 1s for --csv/--json)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="CSV rows instead of a chart")
    out.add_argument("--json", action="store_true", help="one JSON document instead of a chart")
    parser.add_argument("--db", metavar="PATH", help="history database (default STATE_DIR/roost.db)")
    parser.epilog = ("exit status: 0 shown, 1 no database or nothing stored in the window, "
                     "2 bad arguments")


class Usage(RoostError):
    """A bad --since/--until/--step: one line, exit 2."""


def window(args: argparse.Namespace, now: float) -> tuple[float, float, float | None]:
    since = _parsed("--since", args.since, lambda t: parse_when(t, now))
    until = _parsed("--until", args.until, lambda t: parse_when(t, now)) if args.until else now
    step = _parsed("--step", args.step, parse_duration) if args.step else None
    if until <= since:
        raise Usage(f"--until ({args.until or 'now'}) is not after --since ({args.since})")
    if step is not None and step <= 0:
        raise Usage(f"--step: expected a duration above 0, got {args.step!r}")
    return since, until, step


def _parsed(flag: str, text: str, parse):
    try:
        return parse(text)
    except ValueError as exc:
        raise Usage(f"{flag}: {exc}") from None


def run(args: argparse.Namespace, config, out: TextIO | None = None,
        err: TextIO | None = None) -> int:
    from console import paths
    from console.history import service
    from console.history.store import HistoryError
    out, err = out or sys.stdout, err or sys.stderr
    db = args.db or paths.default_db(config.state_dir)
    try:
        since, until, step = window(args, time.time())
    except Usage as exc:
        print(f"roost history: error: {exc}", file=err)
        return 2
    try:
        nodes = _nodes(args.nodeset, config, db)
    except ValueError as exc:
        print(f"roost history: error: NODESET {args.nodeset!r}: {' '.join(str(exc).split())}",
              file=err)
        return 2
    except HistoryError as exc:
        print(f"roost history: {exc}", file=err)
        return 1
    try:
        width, height = _size(out)
        points = width * 2 if not (args.csv or args.json) else 0
        history = service.read(db, args.metric, nodes, since, until,
                               step or (1.0 if points == 0 else None), points=points or 200)
    except HistoryError as exc:
        print(f"roost history: {exc}", file=err)
        return 1
    return _show(args, history, db, out, err, width, height)


def _nodes(nodeset: str | None, config, db) -> list[str]:
    from console.history.service import stored_nodes
    from console.hostlist import HostlistError, expand, natural_key
    if nodeset and config.nodes:
        return [spec.name for spec in config.select(nodeset)]
    stored = sorted(stored_nodes(db), key=natural_key)
    if not nodeset:
        return stored
    try:        # no config: the names (and @groups, none here) the database knows
        wanted = set(expand(nodeset, limit=config.defaults.max_hostlist))
    except HostlistError as exc:
        raise ValueError(str(exc)) from None
    return [n for n in stored if n in wanted] + sorted(wanted - set(stored), key=natural_key)


def _size(out: TextIO) -> tuple[int, int]:
    cols, rows = shutil.get_terminal_size((80, 24))
    return max(cols, 40), max(rows - 3, 10)      # room for the notes and the next prompt


def _show(args, history, db, out, err, width: int, height: int) -> int:
    if not history.lines:
        print(f"roost history: nothing stored for {args.metric} of {args.nodeset or 'any node'} "
              f"from {_when(history.window.since)} to {_when(history.window.until)} in {db}",
              file=err)
        return 1
    if history.missing:
        from console.hostlist import fold
        print(f"roost history: no {args.metric} points for {_safe(fold(history.missing))} "
              "in the window", file=err)
    if args.csv:
        write_csv(history, out)
    elif args.json:
        write_json(history, out)
    else:
        from console.history.chart import render
        color = out.isatty() and "NO_COLOR" not in os.environ
        title = (f"{history.metric.title} - {args.nodeset or 'all'} - {_span(args, history)}, "
                 f"step {format_duration(history.window.step)}")
        out.write(render(history, title, width, height, color) + "\n")
    return 0


def _span(args, history) -> str:
    since, until = history.asked
    asked = f"last {args.since}" if args.until is None else f"{args.since} to {args.until}"
    shown = history.window.until - history.window.since
    if shown < (until - since) - 2 * history.window.step:
        return f"{asked} ({format_duration(shown)} stored)"
    return asked


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


_CONTROL = dict.fromkeys([*range(32), 127], "?")


def _safe(text: str) -> str:
    """Names come from nodes (hwmon labels, interface names): no control character reaches a
    terminal or a CSV row."""
    return text.translate(_CONTROL)


def write_csv(history, out: TextIO) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["time", "epoch", "node", "label", "value"])
    for line in history.lines:
        node, label = _safe(line.node), _safe(line.label)
        for t, v in line.points:
            w.writerow([_iso(t), f"{t:.3f}", node, label, "" if v is None else v])


def write_json(history, out: TextIO) -> None:
    w = history.window
    doc = {"metric": history.metric.name, "unit": history.metric.unit, "since": _iso(w.since),
           "until": _iso(w.until), "step_s": w.step,
           "lines": [{"node": ln.node, "label": ln.label,
                      "points": [[round(t, 3), v] for t, v in ln.points]} for ln in history.lines],
           "missing": history.missing}
    json.dump(doc, out, separators=(",", ":"))
    out.write("\n")
