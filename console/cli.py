"""`roost` entry point: parse arguments, load the config, hand over to a command. No logic here.

Global options come before the subcommand: --config --inventory --ssh-config --state-dir --theme
(or ROOST_CONFIG, ROOST_INVENTORY, ROOST_SSH_CONFIG, ROOST_STATE_DIR, ROOST_THEME). Every error
is one line on stderr starting "roost: "; usage and config errors exit 2. A bug is one line too
("roost: internal error: ..."), exit 70, with its traceback only in STATE_DIR/crash.log.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from console import logs
from console.argparsing import Parser
from console.errors import RoostError

if TYPE_CHECKING:
    from console.collect import CollectOptions
    from console.config import Config

# asyncio, console.collect and console.config are imported where used: `roost __complete` (a shell
# asking on every TAB) must start without them

log = logging.getLogger("roost.cli")
SERVE_PROMETHEUS = ("127.0.0.1", 9856)  # loopback unless the user says otherwise
NODESET_HELP = "nodes and @groups in hostlist syntax, e.g. 'n[1-4],@rack2' (default: all)"


def seconds(text: str) -> float:
    from console.collect import positive_seconds
    return positive_seconds(text)


def hostport(text: str) -> tuple[str, int]:
    from console.collect import hostport as parse
    return parse(text)


# The job queue's client commands, and the module whose register() adds each: `roost submit` in a
# shell loop (a thousand lines start Python a thousand times) builds only its own parser.
QUICK_COMMANDS = {**dict.fromkeys(("submit", "queue", "job", "cancel", "suspend", "resume"), "cli"),
                  "acct": "acct_cli", **dict.fromkeys(("bsub", "bjobs", "bkill"), "lsf_cli")}
GLOBAL_VALUED = ("-c", "--config", "--inventory", "--ssh-config", "--state-dir", "--theme")


def build_parser(only: str | None = None) -> Parser:
    """roost's parser; only=COMMAND (one of QUICK_COMMANDS): the global options and that
    command's module's parsers, nothing else imported."""
    p = Parser(prog="roost", description="Operations console for small SBC clusters.")
    p.add_argument("-c", "--config", metavar="PATH",
                   help="roost.toml (ROOST_CONFIG; default ./roost.toml, then the XDG config dir)")
    p.add_argument("--inventory", metavar="PATH", help="Ansible inventory, INI or YAML (ROOST_INVENTORY)")
    p.add_argument("--ssh-config", metavar="PATH",
                   help="OpenSSH client config (ROOST_SSH_CONFIG; default ~/.ssh/config)")
    p.add_argument("--state-dir", metavar="DIR", help="database, job files, accept-new host keys (ROOST_STATE_DIR)")
    p.add_argument("--theme", metavar="NAME", default=os.environ.get("ROOST_THEME"), help="TUI theme (ROOST_THEME)")
    p.add_argument("--version", action=_Version, help="show program's version number and exit")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log more: -v info, -vv debug (ROOST_LOG=debug|info|warning|error)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    if only in QUICK_COMMANDS:
        import importlib
        importlib.import_module(f"console.jobs.{QUICK_COMMANDS[only]}").register(sub)
        return p
    _nodes_parser(sub)
    _check_parser(sub)
    _collect_parser(sub)
    _demo_parser(sub)
    _serve_parser(sub)
    _run_parser(sub)
    _jobs_parsers(sub)
    _power_parser(sub)
    _ray_parser(sub)
    _history_parser(sub)
    _completion_parser(sub)
    return p


class _Version(argparse.Action):
    """--version, its text read (importlib.metadata: slow) only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"roost {version()}")
        parser.exit()


def quick_command(argv: Sequence[str]) -> str | None:
    """The command of argv when it is one of QUICK_COMMANDS and every word before it is a global
    option spelled out in full (anything else: None, and the whole parser decides)."""
    words = iter(argv)
    for word in words:
        if word in GLOBAL_VALUED:
            next(words, None)
        elif not (word.partition("=")[0] in GLOBAL_VALUED or word in ("-v", "-vv", "--verbose")):
            return word if word in QUICK_COMMANDS else None
    return None


def version() -> str:
    """The installed distribution's version (pyproject.toml), or "unknown" from a bare checkout."""
    from importlib.metadata import PackageNotFoundError, version as installed
    try:
        return installed("roost")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _nodes_parser(sub) -> None:
    s = sub.add_parser("nodes", help="inventory and reachability, like sinfo")
    s.add_argument("nodeset", nargs="?", metavar="NODESET", help=NODESET_HELP)
    s.add_argument("--no-check", action="store_true", help="do not try to reach the nodes")
    s.add_argument("--json", action="store_true", help="one JSON document")
    s.add_argument("--timeout", type=seconds, default=3.0, metavar="S", help="per-node SSH timeout")
    s.add_argument("--prometheus-sd", metavar="FILE|-", help="write Prometheus file_sd JSON: one "
                   "target per node on roost's endpoint (see --prometheus-address), then exit")
    s.add_argument("--prometheus-address", type=hostport, default=SERVE_PROMETHEUS,
                   metavar="HOST:PORT", help="where `roost serve`/`collect --prometheus` listens "
                   "(default %s:%d)" % SERVE_PROMETHEUS)


def _check_parser(sub) -> None:
    s = sub.add_parser("check", help="validate the config and log in to every node")
    s.add_argument("nodeset", nargs="?", metavar="NODESET", help=NODESET_HELP)
    s.add_argument("--timeout", type=seconds, default=10.0, metavar="S", help="per-node SSH timeout")


def _collect_parser(sub) -> None:
    from console.collect import add_output_arguments
    s = sub.add_parser("collect", help="headless metrics to JSONL, SQLite, Prometheus")
    s.add_argument("nodeset", nargs="?", metavar="NODESET", help=NODESET_HELP)
    add_output_arguments(s)
    g = s.add_argument_group("local sources (no SSH)")
    g.add_argument("--local", action="store_true", help="this machine, through psutil")
    g.add_argument("--procfs", metavar="DIR", help="read a procfs tree (with --sysfs)")
    g.add_argument("--sysfs", metavar="DIR", help="read a sysfs tree (with --procfs)")


def _demo_parser(sub) -> None:
    try:
        from console.demo import cli as demo_cli
    except Exception:  # noqa: BLE001 - a broken optional demo must not break every command
        return
    s = sub.add_parser("demo", help="a simulated fleet on real SSH servers, then the console")
    demo_cli.add_arguments(s)


def _serve_parser(sub) -> None:
    from console.collect import add_output_arguments
    s = sub.add_parser("serve", help="headless daemon: metrics, the job scheduler, /metrics")
    s.add_argument("nodeset", nargs="?", metavar="NODESET", help=NODESET_HELP)
    add_output_arguments(s)
    s.add_argument("--no-history", action="store_true",
                   help="keep no SQLite history (a shard that Prometheus scrapes; [serve] history)")
    s.set_defaults(log_up=True)   # listens on --prometheus, [serve] listen, else SERVE_PROMETHEUS


def _run_parser(sub) -> None:
    from console import run_cli
    s = sub.add_parser("run", help="run a command on nodes, identical outputs grouped (clush -b)",
                       usage=run_cli.USAGE, description=run_cli.__doc__.split("\n\n")[1])
    run_cli.add_arguments(s)


def _jobs_parsers(sub) -> None:
    from console.jobs import acct_cli, boinc_cli, cli as jobs_cli, lsf_cli
    jobs_cli.register(sub)
    acct_cli.register(sub)
    lsf_cli.register(sub)
    boinc_cli.register(sub)


def _power_parser(sub) -> None:
    from console.power import cli as power_cli
    s = sub.add_parser("power", help="node power: status, on, off, cycle (Slurm hostlists accepted)")
    power_cli.add_arguments(s)


def _ray_parser(sub) -> None:
    from console.ray import cli as ray_cli
    s = sub.add_parser("ray", help="a Ray cluster on the [ray] nodes: up, down, status, logs")
    ray_cli.add_arguments(s)


def _history_parser(sub) -> None:
    from console.history import cli as history_cli
    s = sub.add_parser("history", help="charts of stored history (--csv/--json to export)",
                       description=history_cli.__doc__.split("\n\n")[1])
    history_cli.add_arguments(s)


def _completion_parser(sub) -> None:
    from console import completion
    s = sub.add_parser("completion", help="print a shell completion script: bash, zsh or fish")
    completion.add_arguments(s)


def load(args: argparse.Namespace, connects: bool = True) -> Config:
    from console.config import load_config
    return load_config(args.config, inventory=args.inventory, ssh_config=args.ssh_config,
                       state_dir=args.state_dir, connects=connects)


# Job commands that only read and write the queue file (built-in backend, no --wait): they skip
# ssh_config, whose parser (asyncssh) is most of a short command's start-up
QUEUE_FILE_ONLY = ("submit", "queue", "job", "acct", "bsub", "bjobs")


def _jobs_config(args: argparse.Namespace) -> Config:
    waits = getattr(args, "wait", False) or getattr(args, "bsub_K", False)
    if args.command not in QUEUE_FILE_ONLY or waits:
        return load(args)
    config = load(args, connects=False)
    return config if config.jobs.backend == "builtin" else load(args)   # Slurm, Ray: over SSH


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["__complete"]:   # a shell asking on TAB: answer fast, build no parser
        from console.completion.engine import complete_main
        return complete_main(argv[1:])
    args = build_parser(quick_command(argv)).parse_args(argv)
    from console.config import ConfigError
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 2
    except RoostError as exc:   # anything else roost reports on purpose: one line, no traceback
        print(f"roost: {exc.one_line()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except OSError as exc:  # e.g. an unwritable state dir: say which, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"roost: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in a file
        return _internal_error(exc, args)


INTERNAL_ERROR = 70     # EX_SOFTWARE (sysexits.h)


def _internal_error(exc: BaseException, args: argparse.Namespace) -> int:
    log = _write_crash_log(exc, args)
    text = " ".join(str(exc).split())
    text = "".join(c for c in text if c.isprintable())[:200]
    details = f"details in {log}" if log else "no log could be written"
    print(f"roost: internal error: {type(exc).__name__}: {text} ({details})", file=sys.stderr)
    return INTERNAL_ERROR


def _write_crash_log(exc: BaseException, args: argparse.Namespace) -> Path | None:
    """Append the traceback to STATE_DIR/crash.log (0600, never through a symlink)."""
    import time
    import traceback

    from console import paths
    entry = (f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} roost {args.command or ''}\n"
             + "".join(traceback.format_exception(exc)))
    try:
        path = paths.ensure_state_dir(paths.state_dir(getattr(args, "state_dir", None))) / "crash.log"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8", errors="replace") as f:
            f.write(entry)
        return path
    except Exception:  # noqa: BLE001 - a full disk or a read-only home must not hide the error line
        return None


def _reader_went_away() -> int:
    """`roost nodes | head`: the reader closed our stdout. End quietly, as SIGPIPE would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())   # so the exit-time flush cannot fail again
    os.close(devnull)
    return 141


def _dispatch(args: argparse.Namespace) -> int:
    logs.to_stderr(args.verbose)
    if getattr(args, "jobs_handler", None) is not None:
        return args.jobs_handler(args, _jobs_config(args))
    command = {"nodes": cmd_nodes, "check": cmd_check, "collect": cmd_collect,
               "demo": cmd_demo, "serve": cmd_serve, "run": cmd_run, "power": cmd_power,
               "ray": cmd_ray, "completion": cmd_completion,
               "history": cmd_history}.get(args.command, cmd_console)
    return command(args)


# ---------------------------------------------------------------- commands

def cmd_console(args: argparse.Namespace) -> int:
    config = load(args)
    if config.source.prometheus:
        return _console_on_prometheus(config, args)
    if not config.nodes:
        print("roost: no nodes configured (write a roost.toml, see examples/roost.toml); "
              "try `roost demo` for a simulated fleet", file=sys.stderr)
        return 2
    try:
        from console.app import run_console
    except ImportError:
        print("roost: the console UI is not available in this build; try `roost nodes` or "
              "`roost collect`", file=sys.stderr)
        return 1
    from collectors.fleet import Fleet
    logs.to_file(config.state_dir, args.verbose)   # Textual owns the terminal from here
    return run_console(config, Fleet(config.targets()), theme=args.theme)


def _console_on_prometheus(config: Config, args: argparse.Namespace) -> int:
    """[source] prometheus: the fleet from PromQL; SSH only on demand (run, shell, power)."""
    try:
        from console.app import run_console
    except ImportError:
        print("roost: the console UI is not available in this build", file=sys.stderr)
        return 1
    from console.promfleet import open_prom_source, with_source_thresholds
    config = with_source_thresholds(config)
    return run_console(config, open_prom_source(config), theme=args.theme)


def cmd_demo(args: argparse.Namespace) -> int:
    from console.demo import cli as demo_cli
    config = load(args)
    if not args.headless:
        logs.to_file(config.state_dir, args.verbose)
    return demo_cli.run(args, config)


def cmd_collect(args: argparse.Namespace) -> int:
    from console.collect import CollectOptions, run_collect
    own_source = args.local or args.procfs or args.sysfs
    config = None if own_source and not args.nodeset else load(args)
    targets = config.targets(args.nodeset) if config else []
    history = config.history.retention() if config else None
    return run_collect(targets, CollectOptions.from_args(args, history=history))


def cmd_serve(args: argparse.Namespace) -> int:
    """collect forever (SQLite in the state dir, /metrics) and hold the job scheduler."""
    from console import paths
    from console.collect import CollectOptions, run_collect
    config = load(args)
    keep = config.serve.history and not args.no_history   # a scraped shard may keep none
    db = args.db or (str(paths.default_db(paths.ensure_state_dir(config.state_dir))) if keep else None)
    listen = args.prometheus or config.serve.listen or SERVE_PROMETHEUS
    opts = CollectOptions.from_args(args, db=db, prometheus=listen,   # a daemon keeps history
                                    history=config.history.retention(),
                                    collectors=config.serve.collectors,
                                    disable_collectors=config.serve.disable_collectors)
    targets = config.targets(args.nodeset or config.serve.nodes)   # a shard: a subset
    from console.collect import queue_series
    from console.jobs.service import jobs_db
    logs.to_file(config.state_dir, args.verbose, keep_stderr=True)
    from console.power.gauges import SchedulerRole, extras
    role = SchedulerRole() if _scheduler(config) is not None else None
    power = _power_gauges(config, {t.name for t in targets})
    extra = (queue_series(jobs_db(config)),) if role is not None else ()
    return run_collect(targets, opts, companion=_serving(config, opts, len(targets), role, power),
                       metrics_extra=extra + extras(role, power[0] if power else None))


def _power_gauges(config: Config, served: set[str]):
    """(PowerGauges, PowerService) for the served nodes that have a power table, else None; a
    power config mistake is one line and serve goes on without the power series."""
    from console.power.gauges import PowerGauges
    from console.power.service import open_service
    if not any(spec.power for spec in config.nodes if spec.name in served):
        return None
    service, problem = open_service(config)
    if service is None:
        _say(problem)
        return None
    drivers = {name: d.kind for name, d in service.drivers.items() if name in served}
    return PowerGauges(service.sequencer, drivers, config.power.status_every), service


def _serving(config: Config, opts: CollectOptions, count: int, role=None, power=None):
    """serve's companion: say what is served (once /metrics is bound), read power back, then
    schedule jobs."""
    schedule = _scheduler(config, role)
    async def companion(fleet, stop) -> None:
        import asyncio
        _say(_serve_banner(config, opts, count))
        reading = asyncio.create_task(power[0].run(stop)) if power else None
        try:
            if schedule is None:
                _say("job scheduler: none here ([jobs] backend schedules its own jobs)")
                await stop.wait()
            else:
                await schedule(fleet, stop)
        finally:
            if reading is not None:
                await reading
                await power[1].close()
    return companion


def _serve_banner(config: Config, opts: CollectOptions, count: int) -> str:
    sources = ", ".join(str(s) for s in config.sources) or "no config file"
    parts = [f"serving {_plural(count, 'node')} ({sources})"]
    if opts.prometheus:
        host, port = opts.prometheus
        parts.append(f"metrics on http://{f'[{host}]' if ':' in host else host}:{port}/metrics")
    parts.append(f"history in {opts.db}" if opts.db else "no history (Prometheus keeps it)")
    if opts.collectors is not None or opts.disable_collectors:
        from collectors.sinks.prometheus import COLLECTORS, chosen_collectors
        served = sorted(chosen_collectors(opts.collectors, opts.disable_collectors))
        parts.append(f"node targets serve {len(served)} of {len(COLLECTORS)} collectors "
                     f"({', '.join(served) or 'none'})")
    return "; ".join(parts)


def _say(text: str) -> None:
    print(f"roost: {text}", file=sys.stderr, flush=True)
    log.info(text)      # and into the state dir's roost.log (serve's stderr handler shows WARNING+)


def _scheduler(config: Config, role=None):
    if config.jobs.uses_slurm or config.jobs.uses_ray:
        return None     # Slurm or Ray schedules its own jobs: serve collects only

    def held() -> None:
        from console.jobs.service import queue_dir
        if role is not None:
            role.held = True
        _say(f"job scheduler: held by this process (queue in {queue_dir(config)})")

    def waiting() -> None:
        if role is not None:
            role.held = False
        _say("another roost holds the job scheduler; standing by to take it over when it exits")

    async def schedule(fleet, stop) -> None:
        from console.jobs.service import hold_when_free
        await hold_when_free(config, stop, fleet=fleet, on_held=held, waiting=waiting)
    return schedule


def cmd_run(args: argparse.Namespace) -> int:
    from console import run_cli
    config = load(args)
    # --job on [source] prometheus: the job's nodes may be ones only Prometheus names
    if not config.nodes and not (config.source.prometheus and args.job is not None):
        return _no_nodes(config, "run")
    return run_cli.run(args, config)


def cmd_history(args: argparse.Namespace) -> int:
    from console.history import cli as history_cli
    return history_cli.run(args, load(args))


def cmd_completion(args: argparse.Namespace) -> int:
    from console import completion
    sys.stdout.write(completion.script(args.shell, build_parser()))
    return 0


def cmd_power(args: argparse.Namespace) -> int:
    from console.power import cli as power_cli
    return power_cli.run(args, load(args))


def cmd_ray(args: argparse.Namespace) -> int:
    from console.ray import cli as ray_cli
    return ray_cli.run(args, load(args))


def cmd_nodes(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from console.collect import probe_all
    from console.tables import print_table
    config = load(args)
    if not config.nodes:
        return _no_nodes(config, "nodes")
    targets = config.targets(args.nodeset)
    if args.prometheus_sd:
        from console.collect import write_file_sd
        return write_file_sd(targets, args.prometheus_sd, args.prometheus_address)
    state = {} if args.no_check else asyncio.run(probe_all(targets, args.timeout))
    rows = [("NAME", "GROUPS", "ADDRESS", "STATE", "REASON")]
    for t in targets:
        err = state.get(t.name, "") if not args.no_check else ""
        status = "-" if args.no_check else ("local" if t.local else ("up" if err is None else "down"))
        rows.append((t.name, ",".join(t.groups) or "-", _address(t), status, err or ""))
    if args.json:
        keys = ("name", "groups", "address", "state", "reason")
        nodes = [dict(zip(keys, (r[0], list(t.groups), r[2], r[3], r[4] or None)))
                 for r, t in zip(rows[1:], targets)]
        print(json.dumps({"nodes": nodes}, indent=1))
        return 0
    print_table(rows)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio

    from console.collect import probe_all
    from console.hostlist import fold
    config = load(args)
    if not config.nodes:
        return _no_nodes(config, "check")
    sources = ", ".join(str(s) for s in config.sources) or "no config file"
    targets = config.targets(args.nodeset)
    print(f"config: {sources}: ok ({_plural(len(config.nodes), 'node')}, "
          f"{_plural(len(config.groups), 'group')})")
    from console.history.service import describe_db
    print(f"history: {describe_db(config)}")
    results = asyncio.run(probe_all(targets, args.timeout, command="true"))
    limits = _limits(config, [t for t in targets if results.get(t.name) is None and not t.local],
                     args.timeout)
    width = max((len(n) for n in results), default=0)
    for name, err in results.items():
        print(f"{name:<{width}}  {'ok' if err is None else 'FAILED: ' + err}")
    for method, names in limits.items():
        print(f"job limits ({fold(names)}): {method}")
    ssh_ok = all(err is None for err in results.values())
    return 0 if ssh_ok and _check_power(config, [t.name for t in targets]) else 1


def _limits(config: Config, targets: list, timeout: float) -> dict[str, list[str]]:
    """How the reachable nodes enforce job limits (built-in queue only): method -> nodes."""
    import asyncio
    if config.jobs.uses_slurm or config.jobs.uses_ray or not targets:
        return {}
    from console.jobs.limits import DESCRIBE
    from console.jobs.service import node_limits
    found = asyncio.run(node_limits(targets, timeout))
    out: dict[str, list[str]] = {}
    for name, method in found.items():
        out.setdefault(DESCRIBE.get(method, method), []).append(name)
    return out


def _no_nodes(config: Config, command: str) -> int:
    """Zero nodes is never "ok": say where nodes come from and where roost looked."""
    if config.sources:
        verb = "defines" if len(config.sources) == 1 else "define"
        found = f"{', '.join(str(s) for s in config.sources)} {verb} no nodes"
    else:
        from console.config import find_config_candidates
        found = f"no roost.toml ({', '.join(_shown_path(p) for p in find_config_candidates())}) and no --inventory"
    ssh = f"; ssh_config ({config.ssh.path}) only supplies settings for them" if config.ssh else ""
    print(f"roost: {command}: no nodes: {found}; nodes come from roost.toml [[nodes]] or an "
          f"Ansible inventory (--inventory){ssh} (see examples/roost.toml)", file=sys.stderr)
    return 2


def _shown_path(path) -> str:
    return str(path) if path.is_absolute() else f"./{path}"


def _check_power(config: Config, names: list[str]) -> bool:
    """Power tables valid, and every configured driver reads back (nothing is switched)."""
    import asyncio

    from console.power.service import PowerService, validate
    if not any(spec.power is not None for spec in config.nodes):
        return True
    problems = validate(config)
    for problem in problems:
        print(f"power: FAILED: {problem}")
    if problems:
        return False
    return asyncio.run(_power_status(PowerService.from_config(config), names))


async def _power_status(service, names: list[str]) -> bool:
    try:
        shown = await service.sequencer.status([n for n in names if n in service.drivers])
    finally:
        await service.close()
    width = max((len(s.node) for s in shown), default=0)
    for s in shown:
        print(f"{s.node:<{width}}  power: {'FAILED: ' if s.error else ''}{s.text}")
    return not any(s.error for s in shown)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _address(t) -> str:
    if t.local:
        return "(this host)"
    user = f"{t.user}@" if t.user else ""
    host = f"[{t.host}]" if ":" in t.host else t.host
    return f"{user}{host}:{t.port}"


if __name__ == "__main__":
    sys.exit(main())
