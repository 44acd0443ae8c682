"""The fleet table and the heatmap at 1,000 / 3,000 / 10,000 nodes, this code against another.

    .venv/bin/python bench/bench_rows.py [--sizes 1000,3000,10000] [--rounds 6] [--keys 20]
        [--baseline DIR] [--live 3000] [--live-seconds 20] [--prom 3000] [--prom-changed 0.1]

Synthetic: a FleetState of N nodes (100-node racks) behind the real RoostApp under Pilot at
200x50, no SSH; each round's samples go through the app's own inbox and drain, and the
collector is set up by the app's own GC pacer (each tree its own policy). Per size, each in its
own process: a fleet refresh with every node changed (CPU
ms until the table shows it, and the longest the event loop was held meanwhile: what a key
press waits for), a key to the repainted frame ('>' re-sorts, 'down' moves the cursor: wall ms),
and the heatmap's refresh and 'right'. Live: N nodes whose samples all arrive once a second
through the app's own stream path (pump, inbox, drained 250 at a time), the app's 1 s tick
refreshing, while '>' and 'down' are pressed every ~0.3 s: key to repainted frame, the realistic
case. --baseline DIR runs the same measures on the code in DIR (e.g. `git archive main | tar -x
-C /tmp/main`) in the same run, side by side. Prints p50/p95; CPU time for refreshes, so other
processes on a shared machine count less; the load average is printed with the figures.

Prometheus-shaped (--prom N): every node's sample arrives at once every 5 s, assembled by the
Prometheus source's own assemble() from instant-query results (rates ready-made, one CPU %,
the hottest sensor, fans, memory, network rates, root filesystem); between ticks a value moves
by a few parts in a million (what is shown stays the same) except on --prom-changed of the
nodes, which move visibly. Measured: the console's main-thread CPU per tick (the samples through
the inbox and drain, then the refresh of the fleet table and of the heatmap), CPU and wall per
key ('>' re-sort, 'down') between ticks, and live: keys every ~0.3 s while ticks land every 5 s
and the app's 1 s tick refreshes (key to repainted frame, wall).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RACK = 100


def pct(values: list[float], q: float) -> float:
    vals = sorted(values)
    return vals[min(len(vals) - 1, int(q * len(vals)))] if vals else float("nan")


# ---- the worker: runs inside one code tree ----------------------------------------------------
def synthetic(n: int):
    from console.state import FleetState
    from tests.helpers.samples import steady_fleet, steady_samples
    params = steady_fleet(n, 5)
    state = FleetState(list(params), groups={name: (f"rack{1 + i // RACK}",)
                                             for i, name in enumerate(params)})
    for s in steady_samples(params, range(2)):
        state.apply(s)
    return state, params


def first_tick(app) -> None:
    """What the app's first tick does to the collector (console.gcpolicy, each tree its own):
    a full pass, then what start-up built is frozen. The app's other ticks wait an hour here."""
    app.gc_pacer.tick()


async def feed(app, samples: list) -> None:
    """The samples through the app's own stream path (inbox, drained in chunks), as a source's
    tick brings them; returns once all are applied."""
    from console.messages import FleetDrain
    for s in samples:
        if app.inbox.put(s):
            app.post_message(FleetDrain())
    while app.inbox.pending:
        await asyncio.sleep(0.001)


class LoopWatch:
    """The longest the event loop went without running this task's 1 ms ticks."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.001)
            last = now

    def __enter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()


async def settle(app, pilot) -> None:
    await pilot.pause()
    while getattr(app.screen, "refreshing", False):   # a refresh done in slices
        await asyncio.sleep(0.001)
    await pilot.pause()


async def refreshes(app, pilot, state, params, rounds: int, res: dict, name: str) -> None:
    from tests.helpers.samples import T0, steady_samples
    cpu, held = [], []
    for k in range(2, 2 + rounds):
        await feed(app, steady_samples(params, range(k, k + 1)))
        await pilot.pause()
        with LoopWatch() as watch:
            await asyncio.sleep(0.002)
            t0 = time.process_time()
            app.screen.refresh_view(T0 + k)
            await settle(app, pilot)
            cpu.append((time.process_time() - t0) * 1000)
        held.append(watch.worst * 1000)
    res[f"{name} refresh, all changed (CPU)"] = cpu
    res[f"{name} refresh: loop held (wall)"] = held


class Frames:
    """The frames the app writes: how many, and when each was written."""

    def __init__(self, app) -> None:
        self.times: list[float] = []
        self.event = asyncio.Event()
        inner = app._display

        def display(scr, r) -> None:
            inner(scr, r)
            self.times.append(time.monotonic())
            self.event.set()
        app._display = display


def painted_probe(app) -> Frames:
    return Frames(app)


def flag_on(obj, method: str, frames: Frames) -> list[int]:
    """[calls of obj.method (the key's action ran), frames written before its last call]."""
    calls = [0, 0]
    inner = getattr(obj, method)

    def counted(*a, **kw):
        calls[0] += 1
        calls[1] = len(frames.times)
        return inner(*a, **kw)
    setattr(obj, method, counted)
    return calls


async def key_to_frame(app, frames: Frames, key: str, char: str | None,
                       calls: list[int]) -> float:
    """Post the key; wall ms until the first frame written after its action ran (that frame
    may be written before this task sees the action ran: frames are counted, not awaited)."""
    from textual import events
    before = calls[0]
    t0 = time.monotonic()
    app.post_message(events.Key(key, char))
    deadline = t0 + 10
    while calls[0] == before and time.monotonic() < deadline:
        await asyncio.sleep(0.0005)
    while len(frames.times) <= calls[1]:
        frames.event.clear()
        try:
            await asyncio.wait_for(frames.event.wait(),
                                   timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:      # counted as 10 s: a key that never repaints is a finding
            print(f"  {key}: no repaint within 10 s", file=sys.stderr)
            return (time.monotonic() - t0) * 1000
    return (frames.times[calls[1]] - t0) * 1000


async def measure(n: int, rounds: int, keys: int) -> dict[str, list[float]]:
    from console.app import RoostApp
    from tests.helpers.samples import T0
    state, params = synthetic(n)
    app = RoostApp(state, clock=lambda: T0 + 2, refresh=3600)
    res: dict[str, list[float]] = {}
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        first_tick(app)
        await refreshes(app, pilot, state, params, rounds, res, "fleet")
        painted = painted_probe(app)
        screen, table = app.screen, app.screen.query_one("NodeTable")
        sorts, moves = flag_on(screen, "action_sort", painted), flag_on(table, "action_cursor", painted)
        for label, key, char, calls in (("'>' re-sort", "greater_than_sign", ">", sorts),
                                        ("'down' cursor", "down", None, moves)):
            out = res[f"fleet {label} to frame"] = []
            await pilot.press("home")      # 'down' from the top (re-sorts can leave it last)
            for _ in range(keys):
                out.append(await key_to_frame(app, painted, key, char, calls))
                await pilot.pause(0.05)
        await pilot.press("h")
        await settle(app, pilot)
        await refreshes(app, pilot, state, params, rounds, res, "heatmap")
        hm = app.screen.heatmap_widget
        moved = flag_on(hm, "action_move", painted) if hasattr(hm, "action_move") else None
        if moved is not None:
            out = res["heatmap 'right' to frame"] = []
            for _ in range(keys):
                out.append(await key_to_frame(app, painted, "right", None, moved))
                await pilot.pause(0.05)
    return res


# ---- Prometheus-shaped ticks ----------------------------------------------------------------
PROM_EVERY = 5.0     # seconds between two ticks of the Prometheus source


def prom_fleet(n: int, seed: int = 7) -> dict[str, dict]:
    """Per-node values as a node_exporter target reports them (changed in place by prom_tick)."""
    rnd = random.Random(seed)
    return {f"n{i}": dict(cores=8 if i % 3 else 4, busy=rnd.uniform(0, 100),
                          load=rnd.uniform(0, 8), avail=rnd.uniform(1e9, 7e9),
                          temp=rnd.uniform(35, 85), rpm=2500.0 + 10 * i, freq=rnd.choice((1.8e9, 2.4e9)),
                          rx=rnd.uniform(1e3, 1e7), tx=rnd.uniform(1e3, 1e6), disk=rnd.uniform(0.1, 0.9),
                          rack=f"rack{1 + (i - 1) // RACK}")
            for i in range(1, n + 1)}


def prom_results(params: dict[str, dict], k: int, changed: float) -> dict[str, list]:
    """Tick k's instant-query replies, one list per family (collectors.promsource.FAMILIES)."""
    from collectors.promql import Series
    rnd = random.Random(1_000_003 * k + 11)
    res: dict[str, list] = {f: [] for f in ("up", "cpu", "cores", "load", "memory", "temps", "fans",
                                            "freq", "maxfreq", "net", "disk", "uname")}
    for name, p in params.items():
        if rnd.random() < changed:
            p.update(busy=rnd.uniform(0, 100), load=rnd.uniform(0, 8), temp=rnd.uniform(35, 85),
                     rx=rnd.uniform(1e3, 1e7))

        def j(v: float) -> float:
            return v * (1 + rnd.uniform(-3e-6, 3e-6))
        inst = {"instance": f"{name}:9100"}
        add = [("up", {"job": "node", "groups": p["rack"]}, 1.0),
               ("cpu", {}, j(p["cores"] * (1 - p["busy"] / 100))), ("cores", {}, p["cores"]),
               ("load", {}, j(p["load"])),
               ("memory", {"__name__": "node_memory_MemTotal_bytes"}, 8e9),
               ("memory", {"__name__": "node_memory_MemAvailable_bytes"}, j(p["avail"])),
               ("temps", {"__name__": "node_thermal_zone_temp", "type": "soc-thermal", "zone": "0"},
                j(p["temp"])),
               ("fans", {"__name__": "node_hwmon_fan_rpm", "chip": "pwmfan", "sensor": "fan1"}, p["rpm"]),
               ("fans", {"__name__": "node_hwmon_pwm", "chip": "pwmfan", "sensor": "pwm1"}, 128.0),
               ("freq", {}, p["freq"]), ("maxfreq", {}, 2.4e9),
               ("net", {"dir": "rx"}, j(p["rx"])), ("net", {"dir": "tx"}, j(p["tx"])),
               ("disk", {"mountpoint": "/", "fstype": "ext4", "what": "used"}, p["disk"]),
               ("uname", {"nodename": name, "release": "6.1.0"}, 1.0)]
        for family, labels, value in add:
            res[family].append(Series({**inst, **labels}, float(value)))
    return res


def prom_ticks(params: dict[str, dict], ticks: range, changed: float) -> list[list]:
    """Each tick's Samples as the Prometheus source hands them to the console."""
    from collectors.promsource import NodeNames, assemble
    from tests.helpers.samples import T0
    return [list(assemble(prom_results(params, k, changed), NodeNames(), T0 + PROM_EVERY * k)
                 .samples.values()) for k in ticks]


def prom_state(n: int, changed: float):
    from console.state import FleetState
    params = prom_fleet(n)
    state = FleetState(list(params), groups={name: (p["rack"],) for name, p in params.items()})
    for batch in prom_ticks(params, range(2), changed):
        for s in batch:
            state.apply(s)
    return state, params


async def prom_tick_cpu(app, pilot, batches: list[list], clock: list[float], first: int) -> float:
    """CPU ms of the main thread for one tick: its samples through the inbox, then the screen's
    refresh, until the screen shows them."""
    from tests.helpers.samples import T0
    t0 = time.thread_time()
    clock[0] = T0 + PROM_EVERY * first
    await feed(app, batches[0])
    app.screen.refresh_view(clock[0])
    await settle(app, pilot)
    return (time.thread_time() - t0) * 1000


async def key_cpu(app, painted, key: str, char: str | None, calls: list[int]) -> tuple[float, float]:
    """(wall ms to the repainted frame, main-thread CPU ms meanwhile)."""
    t0 = time.thread_time()
    wall = await key_to_frame(app, painted, key, char, calls)
    return wall, (time.thread_time() - t0) * 1000


async def prom_measure(n: int, rounds: int, keys: int, changed: float) -> dict[str, list[float]]:
    from console.app import RoostApp
    from tests.helpers.samples import T0
    state, params = prom_state(n, changed)
    batches = prom_ticks(params, range(2, 4 + 2 * rounds), changed)
    clock = [T0 + PROM_EVERY]
    app = RoostApp(state, clock=lambda: clock[0], refresh=3600)
    res: dict[str, list[float]] = {}
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app, pilot)
        first_tick(app)
        k = 2
        res["prom tick, fleet table (CPU)"] = out = []
        for _ in range(rounds):
            out.append(await prom_tick_cpu(app, pilot, batches[k - 2:], clock, k))
            k += 1
        painted = painted_probe(app)
        screen, table = app.screen, app.screen.query_one("NodeTable")
        sorts, moves = flag_on(screen, "action_sort", painted), flag_on(table, "action_cursor", painted)
        for label, key, char, calls in (("'>' re-sort", "greater_than_sign", ">", sorts),
                                        ("'down' cursor", "down", None, moves)):
            walls, cpus = res[f"prom {label} (wall)"], res[f"prom {label} (CPU)"] = [], []
            await pilot.press("home")
            for _ in range(keys):
                wall, cpu = await key_cpu(app, painted, key, char, calls)
                walls.append(wall)
                cpus.append(cpu)
                await pilot.pause(0.05)
        await pilot.press("h")
        await settle(app, pilot)
        res["prom tick, heatmap (CPU)"] = out = []
        for _ in range(rounds):
            out.append(await prom_tick_cpu(app, pilot, batches[k - 2:], clock, k))
            k += 1
    return res


async def prom_live(n: int, seconds: int, changed: float) -> dict[str, list[float]]:
    """Ticks every PROM_EVERY s through the app's stream path, the app's 1 s refresh, and keys."""
    from console.app import RoostApp
    from tests.helpers.samples import T0
    state, params = prom_state(n, changed)
    ticks = int(seconds / PROM_EVERY) + 2
    batches = prom_ticks(params, range(2, 2 + ticks), changed)
    loop = asyncio.get_running_loop()
    source = SteadyStream(batches, every=PROM_EVERY)
    app = RoostApp(state, source, clock=lambda: T0 + PROM_EVERY + (loop.time() - source.start),
                   refresh=1.0, manage_source=False)
    res: dict[str, list[float]] = {"prom live '>' re-sort to frame": [],
                                   "prom live 'down' to frame": []}
    async with app.run_test(size=(200, 50)) as pilot:
        keys, start = await streaming(app, pilot, source)
        cpu0 = time.thread_time()
        await keys(start + seconds, res, "prom live")
        res["prom live: console CPU % of a core"] = [
            100 * (time.thread_time() - cpu0) / (loop.time() - start)]
    res["prom live all keys to frame"] = (res["prom live '>' re-sort to frame"]
                                          + res["prom live 'down' to frame"])
    return res


async def streaming(app, pilot, source):
    """Start the source's rounds half a second from now, once the app is up; returns (keys,
    that start): keys(until, res, label) presses '>' or 'down' at random every 0.2-0.4 s until
    loop time `until`, each key's ms to its frame into res["<label> '>' re-sort to frame"] or
    res["<label> 'down' to frame"]."""
    loop = asyncio.get_running_loop()
    await settle(app, pilot)
    first_tick(app)
    painted = painted_probe(app)
    screen, table = app.screen, app.screen.query_one("NodeTable")
    sorts, moves = flag_on(screen, "action_sort", painted), flag_on(table, "action_cursor", painted)
    start = source.start = loop.time() + 0.5
    source.go.set()
    rnd = random.Random(1)

    async def keys(until: float, res: dict[str, list[float]], label: str) -> None:
        while loop.time() < until:
            if rnd.random() < 0.5:
                ms = await key_to_frame(app, painted, "greater_than_sign", ">", sorts)
                res[f"{label} '>' re-sort to frame"].append(ms)
            else:
                ms = await key_to_frame(app, painted, "down", None, moves)
                res[f"{label} 'down' to frame"].append(ms)
            await asyncio.sleep(0.2 + 0.2 * rnd.random())
    return keys, start


class SteadyStream:
    """A source whose samples for every node arrive together once a second (as a Prometheus
    source's tick brings them), made beforehand so making them costs the loop nothing."""

    def __init__(self, rounds: list[list], every: float = 1.0) -> None:
        self.rounds, self.start, self.every = rounds, 0.0, every
        self.go = asyncio.Event()      # set (with start) once the app is up

    async def stream(self):
        loop = asyncio.get_running_loop()
        await self.go.wait()
        for k, batch in enumerate(self.rounds):
            await asyncio.sleep(max(0.0, self.start + k * self.every - loop.time()))
            for s in batch:
                yield s


async def live(n: int, seconds: int) -> dict[str, list[float]]:
    from console.app import RoostApp
    from tests.helpers.samples import T0, steady_samples
    state, params = synthetic(n)
    rounds = [steady_samples(params, range(k, k + 1)) for k in range(2, 4 + seconds)]
    loop = asyncio.get_running_loop()
    source = SteadyStream(rounds)
    app = RoostApp(state, source, clock=lambda: T0 + 1 + (loop.time() - source.start),
                   refresh=1.0, manage_source=False)
    res: dict[str, list[float]] = {"live '>' re-sort to frame": [], "live 'down' to frame": []}
    async with app.run_test(size=(200, 50)) as pilot:
        keys, start = await streaming(app, pilot, source)
        while loop.time() < start + 1.5:
            await asyncio.sleep(0.05)
        seen0 = state.samples
        await keys(start + seconds, res, "live")
        res["live samples applied per s"] = [(state.samples - seen0) / (seconds - 1.5)]
    res["live all keys to frame"] = res["live '>' re-sort to frame"] + res["live 'down' to frame"]
    return res


def worker(args) -> None:
    sys.path.insert(0, args.code)
    os.chdir(args.code)
    if args.prom_worker:
        res = asyncio.run(prom_measure(args.size, args.rounds, args.keys, args.prom_changed))
        res |= asyncio.run(prom_live(args.size, args.live_seconds, args.prom_changed))
    elif args.live_worker:
        res = asyncio.run(live(args.size, args.live_seconds))
    else:
        res = asyncio.run(measure(args.size, args.rounds, args.keys))
    print(json.dumps(res))


# ---- the driver --------------------------------------------------------------------------
def run(code: str, size: int, args, live_: bool = False, prom: bool = False) -> dict[str, list[float]]:
    cmd = [sys.executable, __file__, "--worker", "--code", code, "--size", str(size),
           "--rounds", str(args.rounds), "--keys", str(args.keys),
           "--live-seconds", str(args.live_seconds), "--prom-changed", str(args.prom_changed)]
    cmd += (["--live-worker"] if live_ else []) + (["--prom-worker"] if prom else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        sys.exit(f"bench_rows: {code} at {size}: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,3000,10000")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--baseline", default="", help="another code tree to measure side by side")
    ap.add_argument("--live", type=int, default=3000, help="nodes in the live measure (0: none)")
    ap.add_argument("--live-seconds", type=int, default=20)
    ap.add_argument("--prom", type=int, default=0,
                    help="nodes in the Prometheus-shaped measures (0: none)")
    ap.add_argument("--prom-changed", type=float, default=0.1,
                    help="share of nodes whose shown values move each Prometheus tick")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each tree, interleaved (medians over all of them)")
    ap.add_argument("--prom-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--live-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--code", default=str(ROOT), help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    codes = {"this": str(ROOT)} | ({"base": args.baseline} if args.baseline else {})
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"bench_rows: 200x50, {args.rounds} refreshes and {args.keys} keys per size; "
          f"load average {os.getloadavg()[0]:.1f} at start; ms, p50 / p95")
    for n in sizes:
        results = {name: run(code, n, args) for name, code in codes.items()}
        report(f"{n} nodes", results)
    if args.live:
        results = {name: run(code, args.live, args, live_=True) for name, code in codes.items()}
        report(f"live: {args.live} nodes, every node's sample each second, keys every ~0.3 s, "
               f"{args.live_seconds} s", results)
    if args.prom:
        results = {name: {} for name in codes}
        for _ in range(args.repeat):      # interleaved: this, base, this, base ...
            for name, code in codes.items():
                for measure_, values in run(code, args.prom, args, prom=True).items():
                    results[name].setdefault(measure_, []).extend(values)
        report(f"Prometheus-shaped: {args.prom} nodes, a tick every {PROM_EVERY:g} s, "
               f"{args.prom_changed:.0%} of nodes' shown values move per tick; live "
               f"{args.live_seconds} s, {args.repeat} run(s) of each tree", results)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def report(title: str, results: dict[str, dict[str, list[float]]]) -> None:
    print(f"{title}:")
    first = next(iter(results.values()))
    for measure_ in first:
        cells = []
        for name, res in results.items():
            v = res.get(measure_, [])
            cells.append(f"{name} {statistics.median(v):8.1f} / {pct(v, 0.95):8.1f}" if v else
                         f"{name} {'-':>8} / {'-':>8}")
        ratio = ""
        if len(results) == 2 and all(r.get(measure_) for r in results.values()):
            a, b = (statistics.median(r[measure_]) for r in results.values())
            ratio = f"   base/this x{b / max(a, 1e-9):.1f}"
        print(f"  {measure_:<36}" + "   ".join(cells) + ratio)


if __name__ == "__main__":
    main()
