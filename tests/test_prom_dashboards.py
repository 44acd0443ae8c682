"""Grafana's node_exporter dashboards on roost's nodes, through a real Prometheus.

The lab (tests/lab/prometheus.py): Prometheus scrapes node_exporter on this host (job "node")
and roost's per-node targets, found through the README's /sd scrape config (job "roost"), whose
nodes are sshd lab nodes on this same host. Every visible query of three dashboards people run
is evaluated as Grafana would (tests/lab/grafana.py: the dashboards' own variable queries pick
the job, the nodename and the instance): roost must have data for at least 95% of the queries
node_exporter has data for. The table printed (pytest -s) is the closing figure of issue 12.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.lab.grafana import Grafana, targets
from tests.lab.prometheus import FIXTURES, NE_JOB, ROOST_JOB

pytestmark = pytest.mark.peers

DASHBOARDS = {
    "1860 Node Exporter Full": "node-exporter-full-1860.json",
    "11074 Node Exporter Dashboard EN": "node-exporter-en-11074.json",
    "node-mixin Node Exporter / Nodes": "node-mixin-nodes.json",
}
MIXIN_JOB = 'job=\\"node-exporter\\"'   # the mixin's selector, as it sits in the JSON text


def dashboard(file: str, job: str) -> dict:
    text = (FIXTURES / "dashboards" / file).read_text()
    return json.loads(text.replace(MIXIN_JOB, f'job=\\"{job}\\"'))  # the mixin's job selector


def nodename(prom_lab, job: str, instance: str) -> str:
    (row,) = prom_lab.query(f'node_uname_info{{job="{job}",instance="{instance}"}}')
    return row["metric"]["nodename"]


def evaluate(prom_lab, file: str, job: str, instance: str) -> dict[tuple[int, str, str], bool]:
    """{(query number, panel, expr as written): has data} for one node, the variables picked
    as a user would."""
    grafana = Grafana(prom_lab.url, start=max(prom_lab.started, time.time() - 300), end=time.time())
    board = dashboard(file, job)
    chosen = grafana.resolve(board, {"job": job, "instance": instance,
                                     "nodename": nodename(prom_lab, job, instance)})
    written = targets(dashboard(file, "node-exporter"))
    return {(i, w.panel, w.expr): grafana.has_data(t, chosen)
            for i, (t, w) in enumerate(zip(targets(board), written))}


@pytest.fixture(scope="module")
def coverage(prom_lab):
    prom_lab.wait_for_data(20)
    rows = {}
    for title, file in DASHBOARDS.items():
        theirs = evaluate(prom_lab, file, NE_JOB, prom_lab.ne_instance)
        ours = [evaluate(prom_lab, file, ROOST_JOB, i) for i in prom_lab.roost_instances]
        rows[title] = (theirs, ours)
    _print_table(rows)
    return rows


def _print_table(rows) -> None:
    print("\ndashboard | queries | node_exporter has data | roost has data (of those) | ratio")
    for title, (theirs, ours) in rows.items():
        wanted = [k for k, v in theirs.items() if v]
        got = [k for k in wanted if ours[0][k]]
        print(f"{title} | {len(theirs)} | {len(wanted)} | {len(got)} | {len(got) / len(wanted):.3f}")
        for _, panel, expr in (k for k in wanted if not ours[0][k]):
            print(f"    missing: {panel}: {' '.join(expr.split())[:150]}")


@pytest.mark.parametrize("title", list(DASHBOARDS))
def test_roost_has_data_for_95_percent_of_what_node_exporter_has(coverage, title):
    theirs, ours = coverage[title]
    wanted = [k for k, has in theirs.items() if has]
    assert len(wanted) >= 10, f"node_exporter itself shows almost nothing on {title}"
    for mine in ours:                                   # every roost node, not just the first
        got = [k for k in wanted if mine[k]]
        missing = [f"{p}: {e[:100]}" for i, p, e in wanted if not mine[(i, p, e)]]
        assert len(got) >= 0.95 * len(wanted), f"{len(got)}/{len(wanted)}; missing: {missing}"


def test_the_dashboards_pick_each_roost_node_by_its_own_instance(prom_lab):
    """label_values(node_uname_info{job=...}, instance) lists every roost node once, and each
    instance holds exactly one node: one uname, one boot time, one load (nothing mixed)."""
    prom_lab.wait_for_data(5)
    grafana = Grafana(prom_lab.url, start=prom_lab.started, end=time.time())
    board = dashboard(DASHBOARDS["1860 Node Exporter Full"], ROOST_JOB)
    grafana.resolve(board, {"job": ROOST_JOB})
    names = {nodename(prom_lab, ROOST_JOB, i) for i in prom_lab.roost_instances}
    assert set(grafana.values["nodename"]) == names and len(names) == 2
    for expr in (f'count by (instance) (node_uname_info{{job="{ROOST_JOB}"}})',
                 f'count by (instance) (node_load1{{job="{ROOST_JOB}"}})',
                 f'count by (instance) (node_boot_time_seconds{{job="{ROOST_JOB}"}})',
                 f'count by (instance, cpu, mode) (node_cpu_seconds_total{{job="{ROOST_JOB}"}})'):
        rows = prom_lab.query(expr)
        assert {r["metric"]["instance"] for r in rows} == set(prom_lab.roost_instances), expr
        assert all(r["value"][1] == "1" for r in rows), expr
    assert not any("node" in r["metric"] for r in prom_lab.query(f'{{job="{ROOST_JOB}"}}'))
