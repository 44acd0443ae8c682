"""`roost acct`: sacct for the built-in queue. Every task of the jobs in a time window with its
state, exit code and signal, elapsed time, nodes, submit/start/end times; the history is kept in
the queue's store for [jobs] history_days (default 30; 0 keeps it forever).

    roost acct                        today's tasks (since midnight, as sacct)
    roost acct -S now-2hours -s F,TO  the last two hours' failed and timed-out tasks
    roost acct -j 12,15 --parsable    those jobs whenever they ran, "|"-separated
    roost acct --format=JobID,State,NodeList%20 --json
"""
from __future__ import annotations

import argparse
import json
import time

from console.jobs.location import cluster_name, open_store
from console.jobs.reports import ACCT_DEFAULT, ACCT_FIELDS, acct_columns, acct_lines, acct_rows, parse_when, state_names
from console.jobs.spec import SpecError
from console.tables import clean, error as _fail


def register(subparsers) -> None:
    s = subparsers.add_parser("acct", help="finished and running jobs' accounting (like sacct)")
    s.add_argument("-S", "--since", "--starttime", dest="since", metavar="TIME",
                   help="from TIME (default: midnight, or every job with -j/-s): "
                        "YYYY-MM-DD[THH:MM], HH:MM, now-2hours, yesterday ...")
    s.add_argument("-E", "--until", "--endtime", dest="until", metavar="TIME",
                   help="until TIME (default: now)")
    s.add_argument("-j", "--jobs", metavar="IDS", help="only these job ids (comma separated)")
    s.add_argument("-s", "--state", metavar="STATES", help="only these states (CD,F,TO,...)")
    s.add_argument("-u", "--user", metavar="USERS", help="only these users (comma separated)")
    s.add_argument("-o", "--format", metavar="FIELDS", default=ACCT_DEFAULT,
                   help=f"fields, NAME[%%WIDTH],...; of {','.join(ACCT_FIELDS)}")
    s.add_argument("-n", "--noheader", action="store_true", help="no header lines")
    s.add_argument("-p", "--parsable", action="store_true",
                   help='"|" after every field (sacct -p)')
    s.add_argument("-P", "--parsable2", action="store_true",
                   help='"|" between fields (sacct -P)')
    s.add_argument("--json", action="store_true", help="one JSON document, every field")
    s.set_defaults(jobs_handler=_routed(cmd_acct))


def _routed(handler):
    def run(args: argparse.Namespace, config) -> int:
        if config.jobs.uses_slurm:
            return _fail("acct", "[jobs] backend = \"slurm\": use sacct on the controller")
        if config.jobs.uses_ray:
            return _fail("acct", "[jobs] backend = \"ray\": roost queue -a lists Ray's jobs")
        return handler(args, config)
    return run


def cmd_acct(args: argparse.Namespace, config) -> int:
    now = time.time()
    try:
        window = _window(args, now)
        ids = [int(j.split("_", 1)[0]) for j in args.jobs.split(",")] if args.jobs else None
        states = state_names(args.state) if args.state else set()
        columns = acct_columns(args.format)
    except SpecError as exc:          # (a ValueError too: first)
        return _fail("acct", str(exc))
    except ValueError:
        return _fail("acct", f"Invalid job id: {args.jobs}")
    users = args.user.split(",") if args.user else ()
    with open_store(config) as store:
        rows = acct_rows(store, *window, ids, states, users, now)
    if args.json:
        print(json.dumps({"cluster": cluster_name(config), "jobs": rows}, indent=1))
        return 0
    parsable = "|" if args.parsable else ("" if args.parsable2 else None)
    for line in acct_lines(rows, columns, header=not args.noheader, parsable=parsable):
        print(clean(line))
    return 0


def _window(args: argparse.Namespace, now: float) -> tuple[float, float]:
    """sacct's default start: midnight today, or the epoch when -j or -s picks the jobs."""
    if args.since:
        since = parse_when(args.since, now)
    elif args.jobs or args.state:
        since = 0.0
    else:
        since = parse_when("midnight", now)
    until = parse_when(args.until, now) if args.until else now
    if until < since:
        raise SpecError(f"--until {args.until} is before --since {args.since}")
    return since, until
