"""IPMI BMCs over RMCP+ with pyghmi (no ipmitool: its -P would put the password in argv).

pyghmi is blocking with its own I/O thread; every call runs in a worker thread under a deadline
so a BMC that does not answer becomes one error line instead of a hang. soft() is the chassis
"soft off" (ACPI power button): the OS shuts down in order where the board supports it.
"""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from console.power import credentials
from console.power.base import Channel, Driver, PowerState, in_thread
from console.power.credentials import Secret
from console.power.spec import Field, Spec

if TYPE_CHECKING:
    from console.power.registry import Context

VIA = False   # reached from the console's host, never through a controller

FIELDS = {
    "host": Field(str, required=True, doc="BMC address"),
    "port": Field(int, default=623, lo=1, hi=65535),
    **credentials.FIELDS,
}

Reply = dict[str, Any]   # what pyghmi's Command methods return


class IpmiCommand(Protocol):
    """The methods of pyghmi.ipmi.command.Command this driver calls."""

    def get_power(self) -> Reply: ...
    def set_power(self, powerstate: str, wait: bool = False) -> Reply: ...
    def raw_command(self, netfn: int, command: int, data: Sequence[int] = ()) -> Reply: ...


CHASSIS_CYCLE = 0x02   # IPMI chassis control: power cycle (netfn chassis 0x00, command 0x02)

# pyghmi keeps one session per BMC in the process, and a second Command for a BMC whose session
# is alive never finishes logging in: every driver for a BMC shares one Command.
_commands: dict[tuple[str, int, str, str], IpmiCommand] = {}


class IpmiDriver(Driver):
    kind = "ipmi"
    has_soft = True

    def __init__(self, node: str, host: str, port: int, user: str, password: Secret,
                 timeout: float):
        super().__init__(node)
        self.host, self.port, self.user = host, port, user
        self._password, self.timeout = password, timeout

    @property
    def channel(self) -> Channel:
        return ("ipmi", self.host, self.port)

    def describe(self) -> str:
        return f"ipmi {self.host}:{self.port}"

    @property
    def _key(self) -> tuple[str, int, str, str]:
        digest = hashlib.sha256(self._password.reveal().encode()).hexdigest()
        return (self.host, self.port, self.user, digest)

    def _command(self) -> IpmiCommand:
        from pyghmi.ipmi.command import Command
        cmd = _commands.get(self._key)
        if cmd is None:
            cmd = _commands[self._key] = Command(bmc=self.host, port=self.port, userid=self.user,
                                                 password=self._password.reveal())
        return cmd

    def _forget(self) -> None:
        """A failed session is not reused (pyghmi drops broken ones when asked for a new one)."""
        _commands.pop(self._key, None)

    async def _call(self, call: Callable[[IpmiCommand], Reply]) -> Reply:
        from pyghmi.exceptions import IpmiException

        def work() -> Reply:
            return call(self._command())
        try:
            return await in_thread(work, self.timeout)
        except TimeoutError:
            self._forget()
            raise self.error(f"BMC {self.host}:{self.port} did not answer within {self.timeout:g}s") from None
        except IpmiException as e:
            self._forget()
            raise self.error(f"BMC {self.host}:{self.port}: {_clean(e, self._password)}") from None

    async def status(self) -> PowerState:
        state = (await self._call(lambda c: c.get_power())).get("powerstate")
        return {"on": PowerState.ON, "off": PowerState.OFF}.get(str(state), PowerState.UNKNOWN)

    async def on(self) -> None:
        await self._call(lambda c: c.set_power("on", wait=False))
        await self._settle(PowerState.ON)

    async def off(self) -> None:
        await self._call(lambda c: c.set_power("off", wait=False))
        await self._settle(PowerState.OFF)

    async def _settle(self, want: PowerState) -> None:
        """Poll the BMC until it reports want (pyghmi's own wait polls once a second)."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        while (state := await self.status()) is not want:
            if asyncio.get_running_loop().time() > deadline:
                raise self.error(f"BMC {self.host}:{self.port} still reports {state} "
                                 f"{self.timeout:g}s after power {want}")
            await asyncio.sleep(0.05)

    async def soft(self) -> None:
        await self._call(lambda c: c.set_power("shutdown", wait=False))

    async def cycle(self) -> None:
        """The BMC's own power cycle (off, its interval, on); from off it just powers on."""
        if await self.status() is PowerState.OFF:
            return await self.on()
        rsp = await self._call(lambda c: c.raw_command(netfn=0x00, command=0x02,
                                                       data=[CHASSIS_CYCLE]))
        if rsp.get("error"):
            raise self.error(f"BMC {self.host}:{self.port}: power cycle refused: {rsp['error']}")


def _clean(e: Exception, password: Secret) -> str:
    """pyghmi's message, never with the password in it."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text.replace(password.reveal(), "***") if password.reveal() else text


def build(node: str, spec: Spec, ctx: Context) -> IpmiDriver:
    user = spec.get("user")
    if not user:
        raise spec.fail("user", "required for ipmi (the BMC login name)")
    password = credentials.password(spec, ctx.env)
    return IpmiDriver(node, spec["host"], spec["port"], user, password, spec["timeout"])
