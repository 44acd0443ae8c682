"""FleetView (console.state): the fleet's rows kept between refreshes, against a full rebuild.

Property: after any sequence of samples, node events, marks of change (power, jobs, alerts),
refreshes and re-sorts, the kept rows select exactly what select_rows gives on a fresh
FleetState.rows() at the same moment, for every sort key, direction and filter.
"""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from collectors.model import NodeEvent
from console.state import SORT_KEYS, UP, FleetState, FleetView, select_rows, sort_rows
from tests.helpers.samples import T0, make_sample

NODES = ["n1", "n2", "n10", "n01", "gpu-a", "x"]     # n1/n01 tie in natural order

sample_op = st.tuples(st.just("sample"), st.sampled_from(NODES), st.integers(0, 100),
                      st.floats(20, 95), st.floats(1e8, 7e9))
event_op = st.tuples(st.just("event"), st.sampled_from(NODES), st.sampled_from(["down", "up"]))
other_op = st.tuples(st.sampled_from(["power", "jobs"]), st.sampled_from(NODES),
                     st.integers(0, 3))
refresh_op = st.tuples(st.sampled_from(["refresh", "steps", "tick"]), st.floats(0, 120))
ops = st.lists(st.one_of(sample_op, event_op, other_op, refresh_op), max_size=40)
views = st.tuples(st.sampled_from(sorted(SORT_KEYS) + ["bogus"]), st.booleans(),
                  st.sampled_from(["", "n1", "state:down", "group:r1", "up x"]))


def _do(state: FleetState, view: FleetView, op: tuple, clock: list[float]) -> None:
    kind = op[0]
    if kind == "sample":
        _, node, busy, temp, avail = op
        clock[0] += 1.0
        seq = int(clock[0] - T0)
        state.apply(make_sample(node, seq, busy=[busy, 100 - busy], temp=temp, mem_avail=avail))
    elif kind == "event":
        clock[0] += 1.0
        state.apply(NodeEvent(op[1], clock[0], op[2], reason="test"))
    elif kind == "power":
        state.set_power(op[1], ["on", "off", "—", "cycling"][op[2]])
    elif kind == "jobs":
        state.set_jobs(op[1], op[2] or None)
    elif kind == "tick":
        state.tick(clock[0] + op[1])
    elif kind == "refresh":
        view.refresh(clock[0])
    else:
        for _ in view.steps(clock[0], slice_=2):
            pass


@settings(max_examples=300, deadline=None)
@given(ops, st.lists(views, min_size=1, max_size=4))
def test_kept_rows_select_as_a_full_rebuild_does(seq, looks):
    state = FleetState(NODES[:3], groups={"n1": ("r1",), "n2": ("r2",)})
    view = FleetView(state)
    clock = [T0]
    for op in seq:
        _do(state, view, op, clock)
    now = clock[0] + 0.5
    view.refresh(now)
    fresh = state.rows(now)
    for sort, reverse, query in looks:
        got = view.select(query, sort, reverse)
        want = select_rows(fresh, query, sort, reverse)
        assert [r.name for r in got] == [r.name for r in want]
        # a kept row equals a fresh one; an up node's may carry the age it was built with
        for g, w in zip(got, want):
            assert _shown(g) == _shown(w)


def _shown(row):
    from dataclasses import replace
    return replace(row, age=None) if row.state == UP else replace(row, age=int(row.age or 0))


def test_refresh_rebuilds_only_what_changed_and_re_ages_down_nodes():
    state = FleetState(["a", "b", "c"])
    for seq in range(2):
        for n in "abc":
            state.apply(make_sample(n, seq, busy=[10, 20]))
    view = FleetView(state)
    assert view.refresh(T0 + 2) == 3
    assert view.refresh(T0 + 3) == 0 and view.pending() == []     # nothing changed
    state.apply(make_sample("b", 2, busy=[90, 90]))
    state.apply(NodeEvent("c", T0 + 2, "down", reason="gone"))
    assert sorted(n.name for n in view.pending()) == ["b", "c"]
    assert view.refresh(T0 + 5) == 2
    assert view.rows["c"].age == 3.0
    assert [n.name for n in view.pending()] == ["c"]          # a down node's age moves
    view.refresh(T0 + 65)
    assert view.rows["c"].age == 63.0 and view.rows["b"].load1 == 1.8


def test_state_sort_orders_by_when_the_age_started_not_by_a_kept_age():
    state = FleetState(["a", "b"])
    state.apply(make_sample("a", 5, busy=[10]))
    state.apply(make_sample("b", 3, busy=[10]))      # b's last sample is older
    view = FleetView(state)
    view.refresh(T0 + 6)
    state.apply(make_sample("a", 9, busy=[10]))
    view.refresh(T0 + 100)       # b's kept row still says age 3 s, a's 91 s
    assert [r.name for r in view.select("", "state")] == ["b", "a"]
    assert [r.name for r in select_rows(state.rows(T0 + 100), "", "state")] == ["b", "a"]


def test_sort_rows_keeps_name_order_for_ties_and_puts_no_value_last():
    state = FleetState(["n2", "n1", "n3"])
    state.apply(make_sample("n2", 1, busy=[50]))
    state.apply(make_sample("n1", 1, busy=[50]))
    rows = select_rows(state.rows(T0 + 2), "", "name")
    assert [r.name for r in sort_rows(rows, "load")] == ["n1", "n2", "n3"]
    assert [r.name for r in sort_rows(rows, "load", reverse=True)] == ["n1", "n2", "n3"]
