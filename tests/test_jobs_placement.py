"""FIFO + EASY backfill placement over free cores and memory (pure)."""
from __future__ import annotations

from hypothesis import given, strategies as st

from console.jobs.placement import Demand, NodeRoom, place


def nodes(n=3, cores=4, mem=None):
    return [NodeRoom(f"n{i}", cores, mem) for i in range(1, n + 1)]


def test_array_spreads_and_fills_cores():
    plan = place([Demand(1, pending=20)], nodes(3, 4), now=0)
    per_node = {n: sum(1 for _, m in plan.starts if m == n) for n in ("n1", "n2", "n3")}
    assert per_node == {"n1": 4, "n2": 4, "n3": 4}
    assert plan.reasons == {1: "Resources"}


def test_down_nodes_foreign_load_and_lists():
    fleet = nodes(3, 4)
    fleet[0].up = False
    fleet[1].foreign_cores = 3
    plan = place([Demand(1, 10, candidates=("n1", "n2")), Demand(2, 10, exclude=("n3",))],
                 fleet, now=0)
    assert plan.starts == [(1, "n2")]
    # -w naming two nodes needs both (Slurm): n1 is down, so it waits
    both = place([Demand(5, 1, nodelist=("n1", "n2"))], fleet, now=0)
    assert not both.allocs and both.reasons == {5: "Resources"}
    assert place([Demand(3, 1, nodelist=("zz",))], nodes(), 0).reasons == {3: "ReqNodeNotAvail"}
    assert place([Demand(4, 1, cpus=9)], nodes(), 0).reasons == {4: "BadConstraints"}


def test_array_limit():
    plan = place([Demand(1, pending=10, slots=2)], nodes(3, 4), now=0)
    assert len(plan.starts) == 2 and plan.reasons == {1: "JobArrayTaskLimit"}


def test_memory_is_enforced():
    plan = place([Demand(1, pending=10, mem_mb=1500)], nodes(2, 8, mem=4000), now=0)
    assert len(plan.starts) == 4
    whole = place([Demand(2, pending=3, mem_mb=0)], nodes(2, 8, mem=4000), now=0)
    assert len(whole.starts) == 2


def test_backfill_respects_the_reservation():
    fleet = nodes(1, 4)
    fleet[0].used_cores = 3
    fleet[0].ends = [(100.0, 3)]          # busy until t=100
    big, short, long = (Demand(1, 1, cpus=4), Demand(2, 1, time_limit=50),
                        Demand(3, 1, time_limit=500))
    plan = place([big, short, long], fleet, now=0)
    assert plan.starts == [(2, "n1")]    # ends at 50 < 100: backfilled
    assert plan.reasons == {1: "Resources", 3: "Priority"}


demand = st.builds(Demand, st.integers(1, 50), st.integers(1, 30), st.integers(1, 4),
                   st.none() | st.integers(100, 3000), st.none() | st.integers(1, 1000),
                   st.none() | st.integers(0, 5))
room = st.builds(NodeRoom, st.sampled_from(["a", "b", "c", "d"]), st.integers(1, 8),
                 st.none() | st.integers(1000, 8000), st.booleans(), st.integers(0, 4),
                 st.just(0), st.integers(0, 2))


@given(st.lists(demand, max_size=6, unique_by=lambda d: d.job_id),
       st.lists(room, min_size=1, max_size=4, unique_by=lambda n: n.name))
def test_never_oversubscribes(demands, rooms):
    before = {n.name: (n.cores - n.used_cores - n.foreign_cores, n.up) for n in rooms}
    plan = place(demands, rooms, now=0)
    by_job = {d.job_id: d for d in demands}
    used: dict[str, int] = {}
    for job, node in plan.starts:
        used[node] = used.get(node, 0) + by_job[job].cpus
        assert before[node][1], "placed on a down node"
    for node, cores in used.items():
        assert cores <= before[node][0]
    for d in demands:
        started = sum(1 for j, _ in plan.starts if j == d.job_id)
        assert started <= d.pending and (d.slots is None or started <= d.slots)
        assert started == d.pending or d.job_id in plan.reasons
