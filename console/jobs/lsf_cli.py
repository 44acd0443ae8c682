"""LSF/OpenLava's front door over roost's queue: `bsub`, `bjobs`, `bkill` (also installed as
commands of their own), with LSF's flags and LSF's table shapes, so a Pi-cluster workflow of
bsub lines keeps working:

    bsub -J 'primes[2-100]%8' -o 'out.%J.%I' ./primes.sh \\$LSB_JOBINDEX
    bsub -n 4 -W 30 -w 'done(12)' < job.sh         # #BSUB lines in the script count
    bjobs -a          bjobs -u all -J primes        bkill 12     bkill -s USR1 'primes[3]'

bsub's options are console.jobs.lsf's; the job is checked, stored and run exactly as `roost
submit` does it. Everything submitted either way shows in both `roost queue` and `bjobs`.
"""
from __future__ import annotations

import argparse
import datetime
import getpass
import sqlite3
import sys
from typing import TYPE_CHECKING, Protocol

from console.jobs.directives import build_spec, wrap_script
from console.jobs.location import open_store, queue_failure, scheduler_lock
from console.jobs.lsf import add_bsub_options, convert
from console.jobs.model import State, Task
from console.jobs.spec import SpecError, parse_target, signal_name
from console.jobs.store import JobRow, Store
from console.jobs.submission import check_spec
from console.tables import clean, error as _fail

if TYPE_CHECKING:
    from console.config import Config
    from console.jobs.cli import Handler

LSF_STAT = {State.PENDING: "PEND", State.RUNNING: "RUN", State.SUSPENDED: "USUSP",
            State.COMPLETED: "DONE"}
QUEUE = "normal"      # the one queue roost's LSF face shows (bjobs' QUEUE column)


class Subparsers(Protocol):
    """argparse's subparsers (`roost bsub`), or _Only (the `bsub` command of its own)."""
    def add_parser(self, name: str, *, help: str | None = ...) -> argparse.ArgumentParser: ...


def register(subparsers: Subparsers) -> None:
    for add in (_bsub_parser, _bjobs_parser, _bkill_parser):
        add(subparsers)


def _bsub_parser(subparsers: Subparsers) -> None:
    s = subparsers.add_parser("bsub", help="submit a job the LSF way (bsub's flags)")
    add_bsub_options(s)
    s.add_argument("bsub_command", nargs=argparse.REMAINDER, metavar="COMMAND",
                   help="the command and its arguments (none: a job script on stdin)")
    s.set_defaults(jobs_handler=_builtin("bsub", cmd_bsub))


def _bjobs_parser(subparsers: Subparsers) -> None:
    s = subparsers.add_parser("bjobs", help="jobs the LSF way (bjobs' columns)")
    s.add_argument("-a", action="store_true", help="finished jobs too")
    s.add_argument("-d", action="store_true", help="finished jobs only")
    s.add_argument("-p", action="store_true", help="pending jobs only")
    s.add_argument("-r", action="store_true", help="running jobs only")
    s.add_argument("-s", action="store_true", help="suspended jobs only")
    s.add_argument("-u", metavar="USER", help="this user's jobs (all: everyone's)")
    s.add_argument("-J", metavar="NAME", help="jobs of this name")
    s.add_argument("-w", action="store_true", help="wide: no column is cut")
    s.add_argument("-noheader", action="store_true", help="no header line")
    s.add_argument("ids", nargs="*", metavar="JOBID", help="ID or ID[INDEX]")
    s.set_defaults(jobs_handler=_builtin("bjobs", cmd_bjobs))


def _bkill_parser(subparsers: Subparsers) -> None:
    s = subparsers.add_parser("bkill", help="kill or signal jobs the LSF way")
    s.add_argument("-s", metavar="SIGNAL", help="send SIGNAL instead of killing")
    s.add_argument("-J", metavar="NAME", help="the jobs of this name")
    s.add_argument("-u", metavar="USER", help="with job id 0: this user's jobs (all: everyone's)")
    s.add_argument("ids", nargs="*", metavar="JOBID", help="ID, ID[INDEX], ID[1-5]; 0: all")
    s.set_defaults(jobs_handler=_builtin("bkill", cmd_bkill))


def _builtin(name: str, handler: Handler) -> Handler:
    def run(args: argparse.Namespace, config: Config) -> int:
        if config.jobs.uses_slurm or config.jobs.uses_ray:
            return _fail(name, f"[jobs] backend = \"{config.jobs.backend}\": bsub/bjobs/bkill "
                               "serve the built-in queue only")
        try:
            return handler(args, config)
        except (sqlite3.Error, OSError) as exc:   # a full or read-only state file system
            return _fail(name, queue_failure(config, exc))
    return run


# --- bsub -----------------------------------------------------------------------------------

def cmd_bsub(args: argparse.Namespace, config: Config) -> int:
    try:
        script, where, name = _bsub_script(args.bsub_command)
        values, warnings = convert(args)
        if name and not getattr(values, "job_name", None):
            values.job_name = name
        spec = build_spec(values, script, where)
        store = open_store(config)     # one connection for the checks and the insert
        spec = check_spec(spec, config.names, store, config.jobs.cores)
    except SpecError as exc:
        return _fail("bsub", str(exc))
    for warning in warnings + list(spec.warnings):
        print(f"roost bsub: warning: {clean(warning)}", file=sys.stderr)
    job_id = store.submit(spec)
    print(f"Job <{job_id}> is submitted to default queue <{QUEUE}>.", flush=True)
    if not args.bsub_K:
        return 0
    print("<<Waiting for dispatch ...>>", flush=True)
    import asyncio

    from console.jobs.cli import _wait  # the scheduler's imports, only when waiting
    code = asyncio.run(_wait(config, store, job_id))
    print("<<Job is finished>>", flush=True)
    return code


def _bsub_script(words: list[str]) -> tuple[str, str, str | None]:
    """(script text, where its lines are, the default job name): the command line joined as
    LSF joins it (the job's shell parses it again: \\$LSB_JOBINDEX works), or the script on
    stdin (its #BSUB lines count)."""
    words = words[1:] if words[:1] == ["--"] else words
    if words:
        command = " ".join(words)
        return wrap_script(command), "--wrap", command
    if sys.stdin is None or sys.stdin.isatty():
        raise SpecError("no command given (bsub [options] command [args], or a job script "
                        "on stdin: bsub < job.sh)")
    text = sys.stdin.read()
    if not text.strip():
        raise SpecError("the job script on stdin is empty")
    if not text.startswith("#!"):
        text = "#!/bin/sh\n" + text       # LSF runs a script without #! under /bin/sh
    return text, "stdin", None


# --- bjobs ----------------------------------------------------------------------------------

COLUMNS = (("JOBID", 7), ("USER", 7), ("STAT", 5), ("QUEUE", 10), ("FROM_HOST", 11),
           ("EXEC_HOST", 11), ("JOB_NAME", 10), ("SUBMIT_TIME", 12))


def cmd_bjobs(args: argparse.Namespace, config: Config) -> int:
    try:
        wanted = [_lsf_target(t) for t in args.ids]
    except SpecError as exc:
        return _fail("bjobs", str(exc))
    with open_store(config) as store:
        rows = _bjobs_rows(store, args, wanted)
    if not rows:
        print("No unfinished job found" if not (args.a or args.d) else "No job found",
              file=sys.stderr)
        return 0
    lines = _bjobs_lines(rows, args.w)
    for line in lines[1:] if args.noheader else lines:
        print(clean(line))
    return 0


def _bjobs_rows(store: Store, args: argparse.Namespace,
                wanted: list[tuple[int, list[int] | None]]) -> list[list[str]]:
    user = None if args.u == "all" else (args.u or getpass.getuser())
    ids = [j for j, _ in wanted] if wanted else \
        store.job_ids(live_only=not (args.a or args.d))
    import socket
    host = socket.gethostname().split(".")[0]
    rows = []
    for job_id in ids:
        row = store.job(job_id)
        if row is None or (user and row.user != user and not wanted) or \
                (args.J and row.name != args.J):
            continue
        picked = dict(wanted).get(job_id)
        for task in store.tasks(job_id):
            if picked and task.index not in picked:
                continue
            if _shown(task, args):
                rows.append(_bjobs_row(row, task, host))
    return rows


def _shown(task: Task, args: argparse.Namespace) -> bool:
    only = [s for s, on in ((State.PENDING, args.p), (State.RUNNING, args.r),
                            (State.SUSPENDED, args.s)) if on]
    if args.d:
        return task.state.done
    if only:
        return task.state in only
    return args.a or not task.state.done


def _bjobs_row(row: JobRow, task: Task, host: str) -> list[str]:
    name = row.name if task.index is None else f"{row.name}[{task.index}]"
    hosts = ":".join(f"{n}*{h}" if n > 1 else h for h, n in task.alloc) if task.alloc \
        else (task.node or "")
    submitted = datetime.datetime.fromtimestamp(row.submit).strftime("%b %e %H:%M")
    return [str(row.id), row.user, LSF_STAT.get(task.state, "EXIT"), QUEUE, host, hosts, name,
            submitted]


def _bjobs_lines(rows: list[list[str]], wide: bool) -> list[str]:
    """LSF's fixed columns; a long value is cut from the left with a '*' (unless -w)."""
    widths = [w if not wide else max([len(h)] + [len(r[i]) for r in rows])
              for i, (h, w) in enumerate(COLUMNS)]
    out = []
    for cells in [[h for h, _ in COLUMNS]] + rows:
        shown = [c if wide or len(c) <= w else "*" + c[-(w - 1):] for c, w in zip(cells, widths)]
        out.append(" ".join(c.ljust(w) for c, w in zip(shown, widths)).rstrip())
    return out


# --- bkill ----------------------------------------------------------------------------------

def cmd_bkill(args: argparse.Namespace, config: Config) -> int:
    store, status = open_store(config), 0
    try:
        want = f"signal:{signal_name(args.s)}" if args.s else "cancel"
        targets = [_lsf_target(t) for t in args.ids if t != "0"]
    except SpecError as exc:
        return _fail("bkill", str(exc))
    if "0" in args.ids or args.J:
        targets += _all_of(store, args)
    if not targets:
        return _fail("bkill", "no job given (JOBID ..., -J NAME, or 0 for all your jobs)")
    verb = "signaled" if args.s else "terminated"
    for job_id, indices in targets:
        label = f"{job_id}" + (f"[{indices[0]}]" if indices and len(indices) == 1 else "")
        if store.job(job_id) is None:
            status = _fail("bkill", f"Job <{label}>: No matching job found")
        elif store.request(job_id, indices, want) == 0:
            status = _fail("bkill", f"Job <{label}>: Job has already finished")
        else:
            print(f"Job <{label}> is being {verb}")
    if store.wants() and scheduler_lock(config).holder() is None:
        import asyncio

        from console.jobs.service import settle_requests
        asyncio.run(settle_requests(config, store, timeout=30.0))
    return status


def _all_of(store: Store, args: argparse.Namespace) -> list[tuple[int, None]]:
    user = None if args.u == "all" else (args.u or getpass.getuser())
    out = []
    for job_id in store.job_ids(live_only=True):
        row = store.job(job_id)     # None: purged since job_ids() read it
        if row is not None and (user is None or row.user == user) and (not args.J or row.name == args.J):
            out.append((job_id, None))
    return out


def _lsf_target(text: str) -> tuple[int, list[int] | None]:
    """LSF's "12", "12[3]", "12[1-5,9]" -> (job id, indices or None)."""
    value = text.strip()
    if "[" in value and value.endswith("]"):
        job, _, rest = value.partition("[")
        return parse_target(f"{job}_[{rest[:-1]}]")
    return parse_target(value)


# --- the console scripts -----------------------------------------------------------------------

def _main(command: str) -> int:
    """`bsub ...` as its own command: only this command's parser and imports (a loop of a
    thousand bsub lines starts Python a thousand times), the config from ROOST_CONFIG,
    ROOST_INVENTORY, ROOST_SSH_CONFIG and ROOST_STATE_DIR, errors as `roost` prints them."""
    from console.config import ConfigError, load_config
    parser = argparse.ArgumentParser(prog=command)
    PARSERS[command](_Only(parser))
    args = parser.parse_args(sys.argv[1:])
    # bkill and bsub -K may have to reach the nodes (nobody scheduling): then ssh config counts
    connects = command == "bkill" or getattr(args, "bsub_K", False)
    handler: Handler = args.jobs_handler       # set by the command's parser
    try:
        return handler(args, load_config(connects=connects))
    except ConfigError as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:
        print(f"roost {command}: error: {clean(getattr(exc, 'strerror', None) or exc)}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


PARSERS = {"bsub": _bsub_parser, "bjobs": _bjobs_parser, "bkill": _bkill_parser}


class _Only:
    """A stand-in for argparse's subparsers that hands out the command's own parser."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser

    def add_parser(self, name: str, *, help: str | None = None) -> argparse.ArgumentParser:
        if help:
            self.parser.description = help
        return self.parser


def bsub_main() -> int:
    return _main("bsub")


def bjobs_main() -> int:
    return _main("bjobs")


def bkill_main() -> int:
    return _main("bkill")
