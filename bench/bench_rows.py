"""The fleet table and the heatmap at 10,000 nodes against 1,000: a synthetic state, no SSH.

    .venv/bin/python bench/bench_rows.py [--sizes 1000,10000] [--rounds 8] [--keys 20]

For each size, a FleetState of that many nodes (in 100-node racks, every node changing every
round: the worst case) behind the real RoostApp under Pilot at 200x50. Per screen (fleet table,
heatmap): one refresh (the 1 Hz work: rows from the state, the widget updated, the frame
composed) as CPU ms, and a key to the repainted frame as wall ms (fleet: '>' re-sorts and
'down' moves the cursor; heatmap: 'right'). Prints p50/p95 per size and the 10,000:1,000 ratio
of the medians. CPU time for refreshes, so other processes on a shared machine do not count.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

from bench.bench_console import pct  # noqa: E402
from console.app import RoostApp  # noqa: E402
from console.state import FleetState  # noqa: E402
from tests.helpers.samples import T0, steady_fleet, steady_samples  # noqa: E402

RACK = 100


def synthetic(n: int) -> tuple[FleetState, dict]:
    params = steady_fleet(n, 5)
    state = FleetState(list(params), groups={name: (f"rack{1 + i // RACK}",)
                                             for i, name in enumerate(params)})
    for s in steady_samples(params, range(2)):
        state.apply(s)
    return state, params


async def refreshes(app: RoostApp, pilot, state: FleetState, params: dict, rounds: int) -> list[float]:
    out = []
    for k in range(2, 2 + rounds):
        for s in steady_samples(params, range(k, k + 1)):
            state.apply(s)
        t0 = time.process_time()
        app.screen.refresh_view(T0 + k)
        await pilot.pause()
        out.append((time.process_time() - t0) * 1000)
    return out


async def key_frames(app: RoostApp, pilot, key: str, char: str | None, changed, n: int) -> list[float]:
    """Post the key; wall ms until the first frame written after `changed()` became true."""
    painted = asyncio.Event()
    inner = app._display
    app._display = lambda scr, r: (inner(scr, r), painted.set())
    out = []
    try:
        for _ in range(n):
            probe = changed()
            t0 = time.monotonic()
            app.post_message(events.Key(key, char))
            try:
                await asyncio.wait_for(_painted_after(probe, painted), timeout=10)
            except TimeoutError:    # counted as 10 s: a key that never repaints is a finding
                print(f"  {key}: no repaint within 10 s", file=sys.stderr)
            out.append((time.monotonic() - t0) * 1000)
            await pilot.pause(0.05)
    finally:
        app._display = inner
    return out


async def _painted_after(probe, painted: asyncio.Event) -> None:
    while not probe():
        await asyncio.sleep(0.0005)
    painted.clear()
    await painted.wait()


def sort_changed(app: RoostApp):
    before = app.screen.sort
    return lambda: app.screen.sort != before


def cursor_changed(widget, attr: str = "cursor"):
    before = getattr(widget, attr)
    return lambda: getattr(widget, attr) != before


async def measure(n: int, rounds: int, keys: int) -> dict[str, list[float]]:
    state, params = synthetic(n)
    app = RoostApp(state, clock=lambda: T0 + 2, refresh=3600)
    res: dict[str, list[float]] = {}
    async with app.run_test(size=(200, 50)) as pilot:
        res["fleet refresh (CPU)"] = await refreshes(app, pilot, state, params, rounds)
        res["fleet '>' to frame"] = await key_frames(app, pilot, "greater_than_sign", ">",
                                                     lambda: sort_changed(app), keys)
        table = app.screen.query_one("NodeTable")
        res["fleet 'down' to frame"] = await key_frames(app, pilot, "down", None,
                                                        lambda: cursor_changed(table, "cursor_row"), keys)
        await pilot.press("h")
        res["heatmap refresh (CPU)"] = await refreshes(app, pilot, state, params, rounds)
        hm = app.screen.heatmap_widget
        res["heatmap 'right' to frame"] = await key_frames(app, pilot, "right", None,
                                                           lambda: cursor_changed(hm), keys)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--keys", type=int, default=20)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {n: asyncio.run(measure(n, args.rounds, args.keys)) for n in sizes}
    print(f"bench_rows: synthetic fleet at 200x50, {args.rounds} refreshes, {args.keys} keys per size")
    for name in results[sizes[0]]:
        cells = []
        for n in sizes:
            v = results[n][name]
            cells.append(f"{n:>6}: p50 {statistics.median(v):7.1f} p95 {pct(v, 0.95):7.1f} ms")
        ratio = statistics.median(results[sizes[-1]][name]) / max(1e-9, statistics.median(results[sizes[0]][name]))
        print(f"  {name:<26}" + "   ".join(cells) + f"   x{ratio:.1f}")


if __name__ == "__main__":
    main()
