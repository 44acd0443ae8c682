"""`roost power status|on|off|cycle NODESET [--hard] [--yes] [--force]`.

NODESET is a Slurm/ClusterShell hostlist (`n[1-4]`, `@rack1`), so roost can be Slurm's
ResumeProgram/SuspendProgram (see console/power/SLURM.md). Output is one line per node; status
folds nodes with the same state (`p[1-3]: on`), and a node without a power table is listed as
`no power driver` (on/off/cycle refuse such a node: exit 2). The exit status (EXIT_STATUS) is
in --help and the README.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from typing import TYPE_CHECKING, Any, TextIO

from console.power.base import PowerError
from console.power.sequence import Outcome, Sequencer, Shown, Timing

if TYPE_CHECKING:
    from console.config import Config, PowerConfig
    from console.power.service import PowerService

ACTIONS = ("status", "on", "off", "cycle")
REFUSED = 3
NO_DRIVER = "no power driver"
EXIT_STATUS = """exit status:
  0  done: every node switched, or (status) every power table read back; nodes without
     one are listed as `no power driver` and do not fail a status
  1  a node failed to switch, or its power could not be read back
  2  bad arguments or config; on/off/cycle of a node without a power table
  3  refused: a controller or the console's host without --force, or a group without
     --yes and no terminal to ask"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_STATUS
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("power_action", choices=ACTIONS, metavar="ACTION", help="status, on, off or cycle")
    # Required on purpose: an optional positional after ACTION would swallow nothing and leave
    # `power off --yes n1` with n1 unrecognized (argparse matches adjacent positionals together).
    parser.add_argument("power_nodes", metavar="NODESET",
                        help="nodes or @groups in hostlist syntax, e.g. n[1-4] or @rack1")
    parser.add_argument("--hard", action="store_true", help="cut power at once (no OS shutdown)")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before a group action")
    parser.add_argument("--force", action="store_true",
                        help="allow powering off a controller or the console's own host")
    parser.add_argument("--stagger", type=_seconds, metavar="S",
                        help="seconds between power-ons (limits inrush; [power] stagger, 1)")
    parser.add_argument("--boot-timeout", type=_seconds, metavar="S",
                        help="how long `on` waits for SSH ([power] boot_timeout, 180)")
    parser.add_argument("--shutdown-timeout", type=_seconds, metavar="S",
                        help="how long `off` waits for the OS to stop answering "
                             "([power] shutdown_timeout, 120)")
    parser.add_argument("--grace", type=_seconds, metavar="S",
                        help="after SSH stops answering, let the OS finish halting "
                             "([power] grace, 5)")


def timing(args: argparse.Namespace, power: PowerConfig) -> Timing:
    """The config's [power] pacing, with any flag given on the command line taking over."""
    from console.power.service import timing_of
    flags = {key: getattr(args, key) for key in ("stagger", "boot_timeout", "shutdown_timeout",
                                                  "grace") if getattr(args, key) is not None}
    return dataclasses.replace(timing_of(power), **flags)


def _seconds(text: str) -> float:
    """0 to a day, finite: nan or inf would reach a sleep or a deadline."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:      # false for nan too
        raise argparse.ArgumentTypeError(f"expected 0-86400 seconds, got {text!r}")
    return value


def run(args: argparse.Namespace, config: Config, *, demo: Any = None,
        stdin: TextIO | None = None,
        out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one power command on config's nodes; returns the exit status."""
    from console.config import ConfigError
    from console.power.service import PowerService
    out, err, stdin = out or sys.stdout, err or sys.stderr, stdin or sys.stdin
    try:
        service = PowerService.from_config(config, timing=timing(args, config.power), demo=demo)
        names = _names(args, config, service)
    except (PowerError, ConfigError) as e:
        print(f"roost: {e}", file=err)
        return 2
    return asyncio.run(_main(args, service, names, stdin, out, err))


def _names(args: argparse.Namespace, config: Config, service: PowerService) -> list[str]:
    names = [spec.name for spec in config.select(args.power_nodes)]
    if args.power_action != "status":   # status lists a node without a driver; it never switches
        service.require(names)
    return names


async def _main(args: argparse.Namespace, service: PowerService, names: list[str],
                stdin: TextIO, out: TextIO, err: TextIO) -> int:
    try:
        refused = _refuse(args, service, names, stdin, err)
        if refused is not None:
            return refused
        if args.power_action == "status":
            shown = await service.sequencer.status([n for n in names if n in service.drivers])
            _print_status(names, shown, out)
            return 1 if any(s.error for s in shown) else 0
        outcomes = await _act(args, service.sequencer, names)
        for o in outcomes:
            print(_outcome_line(o), file=out if o.ok else err)
        return 0 if all(o.ok for o in outcomes) else 1
    finally:
        await service.close()


def _refuse(args: argparse.Namespace, service: PowerService, names: list[str], stdin: TextIO,
            err: TextIO) -> int | None:
    why = service.sequencer.refusals(names, args.power_action, args.force)
    if why:
        for line in why:
            print(f"roost: refusing to power {args.power_action} {line} (use --force)", file=err)
        return REFUSED
    if args.power_action == "status" or len(names) < 2 or args.yes:
        return None
    return None if _confirm(args.power_action, names, stdin, err) else REFUSED


def _confirm(action: str, names: list[str], stdin: TextIO, err: TextIO) -> bool:
    what = f"power {action} {len(names)} nodes ({_fold(names)})"
    if not stdin.isatty():
        print(f"roost: refusing to {what} without --yes (no terminal to ask)", file=err)
        return False
    print(f"{what[0].upper()}{what[1:]}? [y/N] ", end="", file=err, flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


async def _act(args: argparse.Namespace, seq: Sequencer, names: list[str]) -> list[Outcome]:
    if args.power_action == "on":
        return await seq.on(names)
    if args.power_action == "off":
        return await seq.off(names, hard=args.hard)
    return await seq.cycle(names, hard=args.hard)


def _outcome_line(o: Outcome) -> str:
    took = f" ({o.seconds:.1f}s)" if o.action == "off" and o.seconds >= 0.05 else ""
    if o.ok:
        return f"{o.node}: {o.action}: {o.message}{took}"
    msg = o.message.removeprefix(f"node {o.node}: ")
    return f"roost: {o.node}: {o.action} failed: {msg}"


def _print_status(names: list[str], shown: list[Shown], out: TextIO) -> None:
    """One line per state, `NODESET: state`, in the order the nodes were named."""
    text = {s.node: s.text for s in shown}
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(text.get(name, NO_DRIVER), []).append(name)
    from console.tables import clean
    for state, nodes in groups.items():   # a BMC's or a command's words: no control characters
        print(f"{_fold(nodes)}: {clean(state)}", file=out)


def _fold(names: list[str]) -> str:
    from console.hostlist import fold
    return fold(names)
