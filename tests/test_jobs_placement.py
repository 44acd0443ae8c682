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


# ---- packing: an array fills a node's free cores before the next node ------------------------

def test_an_array_packs_onto_the_fewest_nodes_freest_first():
    """10 tasks on nodes with 4/2/2/2 free cores, among nodes with 1 free core each: the
    four are filled (10 tasks, 4 nodes), where one task per node in turn would use ten."""
    fleet = [NodeRoom("a", 4), NodeRoom("b", 2), NodeRoom("c", 2), NodeRoom("d", 4)]
    fleet[3].foreign_cores = 2
    fleet += [NodeRoom(f"one{i}", 2, foreign_cores=1) for i in range(6)]
    plan = place([Demand(1, pending=10)], fleet, now=0)
    per_node: dict[str, int] = {}
    for _, node in plan.starts:
        per_node[node] = per_node.get(node, 0) + 1
    assert per_node == {"a": 4, "b": 2, "c": 2, "d": 2}
    assert plan.starts[:4] == [(1, "a")] * 4            # in order: a full before b
    assert 1 not in plan.reasons


def test_packing_skips_a_node_whose_memory_is_full_and_goes_on():
    fleet = [NodeRoom("a", 8, mem_mb=2000), NodeRoom("b", 2, mem_mb=8000)]
    plan = place([Demand(1, pending=5, mem_mb=1000)], fleet, now=0)
    assert [n for _, n in plan.starts] == ["a", "a", "b", "b"]
    assert plan.reasons == {1: "Resources"}


packable = st.builds(NodeRoom, st.sampled_from(["a", "b", "c", "d", "e", "f"]),
                     st.integers(1, 8), st.none() | st.integers(500, 8000), st.booleans(),
                     st.integers(0, 4), st.just(0), st.integers(0, 3))


@given(st.integers(1, 40), st.integers(1, 3), st.none() | st.integers(100, 3000),
       st.lists(st.sampled_from("abcdef"), max_size=2, unique=True),
       st.lists(packable, min_size=1, max_size=6, unique_by=lambda n: n.name))
def test_packing_fills_nodes_in_order_never_over_commits_nor_uses_an_ineligible_node(
        pending, cpus, mem, exclude, rooms):
    eligible = [n.name for n in rooms if n.up and n.name not in exclude]
    free_before = {n.name: n.free_cores() for n in rooms}
    mem_free = {n.name: (n.mem_mb - n.used_mem) if n.mem_mb is not None else None for n in rooms}
    d = Demand(1, pending, cpus, mem, exclude=tuple(exclude))
    plan = place([d], rooms, now=0)
    count = {n: sum(1 for _, m in plan.starts if m == n) for n in free_before}
    for name, tasks in count.items():
        if tasks:
            assert name in eligible, f"placed on ineligible {name}"
            assert tasks * cpus <= free_before[name], "cores over-committed"
            assert mem is None or mem_free[name] is None or tasks * mem <= mem_free[name]
    # packed: the nodes used come in the order given, and every eligible node before the
    # last one used is full (it could not take one more task)
    by_name = {n.name: n for n in rooms}
    used = [n for n in eligible if count[n]]
    assert [n for _, n in plan.starts] == sorted((n for _, n in plan.starts), key=eligible.index)
    if used:
        for name in eligible[:eligible.index(used[-1])]:
            assert not by_name[name].fits(cpus, mem), f"{name} left room before {used[-1]}"
    assert len(plan.starts) == pending or plan.reasons.get(1) in ("Resources", "BadConstraints",
                                                                   "ReqNodeNotAvail")


# ---- spread (--spread-job, -m cyclic): one task per node in turn ---------------------------

def test_a_spread_array_takes_one_node_each_in_turn_freest_first():
    """10 tasks over a 4/2/2/4-core fleet (d half busy): one per node in turn, the freest
    first, where packed would fill a and b first."""
    fleet = [NodeRoom("a", 4), NodeRoom("b", 2), NodeRoom("c", 2), NodeRoom("d", 4)]
    fleet[3].foreign_cores = 2
    plan = place([Demand(1, pending=5, spread=True)], fleet, now=0)
    assert [n for _, n in plan.starts] == ["a", "b", "c", "d", "a"]
    full = place([Demand(1, pending=20, spread=True)], nodes(3, 2), now=0)
    assert sorted(n for _, n in full.starts) == ["n1", "n1", "n2", "n2", "n3", "n3"]
    assert full.reasons == {1: "Resources"}


def test_spread_ntasks_without_nodes_take_as_many_nodes_as_hold_one():
    """-n 3 --spread-job: three nodes with a task each (packed: one node holds all three);
    the node -w names runs the script; -n 5 over 3 nodes of 2 cores: 2+2+1."""
    fleet = nodes(3, 4)
    assert place([Demand(1, 1, tasks=3, spread=True)], fleet, 0).allocs == \
        [(1, (("n1", 1), ("n2", 1), ("n3", 1)))]
    named = place([Demand(2, 1, tasks=2, nodelist=("n3",), spread=True)], nodes(3, 4), 0)
    assert named.allocs[0][1][0] == ("n3", 1) and len(named.allocs[0][1]) == 2
    five = place([Demand(3, 1, tasks=5, spread=True)], nodes(3, 2), 0).allocs
    assert sorted(c for _, c in five[0][1]) == [1, 2, 2]
    assert place([Demand(4, 1, tasks=7, spread=True)], nodes(3, 2), 0).reasons == {4: "BadConstraints"}


@given(st.integers(1, 40), st.integers(1, 3), st.none() | st.integers(0, 3000),
       st.lists(st.sampled_from("abcdef"), max_size=2, unique=True),
       st.lists(packable, min_size=1, max_size=6, unique_by=lambda n: n.name))
def test_spreading_never_over_commits_and_evens_out_per_node_counts(
        pending, cpus, mem, exclude, rooms):
    """Whatever the fleet: never on an ineligible node nor beyond its cores or memory; as
    many tasks as packing starts; per-node counts differ by at most one, except that a node
    with fewer could not have taken one more."""
    eligible = [n.name for n in rooms if n.up and n.name not in exclude]
    free = {n.name: n.free_cores() for n in rooms}
    mem_free = {n.name: (n.mem_mb - n.used_mem) if n.mem_mb is not None else None for n in rooms}
    fresh = [NodeRoom(n.name, n.cores, n.mem_mb, n.up, n.used_cores, n.used_mem,
                      n.foreign_cores) for n in rooms]
    packed = place([Demand(1, pending, cpus, mem, exclude=tuple(exclude))], fresh, now=0)
    plan = place([Demand(1, pending, cpus, mem, exclude=tuple(exclude), spread=True)], rooms, 0)
    count = {n: sum(1 for _, m in plan.starts if m == n) for n in free}
    for name, tasks in count.items():
        if tasks:
            assert name in eligible, f"placed on ineligible {name}"
            assert tasks * cpus <= free[name], "cores over-committed"
            if mem is not None and mem_free[name] is not None:
                assert (tasks == 1 and mem_free[name] >= (mem or 0)) if mem == 0 else \
                    tasks * mem <= mem_free[name], "memory over-committed"
    assert len(plan.starts) == len(packed.starts)
    most = max(count.values())
    by_name = {n.name: n for n in rooms}
    for name in eligible:
        if count[name] < most - 1:
            assert not by_name[name].fits(cpus, mem), f"{name} could take one more"
