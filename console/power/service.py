"""Power for a whole configured fleet: drivers from every node's `power` table, SSH access for
controllers and reachability, and the Sequencer on top, paced by [power]. The CLI and the TUI
both start here (the TUI through open_service, which never raises).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.power.base import CommandResult, Driver, PowerConfigError, PowerError
from console.power.registry import Context, build_driver, check_channels
from console.power.sequence import DEFAULT_SHUTDOWN, PowerNode, Sequencer, Timing
from console.power.ssh import SshAccess

if TYPE_CHECKING:
    from console.config import Config, PowerConfig


@dataclass
class PowerService:
    sequencer: Sequencer
    access: SshAccess
    drivers: dict[str, Driver]

    @classmethod
    def from_config(cls, config: Config, *, timing: Timing | None = None, demo: Any = None,
                    access: SshAccess | None = None) -> PowerService:
        """Build every node's driver (all of them: refusals need to know who drives whom).
        Config mistakes raise PowerConfigError naming the node and key; nothing is switched."""
        access = access or SshAccess({spec.name: config.target(spec) for spec in config.nodes})
        ctx = Context(runner_for=access.runner_for, demo=demo)
        drivers: dict[str, Driver] = {}
        nodes: dict[str, PowerNode] = {}
        for spec in config.nodes:
            if spec.power is None:
                continue
            driver = build_driver(spec.name, spec.power, ctx, index=spec.index)
            drivers[spec.name] = driver
            nodes[spec.name] = PowerNode(spec.name, driver, role=spec.role, local=spec.local,
                                         shutdown=_shutdown(driver))
        check_channels(drivers.values())
        timing = timing or timing_of(config.power)
        return cls(Sequencer(nodes, access, timing), access, drivers)

    def require(self, names: list[str]) -> None:
        missing = [n for n in names if n not in self.drivers]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise PowerConfigError(f"node {missing[0]}{more}: no power table in the config "
                                   f"(add power = {{ driver = ... }} to its [[nodes]] entry)")

    async def close(self) -> None:
        for driver in self.drivers.values():
            await driver.close()
        await self.access.close()


def timing_of(power: PowerConfig) -> Timing:
    """The sequences' pacing from the config's [power] section."""
    return Timing(stagger=power.stagger, shutdown_timeout=power.shutdown_timeout,
                  boot_timeout=power.boot_timeout, grace=power.grace)


def open_service(config: Config, timing: Timing | None = None) -> tuple[PowerService | None, str]:
    """The console's PowerService from config, or (None, why not) — never raises: a power
    config mistake disables power in the console (with a notice), not the console itself."""
    if not any(spec.power for spec in config.nodes):
        return None, ""
    try:
        return PowerService.from_config(config, timing=timing), ""
    except Exception as e:  # PowerConfigError, a missing optional library ...
        return None, f"power disabled: {e}"


def validate(config: Config) -> list[str]:
    """Every power-table problem in config, one line each (for `roost check`); switches nothing
    and contacts no hardware."""
    problems: list[str] = []
    drivers: list[Driver] = []
    ctx = Context(runner_for=lambda via: _unused)
    for spec in config.nodes:
        if spec.power is None:
            continue
        try:
            drivers.append(build_driver(spec.name, spec.power, ctx, index=spec.index))
        except PowerConfigError as e:
            problems.append(str(e))
        except ImportError as e:   # optional driver library missing on this host
            problems.append(f"node {spec.name}: power.driver: {e}")
    known = {spec.name for spec in config.nodes}
    for d in drivers:
        if d.via and d.via not in known:
            problems.append(f"node {d.node}: power.via: no node named {d.via!r} in the config")
    try:
        check_channels(drivers)
    except PowerConfigError as e:
        problems.append(str(e))
    return problems


async def _unused(command: str, timeout: float) -> CommandResult:
    raise PowerError("validation never runs commands")


def _shutdown(driver: Driver) -> str | None:
    if driver.kind == "demo":       # demo nodes run commands on this very host: never poweroff
        return None
    return driver.options.get("shutdown") or DEFAULT_SHUTDOWN
