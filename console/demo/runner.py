"""Run a DemoFleet on its own event loop in a background thread of this process.

`roost collect`'s loop and the Textual app each own the main thread's loop, so the simulated
fleet gets a loop of its own beside them: still one process, and its CPU time is measurable on
its own (cpu_seconds) so the simulator's share and the console's can be reported apart.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any

from console.demo.fleet import DemoFleet


class FleetThread:
    def __init__(self, fleet: DemoFleet):
        self.fleet = fleet
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="roost-demo", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 120.0) -> DemoFleet:
        """Start the loop and the fleet; returns once every node listens (or raises)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"demo fleet did not start within {timeout:g} s")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.fleet

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.fleet.start())
        except BaseException as exc:  # handed to the caller of start()
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = 60.0) -> Any:
        """Run a coroutine on the fleet's loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def power(self, name: str) -> PowerProxy:
        """The node's power channel, usable from another thread's event loop."""
        self.fleet.power(name)  # unknown names fail here, in the caller's thread
        return PowerProxy(self, name)

    def cpu_seconds(self) -> float:
        """CPU time this thread (the whole simulator) has used."""
        assert self._thread.ident is not None, "the simulator thread has started"
        clock = time.pthread_getcpuclockid(self._thread.ident)
        return time.clock_gettime(clock)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self.fleet.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)


class PowerProxy:
    """DemoPowerChannel's async API, each call run on the fleet's own loop."""

    def __init__(self, runner: FleetThread, name: str):
        self._runner, self._name = runner, name

    async def _do(self, method: str, *args):
        channel = self._runner.fleet.power(self._name)
        future = asyncio.run_coroutine_threadsafe(getattr(channel, method)(*args),
                                                  self._runner._loop)
        return await asyncio.wrap_future(future)

    async def status(self) -> str:
        return await self._do("status")

    async def on(self) -> None:
        await self._do("on")

    async def off(self) -> None:
        await self._do("off")

    async def cycle(self) -> None:
        await self._do("cycle")

    async def wait_settled(self) -> None:
        await self._do("wait_settled")
