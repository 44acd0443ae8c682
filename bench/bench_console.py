"""Console benchmark: 200 demo nodes at 1 Hz through real SSH, the app headless.

The demo fleet runs in a child process (its CPU is not ours). In this process: the real
collectors.fleet.Fleet and the RoostApp under Pilot. Reports, after every node is up:
  * console CPU as % of one core over the window (process_time / wall time)
  * event-loop lag: how late a 10 ms timer fires (p50/p95/max)
  * one 1 Hz refresh of the visible screen (fleet table / heatmap): p50/p95 CPU ms
  * a key press handled to a repainted screen: press ">" (re-sort) and wait for the screen's
    next refresh to be composed (p50/p95), beside Pilot's empty-app round-trip floor
  * 750-node heatmap refresh cost (in-process state, no SSH)
Usage: .venv/bin/python bench/bench_console.py [--nodes 200] [--seconds 20]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.app import App  # noqa: E402

from collectors.fleet import Fleet  # noqa: E402
from collectors.model import NodeTarget  # noqa: E402
from console.app import RoostApp  # noqa: E402
from console.state import UP, FleetState  # noqa: E402

CHILD = """
import asyncio, dataclasses, json, sys
from console.demo.fleet import DemoFleet
async def main():
    demo = DemoFleet(nodes=int(sys.argv[1]), seed=1, steady=True, boot_delay=0.0)
    await demo.start()
    print(json.dumps([dataclasses.asdict(t) for t in demo.targets()]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await demo.stop()
asyncio.run(main())
"""


def pct(values: list[float], q: float) -> float:
    vals = sorted(values)
    return vals[min(len(vals) - 1, int(q * len(vals)))] if vals else float("nan")


def targets_from(line: str) -> list[NodeTarget]:
    out = []
    for d in json.loads(line):
        for k in ("identity_files", "known_hosts", "groups"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        out.append(NodeTarget(**d))
    return out


async def until(pilot, cond, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the fleet")
        await pilot.pause(0.1)


async def loop_lag(seconds: float) -> list[float]:
    lags, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        await asyncio.sleep(0.010)
        lags.append((time.monotonic() - t0 - 0.010) * 1000)
    return lags


def timed_refreshes(app: RoostApp, samples: list[float]) -> None:
    # wrap the screen's refresh so every 1 Hz redraw is measured in CPU time
    scr = app.screen
    inner = scr.refresh_view

    def wrapped(*a, **kw):
        t0 = time.process_time()
        inner(*a, **kw)
        samples.append((time.process_time() - t0) * 1000)
    scr.refresh_view = wrapped


async def key_to_repaint(app: RoostApp, pilot, n: int) -> list[float]:
    """A '>' key event posted to the app until the re-sorted screen is handed to the driver.

    The app's _display (the compositor's output to the terminal driver) is wrapped to note
    when each frame is written, and the screen's sort action to note how many were written
    before it ran: the key's frame is the first one after that, even when it is written before
    this task sees the sort changed (waiting for a frame from then on counted the next tick's
    instead); no Pilot round trip is included.
    """
    from textual import events
    frames: list[float] = []
    inner, screen = app._display, app.screen
    sort = screen.action_sort
    ran = [0, 0]     # sorts run, frames written before the last one

    def display(screen, renderable):
        inner(screen, renderable)
        frames.append(time.monotonic())

    def sorted_(step: int) -> None:
        ran[0], ran[1] = ran[0] + 1, len(frames)
        sort(step)
    app._display, screen.action_sort = display, sorted_
    out = []
    for _ in range(n):
        before = ran[0]
        t0 = time.monotonic()
        app.post_message(events.Key("greater_than_sign", ">"))
        while ran[0] == before or len(frames) <= ran[1]:
            await asyncio.sleep(0.0005)
        out.append((frames[ran[1]] - t0) * 1000)
        await pilot.pause(0.2)     # keys a few hundred ms apart, as a person types
    app._display = inner
    del screen.action_sort     # the class's own again
    return out


async def pilot_floor(n: int) -> list[float]:
    app = App()
    out = []
    async with app.run_test() as pilot:
        for _ in range(n):
            t0 = time.monotonic()
            await pilot.press("z")
            out.append((time.monotonic() - t0) * 1000)
    return out


GC_PAUSES: list[float] = []


def watch_gc() -> None:
    import gc
    t = {}

    def cb(phase, info):
        if phase == "start":
            t["t0"] = time.perf_counter()
        elif info.get("generation") == 2:
            GC_PAUSES.append((time.perf_counter() - t["t0"]) * 1000)
    gc.callbacks.append(cb)


async def live(nodes: int, seconds: float, nice: int = 0) -> dict:
    """nice: the simulated nodes' process runs at that niceness (it stands in for the nodes'
    own machines, so the console's figures are not the OS scheduler's share of one machine)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(nodes)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             preexec_fn=(lambda: os.nice(nice)) if nice else None)
    try:
        targets = targets_from(child.stdout.readline())
        fleet = Fleet(targets)
        state = FleetState([t.name for t in targets], groups={t.name: t.groups for t in targets})
        app = RoostApp(state, fleet, targets=targets)
        res: dict = {}
        async with app.run_test(size=(200, 50)) as pilot:
            t_start = time.monotonic()
            await until(pilot, lambda: all(n.state == UP and n.cpu is not None
                                           for n in state.nodes.values()), 120)
            res["all_up_s"] = time.monotonic() - t_start
            refreshes: list[float] = []
            timed_refreshes(app, refreshes)
            cpu0, wall0, items0 = time.process_time(), time.monotonic(), app.items_seen
            lags = await loop_lag(seconds)
            wall = time.monotonic() - wall0
            res["cpu_pct"] = 100 * (time.process_time() - cpu0) / wall
            res["items_per_s"] = (app.items_seen - items0) / wall
            res["lag"] = lags
            res["refresh_ms"] = refreshes
            res["keys_ms"] = await key_to_repaint(app, pilot, 20)
            await pilot.press("h")
            heat: list[float] = []
            timed_refreshes(app, heat)
            await loop_lag(5)
            res["heat_refresh_ms"] = heat
        await fleet.stop()
        return res
    finally:
        child.stdin.close()
        child.wait(timeout=30)


async def heatmap_750() -> tuple[list[float], list[float]]:
    """750 nodes in-process: (refresh+paint CPU ms, arrow key to moved-cursor frame ms)."""
    from textual import events

    from tests.helpers.samples import T0, steady_fleet, steady_samples
    params = steady_fleet(750, 5)
    state = FleetState(list(params), groups={n: (f"rack{1 + i % 10}",)
                                               for i, n in enumerate(params)})
    for s in steady_samples(params, range(3)):
        state.apply(s)
    app = RoostApp(state, clock=lambda: T0 + 2, refresh=3600)
    refresh, keys = [], []
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("h")
        for k in range(3, 18):     # every node changes every round: the worst case
            for s in steady_samples(params, range(k, k + 1)):
                state.apply(s)
            t0 = time.process_time()
            app.screen.refresh_view(T0 + k)
            await pilot.pause()
            refresh.append((time.process_time() - t0) * 1000)
        painted = asyncio.Event()
        inner = app._display
        app._display = lambda scr, r: (inner(scr, r), painted.set())
        hm = app.screen.heatmap_widget
        for _ in range(20):
            before = hm.cursor
            t0 = time.monotonic()
            app.post_message(events.Key("right", None))
            while hm.cursor == before:
                await asyncio.sleep(0.0005)
            painted.clear()
            await painted.wait()
            keys.append((time.monotonic() - t0) * 1000)
    return refresh, keys


def line(name: str, values: list[float], unit: str = "ms") -> str:
    return (f"{name:<34} p50 {statistics.median(values):7.1f} {unit}   p95 {pct(values, 0.95):7.1f}"
            f" {unit}   max {max(values):7.1f} {unit}   n={len(values)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    watch_gc()
    res = asyncio.run(live(args.nodes, args.seconds))
    floor = asyncio.run(pilot_floor(20))
    heat750, heat_keys = asyncio.run(heatmap_750())
    print(f"{args.nodes} demo nodes over SSH at 1 Hz; all up with rates after {res['all_up_s']:.1f} s")
    print(f"console CPU                        {res['cpu_pct']:.1f} % of one core "
          f"(target <= 30 %), {res['items_per_s']:.0f} items/s")
    print(line("event-loop lag (10 ms timer)", res["lag"]))
    print(line("fleet refresh (1 Hz, CPU)", res["refresh_ms"]))
    print(line("heatmap refresh (1 Hz, CPU)", res["heat_refresh_ms"]))
    print(line("key '>' to re-sorted frame", res["keys_ms"]))
    print(line("Pilot press floor (empty app)", floor))
    print(line("750-node heatmap refresh+paint", heat750))
    print(line("750-node heatmap key to frame", heat_keys))
    if GC_PAUSES:
        print(line("full GC pauses (gen 2)", GC_PAUSES))


if __name__ == "__main__":
    main()
