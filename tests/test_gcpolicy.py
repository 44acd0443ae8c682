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
