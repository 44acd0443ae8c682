"""Where an event-loop stall comes from, for the console benchmarks (bench_scale --stalls MS).

    with StallTrace(300, path) as trace:     # inside a running event loop
        ...
    print(trace.report())

A timer on the loop re-arms faulthandler's watchdog every 20 ms: when the loop has not come
back for MS milliseconds, the watchdog (a C thread that needs no GIL) writes every thread's
stack, the one holding the GIL marked "Current thread", while the stall is still going on. A
gc callback notes every collection over 10 ms (generation, length, the thread that ran it: a
pass in any thread holds the GIL). The report lists each stall with the GC passes that overlap
it and the stacks taken during it.
"""
from __future__ import annotations

import asyncio
import faulthandler
import gc
import threading
import time
from pathlib import Path

REARM = 0.020
GC_NOTED_MS = 10.0


class StallTrace:
    def __init__(self, threshold_ms: float, path: Path) -> None:
        self.threshold = threshold_ms / 1000
        self.path = path
        self.stalls: list[tuple[float, float]] = []          # (start, ms) loop stalls >= threshold/2
        self.gcs: list[tuple[float, float, int, str, int]] = []   # (start, ms, gen, thread, collected)
        self._gc_t0: dict[int, float] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._last = 0.0
        self.t0 = time.perf_counter()

    def __enter__(self) -> StallTrace:
        self._fh = open(self.path, "w+")
        gc.callbacks.append(self._gc)
        self._last = time.perf_counter()
        self._arm()
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.cancel()
        faulthandler.cancel_dump_traceback_later()
        gc.callbacks.remove(self._gc)
        self._fh.flush()

    def _arm(self) -> None:
        now = time.perf_counter()
        late = now - self._last - REARM
        if late >= self.threshold / 2:
            self.stalls.append((self._last + REARM - self.t0, late * 1000))
            self._fh.write(f"\n== loop back after {late * 1000:.0f} ms late, at "
                           f"{now - self.t0:.3f} s\n")
            self._fh.flush()
        self._last = now
        faulthandler.dump_traceback_later(self.threshold, file=self._fh)
        self._handle = asyncio.get_running_loop().call_later(REARM, self._arm)

    def _gc(self, phase: str, info: dict) -> None:
        ident = threading.get_ident()
        if phase == "start":
            self._gc_t0[ident] = time.perf_counter()
            return
        t0 = self._gc_t0.pop(ident, None)
        if t0 is None:
            return
        ms = (time.perf_counter() - t0) * 1000
        if ms >= GC_NOTED_MS:
            self.gcs.append((t0 - self.t0, ms, info.get("generation", -1),
                             threading.current_thread().name, info.get("collected", 0)))

    def report(self) -> str:
        out = [f"stalls over {self.threshold * 500:.0f} ms: {len(self.stalls)}; "
               f"GC passes over {GC_NOTED_MS:.0f} ms: {len(self.gcs)}"]
        for at, ms in self.stalls:
            out.append(f"  stall at {at:8.3f} s: {ms:6.0f} ms late")
            for g_at, g_ms, gen, thread, collected in self.gcs:
                if at - 0.05 <= g_at <= at + ms / 1000:
                    out.append(f"      gc gen {gen} at {g_at:8.3f} s: {g_ms:6.0f} ms in {thread}"
                               f" ({collected} collected)")
        for g_at, g_ms, gen, thread, _ in self.gcs:
            out.append(f"  gc gen {gen} at {g_at:8.3f} s: {g_ms:6.0f} ms in {thread}")
        self._fh.seek(0)
        out.append("the innermost frames of each thread in each dump (where the stall was):")
        out += [f"  {line}" for line in tops(self._fh.read())]
        return "\n".join(out)


def tops(dumps: str, depth: int = 3) -> list[str]:
    """faulthandler's dumps -> one line per thread with a stack: its `depth` innermost frames."""
    out: list[str] = []
    for dump in dumps.split("Timeout (")[1:]:
        out.append("-- dump")
        for block in dump.split("\nThread ")[1:]:
            frames = [ln.strip().removeprefix("File ") for ln in block.splitlines()[1:]
                      if ln.strip().startswith("File ")]
            if frames:
                out.append(" <- ".join(_short(f) for f in frames[:depth]))
    return out


def _short(frame: str) -> str:
    path, _, rest = frame.partition('", line ')
    tail = "/".join(path.strip('"').split("/")[-2:])
    return f"{tail}:{rest}"
