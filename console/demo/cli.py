"""`roost demo`: start the simulated fleet, then the console on it (or headless collection).

    roost demo [--nodes N] [--profile NAME|mixed] [--seed S] [--steady] [--drop-every S]
               [--boot-delay S]
               [--write-inventory FILE] [--headless + `roost collect`'s output options]

The fleet runs in this process, in the same event loop as roost (collection's or the console's);
roost reaches it through the normal transport with the demo's key and known_hosts. Headless output
with no output option goes to a SQLite file in the demo's state dir, never into the real fleet's
history.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import replace
from pathlib import Path

from console.demo.boards import PROFILES

MAX_NODES = 5000


def _nodes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_NODES:
        raise argparse.ArgumentTypeError(f"expected a whole number 1..{MAX_NODES}, got {text!r}")
    return value


def _profile(text: str) -> str:
    if text != "mixed" and text not in PROFILES:
        raise argparse.ArgumentTypeError(
            f"unknown profile {text!r}: expected mixed or one of {', '.join(sorted(PROFILES))}")
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds 0..3600, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("simulated fleet")
    g.add_argument("--nodes", type=_nodes, default=10, metavar="N", help="how many nodes (10)")
    g.add_argument("--profile", type=_profile, default="mixed", metavar="NAME|mixed",
                   help=f"board profile: mixed (default) or {', '.join(sorted(PROFILES))}")
    g.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (0)")
    g.add_argument("--steady", action="store_true", help="no random node drop-offs")
    g.add_argument("--drop-every", type=_seconds, default=60.0, metavar="S",
                   help="mean seconds between random drop-offs across the fleet (60; 0 = none)")
    g.add_argument("--boot-delay", type=_seconds, default=3.0, metavar="S",
                   help="seconds a powered-on node takes to boot (3)")
    g.add_argument("--headless", action="store_true", help="collect without the console")
    g.add_argument("--write-inventory", metavar="FILE",
                   help="also write a roost.toml (and FILE's .known_hosts) for other roost commands")
    try:
        from console.collect import add_output_arguments
    except ImportError:
        return
    add_output_arguments(parser)


def run(args: argparse.Namespace, config) -> int:
    from console.demo.fleet import DemoFleet
    fleet = DemoFleet(args.nodes, profile=args.profile, seed=args.seed, steady=args.steady,
                      state_dir=Path(config.state_dir) / "demo", boot_delay=args.boot_delay,
                      drop_every=args.drop_every,
                      interval=getattr(args, "interval", None) or 1.0)
    try:
        fleet.prepare()   # keys, bound ports, known_hosts: targets exist before any loop runs
    except (OSError, ValueError) as exc:
        _note(f"demo fleet failed to start: {exc}")
        return 1
    try:
        return _after_prepare(args, config, fleet)
    except OSError as exc:
        _note(f"demo: {exc.strerror or exc}: {exc.filename or ''}")
        return 1
    finally:
        fleet.cleanup()


def _after_prepare(args: argparse.Namespace, config, fleet) -> int:
    ports = sorted(t.port for t in fleet.targets())
    _note(f"demo: {len(ports)} simulated nodes on 127.0.0.1 ports {ports[0]}..{ports[-1]} "
          f"(state in {fleet.state_dir})")
    from console.demo.inventory import write_inventory
    inventory = write_inventory(
        fleet, Path(args.write_inventory) if args.write_inventory else fleet.state_dir / "roost.toml")
    if args.write_inventory:
        _note(f"demo: inventory written to {inventory} (use --config {inventory})")
    if args.headless or not _console_available():
        if not args.headless:
            _note("demo: the console UI is not available in this build; running headless")
        return _headless(args, fleet)
    return _console(args, config, fleet, inventory)


def _headless(args: argparse.Namespace, fleet) -> int:
    """roost collect's own loop, with the simulator serving in that same loop beside it."""
    from console.collect import CollectOptions, run_collect
    from console.demo.source import companion
    opts = CollectOptions.from_args(args)
    if not (opts.db or opts.jsonl or opts.prometheus or opts.format):
        opts = dataclasses.replace(opts, db=str(fleet.state_dir / "roost.db"))
    return run_collect(fleet.targets(), opts, companion=companion(fleet))


def _console_available() -> bool:
    try:
        from console.app import run_console  # noqa: F401
    except ImportError:
        return False
    return True


def _console(args: argparse.Namespace, config, fleet, inventory: Path) -> int:
    """The console on the demo: simulator, roost's Fleet and the TUI share Textual's loop."""
    from collectors.fleet import Fleet
    from console.app import run_console
    from console.config import load_config
    from console.demo.source import DemoSource
    demo_config = load_config(inventory, state_dir=fleet.state_dir)
    demo_config = replace(demo_config, theme=config.theme, keymap=config.keymap,
                          thresholds=config.thresholds)
    source = DemoSource(fleet, Fleet(demo_config.targets()))
    return run_console(demo_config, source, theme=args.theme, power=_power(demo_config))


def _power(demo_config):
    """Power through the running demo's channels (the inventory's command tables), timed for a
    demo: a short grace after SSH goes away, a quick stagger."""
    from console.power.sequence import Timing
    from console.power.service import open_service
    return open_service(demo_config, Timing(stagger=0.5, grace=1.0))[0]


def _note(text: str) -> None:
    print(f"roost: {text}", file=sys.stderr, flush=True)
