"""Cluster HAT / ClusterCTRL through the vendor's `clusterctrl` tool on the controller.

    clusterctrl on p2 | clusterctrl off p2 | clusterctrl status   (status prints "p2:1" lines)
clusterctrl prints nothing and exits 0 unless /etc/default/clusterctrl says TYPE=c (or cnat):
that, and its "ERROR: ..." lines, become one clear error here. For direct register access
without clusterctrl use driver = "expander", chip = "xra1200" instead.
"""
from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from console.power.base import Channel, Driver, PowerState, Runner
from console.power.spec import Field, Spec

if TYPE_CHECKING:
    from console.power.registry import Context

FIELDS = {
    "pin": Field(int, required=True, lo=1, hi=255, doc="Pi number as clusterctrl counts it (p1 = 1)"),
    "clusterctrl": Field(str, default="clusterctrl", doc="path of clusterctrl on the controller"),
}


class ClusterHatDriver(Driver):
    kind = "clusterhat"

    def __init__(self, node: str, pin: int, runner: Runner, via: str | None, tool: str,
                 timeout: float):
        super().__init__(node, via)
        self.pin, self.runner, self.tool, self.timeout = pin, runner, tool, timeout

    @property
    def channel(self) -> Channel:
        return ("clusterhat", self.via or "local", self.pin)

    def describe(self) -> str:
        return f"clusterctrl p{self.pin}" + (f" on {self.via}" if self.via else "")

    async def _run(self, *args: str) -> str:
        result = await self.runner(shlex.join([self.tool, *args]), self.timeout)
        out = (result.stdout + result.stderr).strip()
        error = next((line for line in out.splitlines() if line.startswith("ERROR")), None)
        if result.exit_status != 0 or error:
            why = error or (out.splitlines()[-1] if out else f"exit {result.exit_status}")
            raise self.error(f"clusterctrl {' '.join(args)}{self._where()}: {why}")
        return result.stdout

    def _where(self) -> str:
        return f" on {self.via}" if self.via else ""

    async def status(self) -> PowerState:
        out = await self._run("status")
        m = re.search(rf"^p{self.pin}:(\d)\s*$", out, re.M)
        if m:
            return PowerState.ON if m.group(1) == "1" else PowerState.OFF
        if not out.strip():
            raise self.error(f"clusterctrl status{self._where()} printed nothing: is TYPE=c set in "
                             f"/etc/default/clusterctrl on the controller?")
        maxpi = re.search(r"^maxpi:(\d+)", out, re.M)
        raise self.error(f"clusterctrl status{self._where()} has no p{self.pin}"
                         + (f" (maxpi is {maxpi.group(1)})" if maxpi else ""))

    async def on(self) -> None:
        await self._run("on", f"p{self.pin}")

    async def off(self) -> None:
        await self._run("off", f"p{self.pin}")


def build(node: str, spec: Spec, ctx: Context) -> ClusterHatDriver:
    via = spec.get("via")
    runner = ctx.runner_for(via) if via else ctx.local_runner
    return ClusterHatDriver(node, spec["pin"], runner, via, spec["clusterctrl"], spec["timeout"])
