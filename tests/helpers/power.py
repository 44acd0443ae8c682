"""Power stand-ins for console tests: fast timings, a driver that reports a fixed state, and
reachability decided by the test (no network)."""
from __future__ import annotations

from console.power.base import Driver, PowerError, PowerState
from console.power.sequence import Timing

FAST = Timing(stagger=0.2, shutdown_timeout=5, boot_timeout=15, grace=0.0, poll=0.05,
              probe_timeout=2)


class NoReach:
    async def reachable(self, name, timeout=3.0):
        return False

    async def shutdown(self, name, command, timeout=15.0):
        raise PowerError(f"node {name}: cannot")

    async def close(self):
        pass


class FixedDriver(Driver):
    kind = "plug"

    def __init__(self, node: str, state: PowerState):
        super().__init__(node)
        self.state = state

    async def status(self) -> PowerState:
        return self.state

    async def on(self) -> None: ...

    async def off(self) -> None: ...


class FixedReach(NoReach):
    def __init__(self, up: set[str]):
        self.up = up

    async def reachable(self, name, timeout=3.0):
        return name in self.up
