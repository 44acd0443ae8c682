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
    assert calls[:3] == [(1, True), (31, False), (61, False)]
    assert [t for t, full in calls if full] == [1, 901, 1801]
    assert len(calls) == 61
