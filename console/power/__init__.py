"""Node power: one driver interface over expanders, GPIO, BMCs, plugs and commands, and the safe
sequences on top. UI-free: the CLI (`roost power`), `roost serve` and the TUI all use this.

    from console.power import PowerService, Timing
    service = PowerService.from_config(config)          # every node's `power` table, validated
    shown = await service.sequencer.status(["n1"])       # read-back + reachability
    outcomes = await service.sequencer.off(["n1"])       # SSH shutdown, wait, cut
    await service.close()

Imports here stay standard-library only (the tests' i2c stand-ins on lab nodes import
console.power.chips with the system Python); PowerService is loaded on first use.
"""
from __future__ import annotations

from console.power.base import Driver, PowerConfigError, PowerError, PowerState
from console.power.registry import DRIVERS, Context, build_driver, check_channels
from console.power.sequence import Outcome, PowerNode, Sequencer, Shown, Timing

__all__ = ["Context", "DRIVERS", "Driver", "Outcome", "PowerConfigError", "PowerError", "PowerNode",
           "PowerService", "PowerState", "Sequencer", "Shown", "Timing", "build_driver",
           "check_channels", "validate"]


def __getattr__(name: str) -> object:
    if name in ("PowerService", "validate"):
        from console.power import service
        return getattr(service, name)
    raise AttributeError(name)
