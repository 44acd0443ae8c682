"""GC pacing: survivors are frozen each tick; a full pass thaws and reclaims cycles."""
from __future__ import annotations

import gc
import weakref

from console.gcpolicy import GcPacer


class Node:
    pass


def test_ticks_freeze_survivors_and_a_full_pass_reclaims_frozen_cycles():
    try:
        pacer = GcPacer(thaw_every=3)
        a, b = Node(), Node()
        a.other, b.other = b, a            # a cycle: only the collector can free it
        gone = weakref.ref(a)
        pacer.tick()
        assert gc.get_freeze_count() > 0
        del a, b
        pacer.tick()                       # frozen: a young pass cannot reach it
        assert gone() is not None
        pacer.tick()                       # every third tick thaws and collects all
        assert gone() is None
    finally:
        gc.unfreeze()


def test_the_console_pace_settles_every_30th_tick_from_the_first_and_thaws_every_900th(
        monkeypatch):
    calls: list[tuple[int, bool]] = []
    pacer = GcPacer(every=30, phase=1)
    monkeypatch.setattr("console.gcpolicy.settle_gc", lambda full=False: calls.append(
        (pacer.ticks, full)))
    for _ in range(1801):
        pacer.tick()
    assert calls[:3] == [(1, False), (31, False), (61, False)]
    assert [t for t, full in calls if full] == [901, 1801]
    assert len(calls) == 61


def test_start_makes_the_first_full_pass_so_the_first_tick_walks_no_fleet(monkeypatch):
    """Made on the first tick, the start-up pass walked whatever had arrived by then: a 5 s
    console on Prometheus had 3,000 nodes (140 ms of CPU in one block, 270 ms at equal
    priority in bench_scale). start() runs before the fleet; the ticks after settle young."""
    calls: list[tuple[int, bool]] = []
    pacer = GcPacer(every=30, phase=1)
    monkeypatch.setattr("console.gcpolicy.settle_gc", lambda full=False: calls.append(
        (pacer.ticks, full)))
    try:
        pacer.start()
        assert calls == [(0, True)]
        for _ in range(61):
            pacer.tick()
        assert calls == [(0, True), (1, False), (31, False), (61, False)]
    finally:
        pacer.stop()


def test_a_due_full_pass_waits_for_a_quiet_tick_but_not_forever(monkeypatch):
    from console import gcpolicy
    fulls: list[int] = []
    pacer = GcPacer(thaw_every=5)
    monkeypatch.setattr(gcpolicy, "settle_gc", lambda full=False: full and fulls.append(pacer.ticks))
    for _ in range(7):
        pacer.tick(quiet=False)           # keys coming: due at 5, held
    assert fulls == [] and pacer.owed == 3
    pacer.tick(quiet=True)
    assert fulls == [8] and pacer.owed == 0
    for _ in range(5 + gcpolicy.MAX_OWED):
        pacer.tick(quiet=False)           # keys never stop: it runs once it waited MAX_OWED
    assert fulls == [8, 8 + 5 + gcpolicy.MAX_OWED]


def test_frozen_cycles_that_keep_piling_up_bring_the_full_pass_early(monkeypatch):
    """Objects frozen while alive that later become cyclic garbage (a failed connection and its
    traceback) must not wait 15 minutes: once the frozen set grows by half, a full pass runs."""
    monkeypatch.setattr("console.gcpolicy.GROWTH_FLOOR", 1000)
    monkeypatch.setattr("console.gcpolicy.MIN_GAP", 3)
    try:
        pacer = GcPacer(thaw_every=10_000)
        pacer.tick()
        first = None
        for _ in range(20):
            batch = [Node() for _ in range(max(2000, pacer.baseline // 4))]
            for a, b in zip(batch[::2], batch[1::2]):
                a.other, b.other = b, a
            first = first or weakref.ref(batch[0])
            pacer.tick()                   # frozen while alive ...
            del batch                      # ... then garbage that only a full pass can free
            if first() is None:
                break
        assert pacer.early >= 1 and first() is None
        assert gc.get_freeze_count() < pacer.baseline * 1.5 + 1000
    finally:
        gc.unfreeze()


def test_growth_never_brings_full_passes_back_to_back(monkeypatch):
    """While a thousand connections start, the frozen set grows every tick: full passes (each
    holding the loop) come at most every MIN_GAP ticks, not on each one."""
    monkeypatch.setattr("console.gcpolicy.GROWTH_FLOOR", 100)
    monkeypatch.setattr("console.gcpolicy.MIN_GAP", 10)
    frozen, fulls = [1000], []
    pacer = GcPacer(thaw_every=10_000)

    def settle(full=False):
        frozen[0] *= 2                   # twice as many survivors every tick
        if full:
            fulls.append(pacer.ticks)
        return frozen[0]
    monkeypatch.setattr("console.gcpolicy.settle_gc", settle)
    monkeypatch.setattr(gc, "get_freeze_count", lambda: frozen[0])
    for _ in range(40):
        pacer.tick()
    assert fulls == [10, 20, 30, 40] and pacer.early == 4


def test_the_frozen_set_is_counted_once_per_growth_check_not_every_tick(monkeypatch):
    """Counting the frozen set walks every frozen object (~70 ms at 1,000 nodes): a settle on
    every tick must not pay it each time, only every GROWTH_CHECK ticks once MIN_GAP passed."""
    from console import gcpolicy
    monkeypatch.setattr(gcpolicy, "settle_gc", lambda full=False: None)
    counts: list[int] = []
    monkeypatch.setattr(gc, "get_freeze_count", lambda: counts.append(1) or 1000)
    pacer = GcPacer(thaw_every=10_000)
    for _ in range(gcpolicy.MIN_GAP + 10 * gcpolicy.GROWTH_CHECK):
        pacer.tick()
    assert len(counts) == 1 + 11     # the baseline, then one look per GROWTH_CHECK ticks


def test_while_a_pacer_runs_cpython_makes_no_full_pass_of_its_own_and_gets_it_back_after():
    """Frozen objects are not counted in CPython's "a quarter more than survived the last full
    pass" rule, so with the fleet frozen a full pass came every few young passes and walked all
    built since the last freeze (0.1-2.4 s at 10,000 nodes, landing on key presses)."""
    before = gc.get_threshold()
    pacer = GcPacer()
    try:
        gc.collect()
        gc.freeze()                        # a frozen fleet: the quarter rule sees nothing
        pacer.start()
        fulls = gc.get_stats()[2]["collections"]
        kept = [[Node() for _ in range(100)] for _ in range(2000)]   # survivors promoted
        assert gc.get_stats()[2]["collections"] == fulls
        pacer.stop()
        assert gc.get_threshold() == before
        kept += [[Node() for _ in range(100)] for _ in range(2000)]
        assert gc.get_stats()[2]["collections"] > fulls       # CPython's own rule is back
    finally:
        pacer.stop()
        gc.unfreeze()


def test_work_that_builds_long_lived_items_settles_every_settle_items(monkeypatch):
    """A batch that replaces as many objects as it makes never raises the young count: without
    settles the young generation held a whole fleet's samples for one long pass."""
    from console import gcpolicy
    settles: list[int] = []
    monkeypatch.setattr(gcpolicy, "settle_gc", lambda full=False: settles.append(full))
    pacer = GcPacer()
    for _ in range(9):
        pacer.built(gcpolicy.SETTLE_ITEMS // 3)
    assert settles == [False, False]
    pacer.built(gcpolicy.SETTLE_ITEMS * 10)       # one big batch: one settle, not ten
    assert settles == [False] * 3 and pacer.unsettled == 0


async def test_the_console_owns_full_passes_while_it_runs():
    from tests.helpers.pilot import SIZE, make_app
    before = gc.get_threshold()
    app = make_app(n=3)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] >= 1 << 30
    assert gc.get_threshold() == before
    gc.unfreeze()


async def test_the_console_makes_no_full_pass_on_its_ticks_once_3000_nodes_arrived():
    """The stall bench_scale traced (--stalls): 3,000 nodes from Prometheus land before a 5 s
    console's first tick, and that tick's full pass walked them all in one block."""
    from tests.helpers.pilot import SIZE, rack_app
    app = rack_app(3000)
    full: list[float] = []

    def note(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(info["generation"])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        gc.callbacks.append(note)
        try:
            for _ in range(3):
                app.tick()
        finally:
            gc.callbacks.remove(note)
        assert app.gc_pacer.ticks == 3 and full == []
    gc.unfreeze()


async def test_a_key_makes_the_console_tick_not_quiet_for_a_due_full_pass():
    from tests.helpers.pilot import SIZE, make_app
    app = make_app(n=3)
    calls: list[bool] = []
    async with app.run_test(size=SIZE) as pilot:
        app.gc_pacer.tick = lambda quiet=True: calls.append(quiet)
        app.tick()
        await pilot.press("down")
        app.tick()
        app.last_key -= app.QUIET_S
        app.tick()
    assert calls == [True, False, True]
    gc.unfreeze()
