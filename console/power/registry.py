"""From a node's raw `power` table to a Driver: pick the driver module, validate, build.

Driver modules are imported only when a node uses them, so a console without pyghmi or httpx
still starts; a missing library is a config error naming the package. Each module provides
FIELDS (its keys, see spec.Field) and build(node, spec, ctx) -> Driver.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

from console.power.base import Driver, PowerConfigError, Runner, local_runner
from console.power.bus import Opener
from console.power.spec import COMMON, Field, Spec, parse

if TYPE_CHECKING:
    from gpiod import LineSettings
    from gpiod.line import Value

DRIVERS = {
    "expander": ("console.power.expander", None),
    "gpio": ("console.power.gpio", None),
    "clusterhat": ("console.power.clusterhat", None),
    "turingpi": ("console.power.turingpi", "httpx"),
    "ipmi": ("console.power.ipmi", "pyghmi"),
    "redfish": ("console.power.redfish", "httpx"),
    "plug": ("console.power.plug", "httpx"),
    "command": ("console.power.command", None),
    "wol": ("console.power.wol", None),
    "demo": ("console.demo.power", None),       # the simulated fleet's channels
}


class Lines(Protocol):
    """An open line request: gpiod.LineRequest (the tests' line model has the same methods)."""

    def get_value(self, line: int | str) -> Value: ...
    def set_value(self, line: int | str, value: Value) -> None: ...
    def release(self) -> None: ...
    def __enter__(self) -> Lines: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None: ...


class Gpiod(Protocol):
    """What the driver uses of the gpiod module (libgpiod v2), or of a line model."""

    def request_lines(self, path: str,
                      config: dict[Iterable[int | str] | int | str, LineSettings | None],
                      consumer: str | None = None) -> Lines: ...


class DriverModule(Protocol):
    """What each module DRIVERS names provides."""
    FIELDS: Mapping[str, Field]

    def build(self, node: str, spec: Spec, ctx: Context) -> Driver: ...


def _no_ssh(via: str) -> Runner:
    raise PowerConfigError(f"power via {via}: no SSH connection available to reach it")


@dataclass
class Context:
    """What drivers need from the outside world; tests inject lab-backed pieces."""
    runner_for: Callable[[str], Runner] = _no_ssh      # controller node name -> Runner
    local_runner: Runner = local_runner
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    i2c_opener: Opener | None = None                   # bus number -> smbus2.SMBus-like
    gpio: Gpiod | None = None                          # gpiod-like module (tests: a line model)
    demo: Any = None                                   # a DemoFleet for driver = "demo"


def driver_module(node: str, raw: Mapping[str, Any]) -> DriverModule:
    kind = raw.get("driver") if isinstance(raw, Mapping) else None
    if not isinstance(kind, str) or kind not in DRIVERS:
        known = ", ".join(DRIVERS)
        got = "missing" if kind is None else repr(kind)
        raise PowerConfigError(f"node {node}: power.driver: expected one of {known}, got {got}")
    module, package = DRIVERS[kind]
    try:
        return cast(DriverModule, importlib.import_module(module))   # FIELDS and build
    except ImportError as e:
        if package and package in str(e):
            raise PowerConfigError(f"node {node}: power.driver: {kind} needs the Python package "
                                   f"{package} (pip install {package})") from None
        raise


def build_driver(node: str, raw: Mapping[str, Any], ctx: Context | None = None,
                 index: int | None = None) -> Driver:
    """A ready driver for node from its raw power table, or PowerConfigError (one line)."""
    if not isinstance(raw, Mapping):
        raise PowerConfigError(f"node {node}: power: expected a table, got {type(raw).__name__}")
    module = driver_module(node, raw)
    spec = parse(node, raw, module.FIELDS, index)
    if spec.get("via") and not getattr(module, "VIA", True):
        raise spec.fail("via", f"{raw['driver']} talks to its device from the console's host; "
                               f"via is not supported")
    driver = module.build(node, spec, ctx or Context())
    driver.shared = spec["shared"]
    driver.options = {key: spec[key] for key in COMMON}
    return driver


def check_channels(drivers: Iterable[Driver]) -> None:
    """Two nodes on one output (same expander pin, same plug, same BMC slot) is a config mistake
    unless every one of them says shared = true: cutting it would take the others down too."""
    users: dict[object, list[Driver]] = {}
    for d in drivers:
        key = getattr(d, "channel", None)
        if key is not None:
            users.setdefault(key, []).append(d)
    for ds in users.values():
        if len(ds) > 1 and not all(getattr(d, "shared", False) for d in ds):
            names = ", ".join(d.node for d in ds)
            raise PowerConfigError(f"nodes {names}: power: all use {ds[0].describe()}; one output "
                                   f"can power only one node unless each says shared = true")


def sharers(driver: Driver, drivers: Iterable[Driver]) -> list[str]:
    """Other nodes fed by the same output as driver (only when shared = true)."""
    key = getattr(driver, "channel", None)
    return [d.node for d in drivers if d is not driver and key is not None
            and getattr(d, "channel", None) == key]
