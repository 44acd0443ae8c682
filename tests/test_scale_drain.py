"""A Prometheus tick brings every node's sample at once: the console applies them in chunks
(console.app.DRAIN_CHUNK) so keys and frames get in between, and loses none."""
from __future__ import annotations

import asyncio

from textual import events

from console.app import DRAIN_CHUNK
from console.messages import FleetDrain, Inbox
from tests.helpers.pilot import SIZE, make_app, until
from tests.helpers.samples import steady_fleet, steady_samples


async def test_a_tick_of_every_node_is_applied_in_chunks_and_none_is_lost():
    app = make_app(n=12)
    drains: list[FleetDrain] = []

    def hook(msg) -> None:
        if isinstance(msg, FleetDrain):
            drains.append(msg)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        before = app.state.samples
        n = 2 * DRAIN_CHUNK + 100
        for s in steady_samples(steady_fleet(n), range(3, 4)):
            if app.inbox.put(s):
                app.post_message(FleetDrain())
        await until(pilot, lambda: app.state.samples == before + n, what="every sample applied")
        assert len(drains) == 3                       # 250 + 250 + 100, one handler call each
        assert {f"n{i}" for i in range(1, n + 1)} <= set(app.state.nodes)


async def test_a_key_pressed_while_a_3000_node_tick_is_applied_is_handled_before_the_tick_ends():
    """The chunks let the event loop in: a chunk's follow-up FleetDrain posted straight into the
    app's queue was taken without a loop turn, so a whole tick (3,000 nodes, 60 ms of CPU and
    150-300 ms at equal priority in bench_scale) ran as one block and no key could be read."""
    app = make_app(n=12)
    async with app.run_test(size=SIZE) as pilot:
        before = app.state.samples
        applied_at_sort: list[int] = []
        sort = app.screen.action_sort

        def spy(step: int) -> None:
            applied_at_sort.append(app.state.samples - before)
            sort(step)
        app.screen.action_sort = spy

        async def press_once_the_tick_started() -> None:
            while app.state.samples == before:
                await asyncio.sleep(0)
            app.post_message(events.Key("greater_than_sign", ">"))
        n = 3000
        for s in steady_samples(steady_fleet(n), range(3, 4)):
            if app.inbox.put(s):
                app.post_message(FleetDrain())
        presser = asyncio.create_task(press_once_the_tick_started())
        await until(pilot, lambda: app.state.samples == before + n, what="every sample applied")
        await presser
        await until(pilot, lambda: bool(applied_at_sort), what="the key's re-sort")
        assert 0 < applied_at_sort[0] <= n - DRAIN_CHUNK   # a chunk or more still to come


def test_a_partial_drain_leaves_the_rest_pending_and_a_newer_sample_still_wins():
    old, new = steady_samples(steady_fleet(3), range(2))[:3], steady_samples(steady_fleet(3), range(5, 6))
    box = Inbox()
    for s in old:                                     # n1, n2, n3 seq 0
        box.put(s)
    assert [(s.node, s.seq) for s in box.drain(1)] == [("n1", 0)]
    assert box.pending                                # n2, n3 left: another drain is due
    box.put(new[1])                                   # n2 seq 5 arrived meanwhile
    assert [(s.node, s.seq) for s in box.drain(1)] == [("n3", 0)]   # n2 seq 0 superseded
    assert [(s.node, s.seq) for s in box.drain(1)] == [("n2", 5)]
    assert not box.pending and box.skipped == 1
    assert box.drain() == [] and box.put(old[0]) is True
