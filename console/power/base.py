"""The one driver interface every power backend implements, and its value types. UI-free.

A driver switches one node's power through one piece of hardware (an expander pin, a BMC, a
plug ...). It knows nothing about SSH reachability or safe sequences: console.power.sequence
adds those on top. Every driver method is async; blocking libraries run in a worker thread.
"""
from __future__ import annotations

import asyncio
import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from console.errors import RoostError

T = TypeVar("T")


class PowerError(RoostError):
    """One line naming the node, the driver and what went wrong."""


class PowerConfigError(PowerError):
    """A node's `power` table is wrong: 'node n3: power.pin: expected ...'."""


class PowerState(enum.Enum):
    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


Channel = tuple[object, ...]   # the output a driver switches (pin, plug relay, BMC ...): compared

# A command runner executes one shell command line (already quoted) somewhere: on the console's
# own host or on a controller node over SSH. Tests inject one backed by a lab node.
Runner = Callable[[str, float], Awaitable[CommandResult]]


async def local_runner(command: str, timeout: float) -> CommandResult:
    """Run a shell command line on the console's own host."""
    proc = await asyncio.create_subprocess_shell(
        command, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise PowerError(f"command timed out after {timeout:g}s: {command.split()[0]}") from None
    code = proc.returncode if proc.returncode is not None else -1   # set once communicate() ends
    return CommandResult(code, out.decode(errors="replace"), err.decode(errors="replace"))


async def in_thread(fn: Callable[[], T], timeout: float) -> T:
    """Run a blocking call in a daemon thread under a deadline. Not the loop's default executor:
    a call stuck past its deadline (a BMC that never answers) must not hold up loop shutdown."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.done():
            outcome()

    def work() -> None:
        outcome: Callable[[], None]
        try:
            outcome = partial(done.set_result, fn())
        except BaseException as e:  # handed to the awaiting task, not lost in the thread
            outcome = partial(done.set_exception, e)
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:         # the loop closed while we were blocked: nobody waits
            pass

    threading.Thread(target=work, daemon=True, name="roost-power").start()
    return await asyncio.wait_for(done, timeout)


class Driver(ABC):
    """Power control of one node. `kind` is the config name ("expander", "ipmi" ...).

    off() cuts power at once; soft() asks the hardware for an orderly shutdown (ACPI button
    through a BMC) and is only offered where has_soft is True. `via` names the controller node
    a driver acts through (its power must not be cut by accident).
    """
    kind: str = ""
    has_soft: bool = False
    readback: bool = True       # status() reads the hardware (Wake-on-LAN cannot)
    can_cut: bool = True        # off() can remove power (Wake-on-LAN cannot)
    shared: bool = False
    options: dict[str, Any] = {}   # the power table's common keys (shutdown, timeout ...)

    def __init__(self, node: str, via: str | None = None):
        self.node = node
        self.via = via

    @abstractmethod
    async def status(self) -> PowerState: ...

    @abstractmethod
    async def on(self) -> None: ...

    @abstractmethod
    async def off(self) -> None: ...

    async def cycle(self) -> None:
        """Off then on; drivers with a native cycle override this."""
        await self.off()
        await self.on()

    async def soft(self) -> None:
        raise self.error(f"{self.kind} has no soft shutdown; use an SSH shutdown instead")

    def describe(self) -> str:
        return self.kind + (f" via {self.via}" if self.via else "")

    def error(self, what: str) -> PowerError:
        return PowerError(f"node {self.node}: power {self.kind}: {what}")

    async def close(self) -> None:  # noqa: B027 - a default, not abstract
        """Release connections; drivers holding none need not override."""
