"""Links on demand, the parts without I/O: what PromSource reports of a node (a stale or down
node is not up), and the rooms placement sees from those reports (eligible, sized by the
report, avoided after a failed link, none beyond max_links, and the reason then shown).
The same scheduler against a real Prometheus and sshd nodes: tests/test_scale_sched.py."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest

from collectors.model import NodeTarget
from collectors.promql import PromClient
from collectors.promsource import NodeNames, NodeReport, PromSource, landing
from console.jobs.directives import build_spec, parse_submit_argv, wrap_script
from console.jobs.model import REASON_RESOURCES
from console.jobs.ondemand import REASON_LINKS, NodeSource
from console.jobs.placement import demand
from console.jobs.remote import NodeInfo
from console.jobs.scheduler import Options, Scheduler
from console.jobs.store import Store
from tests.helpers.batch import submit

NOW = 1_000_000.0


def source_at(now: float) -> PromSource:
    return PromSource(PromClient("http://127.0.0.1:9"), NodeNames(), clock=lambda: now)


def test_reports_say_up_only_for_a_fresh_sample_of_an_up_target():
    src = source_at(NOW)
    src.up = {"fresh": True, "old": True, "down": False, "unsampled": True}
    sizes = {"fresh": NodeReport(True, NOW - 2, 4, 3800, 0.5),
             "old": NodeReport(True, NOW - 60, 2, 900, 0.0),
             "down": NodeReport(True, NOW - 1, 2, 900, 0.0)}
    src.sizes = sizes
    seen = src.reports(10.0)
    assert seen["fresh"] == sizes["fresh"]
    assert not seen["old"].up and seen["old"].cores == 2       # stale: not up, size kept
    assert not seen["down"].up                                 # up == 0
    assert seen["unsampled"] == NodeReport(False)


def spec_of(*argv: str):
    return build_spec(parse_submit_argv([*argv, "--wrap", "true"]), wrap_script("true"), "--wrap",
                      submit_dir="/tmp")


def scheduler(tmp_path, reports: dict[str, NodeReport], **options) -> Scheduler:
    store = Store(tmp_path / "jobs.db")
    nodes = NodeSource(lambda: reports, lambda name: NodeTarget(name, f"{name}.lab"))
    opts = dataclasses.replace(Options(), **options)
    sched = Scheduler(store, [NodeTarget("cfg", "cfg.lab")], opts, nodes=nodes)
    sched._sync_nodes()
    return sched


def rooms(sched: Scheduler) -> dict[str, tuple[int, int | None, bool, int]]:
    return {r.name: (r.cores, r.mem_mb, r.up, r.foreign_cores) for r in sched._rooms(NOW)}


def test_unlinked_nodes_are_placed_by_their_report(tmp_path):
    reports = {"big": NodeReport(True, NOW, 8, 7800, 3.4), "small": NodeReport(True, NOW, 1, 400, 0.0),
               "gone": NodeReport(False, NOW - 99, 4, 3800, 0.0)}
    sched = scheduler(tmp_path, reports)
    assert sched.store.node_sizes() == {"big": (8, 7800), "small": (1, 400), "gone": (4, 3800)}
    assert set(sched.links) == {"cfg", "big", "small", "gone"}      # reported nodes: links,
    assert not any(link.up or link.connecting for link in sched.links.values())  # unconnected
    # freest first; down or stale ("gone") and never reported ("cfg"): not looked at
    assert rooms(sched) == {"big": (8, 7800, True, 3), "small": (1, 400, True, 0)}
    assert [r.name for r in sched._rooms(NOW)] == ["big", "small"]
    wanted = demand(7, 1, spec_of("-w", "gone"), None)     # a node a job names: looked at
    assert {r.name: r.up for r in sched._rooms(NOW, [wanted])}["gone"] is False


def test_a_node_whose_link_failed_is_avoided_for_a_while(tmp_path):
    sched = scheduler(tmp_path, {"a": NodeReport(True, NOW, 2, 900, 0.0)})
    sched.links["a"].next_try = NOW + 30
    assert "a" not in rooms(sched)
    sched.links["a"].next_try = NOW - 1
    assert rooms(sched)["a"][2] is True


def test_at_max_links_no_other_node_is_eligible_and_jobs_say_why(tmp_path):
    reports = {n: NodeReport(True, NOW, 2, 900, 0.0) for n in ("a", "b", "c")}
    sched = scheduler(tmp_path, reports, max_links=1)
    sched._inflight.add(("up", "b"))             # one link coming up: the cap is reached
    seen = rooms(sched)
    assert seen == {"b": (2, 900, True, 0)}      # its room is kept for what chose it, no other
    reasons = {1: REASON_RESOURCES, 2: "Dependency"}
    sched._links_reason(reasons)
    assert reasons == {1: REASON_LINKS, 2: "Dependency"}
    sched._inflight.discard(("up", "b"))
    reasons = {1: REASON_RESOURCES}
    sched._links_reason(reasons)
    assert reasons == {1: REASON_RESOURCES}      # room for a link again: plain Resources
    assert all(seen[2] for seen in rooms(sched).values() if seen[0] == 2)


def test_placement_reads_only_as_many_unlinked_nodes_as_links_may_come_up(tmp_path):
    """At 10,000 reported nodes placement reads max_links rooms (the freest), not 10,000."""
    reports = {f"n{i}": NodeReport(True, NOW, 4, 3800, (i % 7) / 2) for i in range(10_000)}
    sched = scheduler(tmp_path, reports, max_links=8)
    seen = rooms(sched)
    assert len(seen) == 8 and all(v[3] == 0 for v in seen.values())   # the unloaded ones
    sched._inflight.add(("up", "n1"))            # chosen: its link is coming up
    assert len(rooms(sched)) == 8 and "n1" in rooms(sched)


async def test_a_node_back_up_with_tasks_given_up_is_linked_to_stop_them(tmp_path, caplog):
    """Tasks given up as NODE_FAIL may still run on a node that was only cut off: once its
    report says up, the node is linked (whose setup kills them); nodes without such tasks
    are not."""
    caplog.set_level("INFO", logger="roost.jobs")
    reports = {"back": NodeReport(True, NOW, 2, 900, 0.0), "calm": NodeReport(True, NOW, 2, 900, 0.0)}
    sched = scheduler(tmp_path, reports)
    sched.store.add_stale("back", "1/0.0", 4242)
    sched._on_demand_pass(NOW)
    assert ("up", "back") in sched._inflight and ("up", "calm") not in sched._inflight
    await sched.close()
    assert "back is back: linking it" in caplog.text


async def test_a_wide_array_links_the_fewest_nodes_its_tasks_fill(tmp_path):
    """10 tasks, unlinked nodes with 4/2/2/2 free cores by their reports among six with 1
    free: one pass places all 10 and links exactly those four (tasks packed, not one per
    node, which would link ten)."""
    reports = {"a": NodeReport(True, NOW, 4, 3800, 0.0), "b": NodeReport(True, NOW, 2, 900, 0.0),
               "c": NodeReport(True, NOW, 2, 900, 0.0), "d": NodeReport(True, NOW, 4, 3800, 2.0)}
    reports |= {f"one{i}": NodeReport(True, NOW, 2, 900, 1.0) for i in range(6)}
    never = asyncio.Event()

    async def connect(target):           # links come up later: what was asked is the point
        await never.wait()
    store = Store(tmp_path / "jobs.db")
    nodes = NodeSource(lambda: reports, lambda name: NodeTarget(name, f"{name}.lab"))
    sched = Scheduler(store, [], Options(), connect, nodes=nodes)
    sched._sync_nodes()
    submit(store, "--array", "1-10", "--wrap", "true")
    await sched._schedule(NOW)
    linking = {name for kind, name in sched._inflight if kind == "up"}
    assert linking == {"a", "b", "c", "d"}
    await sched.close()
    store.close()


async def test_check_nodes_looks_only_at_links_that_went_down(tmp_path):
    """A dropped link is in the down set _check_nodes walks (not every link of 10,000); with
    nothing of ours on its node it is parked (down_since cleared) and leaves the set."""
    reports = {f"n{i}": NodeReport(True, NOW, 4, 3800, 0.0) for i in range(10_000)}
    sched = scheduler(tmp_path, reports)
    assert sched._down == set()
    sched._drop(sched.links["n7"])
    assert sched._down == {"n7"} and sched.links["n7"].down_since is not None
    await sched._check_nodes(NOW)
    assert sched._down == set() and sched.links["n7"].down_since is None
    assert not sched._inflight                   # parked: nothing retries it


def test_node_targets_reach_nodes_only_prometheus_names_through_ssh_config(tmp_path):
    """roost run --job and a client settling requests: a configured node as configured; on
    [source] prometheus, a node only Prometheus names through its ssh_config alias; without
    the Prometheus source such a node is left out (nothing says how to reach it)."""
    from console.config import load_config
    from console.jobs.service import node_targets
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host rk1-07\n    HostName rk1-07.rack2.lab\n    Port 2207\n"
                          "    User ops\n")
    base = '[defaults]\nuser = "pi"\n\n[[nodes]]\nnames = "pi1"\nhost = "10.1.0.1"\n'
    prom = tmp_path / "prom.toml"
    prom.write_text(base + '\n[source]\nprometheus = "http://127.0.0.1:9"\n')
    plain = tmp_path / "plain.toml"
    plain.write_text(base)
    config = load_config(prom, ssh_config=ssh_config, env={}, state_dir=tmp_path / "s")
    got = {t.name: (t.host, t.port, t.user) for t in node_targets(config, ["pi1", "rk1-07"])}
    assert got == {"pi1": ("10.1.0.1", 22, "pi"), "rk1-07": ("rk1-07.rack2.lab", 2207, "ops")}
    config = load_config(plain, ssh_config=ssh_config, env={}, state_dir=tmp_path / "s")
    assert [t.name for t in node_targets(config, ["pi1", "rk1-07"])] == ["pi1"]


class Standin:
    """Where a link's agent and events feed would be: makes Link.up true, nothing to close."""

    def close(self) -> None:
        pass


def test_a_linked_node_is_not_placed_on_while_its_link_is_probed(tmp_path):
    """Reported down while linked: until the probe answers, no new work goes there."""
    sched = scheduler(tmp_path, {"a": NodeReport(True, NOW, 2, 900, 0.0)})
    link = sched.links["a"]
    link.agent = link.events = Standin()  # type: ignore[assignment]
    sched._linked.add("a")                        # as a link's setup records it
    assert rooms(sched)["a"][2] is True
    sched._inflight.add(("probe", "a"))
    assert rooms(sched)["a"][2] is False
    sched._inflight.discard(("probe", "a"))
    assert rooms(sched)["a"][2] is True


class CountedSizes(dict):
    """PromSource.sizes that counts the reports read through it."""
    reads = 0

    def get(self, key, default=None):
        self.reads += 1
        return super().get(key, default)


def ticked(src: PromSource, reports: dict[str, NodeReport], up: dict[str, bool]) -> None:
    """One tick of the source: the targets' up (new ones too) and the nodes' reports."""
    src.up.update(up)
    src.land_reports(reports)
    src.commit_reports()


def test_a_report_set_names_only_the_nodes_new_or_resized_since_a_version():
    src = source_at(NOW)
    ticked(src, {"a": NodeReport(True, NOW, 4, 3800, 0.0), "b": NodeReport(True, NOW, 2, 900, 0.0)},
           {"a": True, "b": True})
    view = src.reports(10.0)
    first = view.version
    assert src.changes_since(0) == {"a", "b"} and src.changes_since(first) == frozenset()
    assert view.get("a") is view["a"] and view["a"].load1 == 0.0   # kept for this set
    # every load and time moved, b grew, c appeared: the set names b and c only
    ticked(src, {"a": NodeReport(True, NOW + 1, 4, 3800, 3.0), "b": NodeReport(True, NOW + 1, 4, 900, 1.0),
                 "c": NodeReport(True, NOW + 1, 1, 400, 0.0)}, {"c": True})
    assert src.changes_since(first) == {"b", "c"}
    assert src.reports(10.0)["a"].load1 == 3.0             # the set reads the latest report
    assert view["a"].load1 == 3.0 and view.get("nobody") is None   # ... a view made before too
    for _ in range(100):                                   # a reader far behind: walk them all
        ticked(src, {}, {})
    assert src.changes_since(first) is None and src.changes_since(src.version + 1) is None


def test_a_landing_names_the_resized_against_the_tick_before_and_orders_by_freeness():
    """What a tick's worker thread makes of its reports: the nodes new or resized since the
    tick before (a node missing from it counts as new: at worst walked once more), and every
    node freest first by cores less load1, ties in the reports' order."""
    before = {"a": NodeReport(True, NOW, 4, 3800, 0.0), "b": NodeReport(True, NOW, 2, 900, 0.0)}
    now = {"a": NodeReport(True, NOW + 1, 4, 3800, 3.5), "b": NodeReport(True, NOW + 1, 2, 1800, 0.0),
           "c": NodeReport(True, NOW + 1, None, None, None), "d": NodeReport(True, NOW + 1, 2, 900, 0.5),
           "e": NodeReport(True, NOW + 1, 8, 7800, 6.0)}
    made = landing(now, before)
    assert made.resized == {"b", "c", "d", "e"} and made.reports is now
    assert made.freest == ("b", "e", "d", "c", "a")      # free 2, 2, 1.5, 1 (no size: 1), 0.5
    assert landing(now, now).resized == frozenset()


def ten_thousand(tmp_path, options: Options) -> tuple[PromSource, list[str], Store, Scheduler]:
    """A PromSource whose first set reports 10,000 idle 4-core nodes up (its sizes' reads
    counted), and a scheduler reading it: (source, names, store, scheduler)."""
    src = source_at(NOW)
    src.sizes = CountedSizes()
    names = [f"n{i}" for i in range(10_000)]
    ticked(src, {n: NodeReport(True, NOW, 4, 3800, 0.0) for n in names}, dict.fromkeys(names, True))
    store = Store(tmp_path / "jobs.db")
    nodes = NodeSource(lambda: src.reports(10.0), lambda name: NodeTarget(name, f"{name}.lab"))
    return src, names, store, Scheduler(store, [], options, nodes=nodes)


def test_a_sync_walks_what_changed_between_report_sets_not_every_node(tmp_path):
    """10,000 nodes from a PromSource: a sync with no new set reads no report; after a tick
    that moved every node's load, resized one and added one, it reads about those two (the
    new node linked, both sizes recorded); a set with nothing resized reads none."""
    src, names, store, sched = ten_thousand(tmp_path, Options())
    sched._sync_nodes()                                    # the first: every node
    assert len(sched.links) == 10_000 and len(store.node_sizes()) == 10_000
    src.sizes.reads = 0
    sched._sync_nodes()
    assert src.sizes.reads == 0                            # the same set: nothing read
    ticked(src, {**{n: NodeReport(True, NOW + 1, 4, 3800, 1.5) for n in names},
                 "n7": NodeReport(True, NOW + 1, 8, 7800, 0.0),
                 "new": NodeReport(True, NOW + 1, 2, 900, 0.0)}, {"new": True})
    src.sizes.reads = 0
    sched._sync_nodes()
    assert src.sizes.reads <= 4, src.sizes.reads
    assert "new" in sched.links and sched._freest is None   # loads moved: sorted on demand
    assert store.node_sizes()["n7"] == (8, 7800) and store.node_sizes()["new"] == (2, 900)
    ticked(src, {n: NodeReport(True, NOW + 2, 8 if n == "n7" else 4, 7800 if n == "n7" else 3800,
                                0.5) for n in names}, {})
    src.sizes.reads = 0
    sched._sync_nodes()
    assert src.sizes.reads == 0
    assert sched._seen["n0"].load1 == 0.5                 # placement reads the latest set
    store.close()


def test_placement_reads_a_report_set_in_the_order_it_was_made_not_sorted_per_sync(tmp_path):
    """10,000 nodes from a PromSource: the set's order by freeness is made as it lands, so the
    first placement pass after a new set reads about as many reports as the rooms it builds
    (~2 per candidate, max_links of them), not every node to sort them; and it is the
    freest-first order (ties in the reports' order), a node down or stale left out."""
    src, names, store, sched = ten_thousand(tmp_path, Options(max_links=8))
    sched._sync_nodes()
    loads = {n: 2.0 for n in names} | {"n9": 0.0, "n5": 0.5, "n3": 0.0, "n7": 1.0}
    ticked(src, {n: NodeReport(True, NOW + 1, 4, 3800, load) for n, load in loads.items()}, {"n3": False})
    src.sizes.reads = 0
    sched._sync_nodes()
    wide = [demand(1, 100, spec_of("--array", "1-100"), None)]
    placed = [r.name for r in sched._rooms(NOW + 1, wide)]
    assert src.sizes.reads <= 4 * 8, src.sizes.reads
    assert placed == ["n9", "n5", "n7", "n0", "n1", "n2", "n4", "n6"]   # n3 is down
    store.close()


def linked_measuring(sched: Scheduler, name: str, cores: int, load1: float) -> None:
    """The node's link up (stand-ins), its setup having measured cores and load1, idle."""
    link = sched.links[name]
    link.agent = link.events = Standin()  # type: ignore[assignment]
    link.info = NodeInfo(home="/home/pi", cores=cores, mem_mb=3800, load1=load1, events_size=0)
    link.load1, link.busy_at = load1, 0.0
    sched._linked.add(name)


@pytest.mark.parametrize("trust", [None, 45.0])
def test_a_node_its_link_measured_full_is_not_linked_again_while_its_report_is_unchanged(
        tmp_path, trust):
    """x's report says 4 free cores; its link measured them all busy (load 4). Parked, x is
    placed by the link's measure (full, so not linked again every link_idle) while the report
    says the same ([jobs] trust_measure at most: its default, then 45 s); once the report
    changes, or that time is up, by the report. A link that agreed with the report leaves no
    measure behind."""
    reports = {"x": NodeReport(True, NOW, 4, 3800, 0.0)}
    options = {} if trust is None else {"trust_measure": trust}
    sched = scheduler(tmp_path, reports, link_idle=30.0, **options)
    trust_for = 300.0 if trust is None else trust
    linked_measuring(sched, "x", 4, 4.0)
    sched._on_demand_pass(NOW)
    link = sched.links["x"]
    assert not link.up and link.measured is not None
    assert rooms(sched)["x"] == (4, 3800, True, 4)              # full by the link's measure
    later = NOW + trust_for - 1
    assert {r.name: r.foreign_cores for r in sched._rooms(later)} == {"x": 4}
    assert {r.name: r.foreign_cores for r in sched._rooms(NOW + trust_for)} == {"x": 0}  # retried
    reports["x"] = NodeReport(True, NOW, 4, 3800, 1.2)            # the report changed
    assert rooms(sched)["x"] == (4, 3800, True, 1)
    reports["x"] = NodeReport(True, NOW, 4, 3800, 0.0)
    linked_measuring(sched, "x", 4, 4.0)                          # linked again, full again
    sched._last_sync = 0.0
    sched._on_demand_pass(NOW + 40.0)
    assert link.measured is not None and link.measured.until == NOW + 40.0 + trust_for
    linked_measuring(sched, "x", 4, 0.0)                          # this time as reported
    sched._last_sync = 0.0
    sched._on_demand_pass(NOW + 200.0)
    assert link.measured is None and rooms(sched)["x"] == (4, 3800, True, 0)


def test_trust_measure_0_places_a_parked_node_by_its_report_alone(tmp_path):
    reports = {"x": NodeReport(True, NOW, 4, 3800, 0.0)}
    sched = scheduler(tmp_path, reports, link_idle=30.0, trust_measure=0.0)
    linked_measuring(sched, "x", 4, 4.0)
    sched._on_demand_pass(NOW)
    assert not sched.links["x"].up and sched.links["x"].measured is None
    assert rooms(sched)["x"] == (4, 3800, True, 0)               # free by its report


async def test_a_spread_array_links_a_node_per_task_freest_first(tmp_path):
    """--spread-job on the same fleet as the packed array above: 4 tasks go one per node to
    the four freest nodes (packed, a alone would hold them all)."""
    reports = {"a": NodeReport(True, NOW, 4, 3800, 0.0), "b": NodeReport(True, NOW, 2, 900, 0.0),
               "c": NodeReport(True, NOW, 2, 900, 0.0), "d": NodeReport(True, NOW, 4, 3800, 1.0)}
    reports |= {f"one{i}": NodeReport(True, NOW, 2, 900, 1.0) for i in range(6)}
    never = asyncio.Event()

    async def connect(target):
        await never.wait()
    store = Store(tmp_path / "jobs.db")
    nodes = NodeSource(lambda: reports, lambda name: NodeTarget(name, f"{name}.lab"))
    sched = Scheduler(store, [], Options(), connect, nodes=nodes)
    sched._sync_nodes()
    submit(store, "--array", "1-4", "--spread-job", "--wrap", "true")
    await sched._schedule(NOW)
    linking = {name for kind, name in sched._inflight if kind == "up"}
    assert linking == {"a", "b", "c", "d"}
    await sched.close()
    store.close()
