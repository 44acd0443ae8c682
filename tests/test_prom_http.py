"""The Prometheus endpoint over real HTTP: per-node targets, the fleet, discovery, file_sd, caching."""
from __future__ import annotations

import gzip
import json
import os
import time
import urllib.error
import urllib.request
from types import MappingProxyType

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collectors.model import CpuTimes, LoadAvg, Memory, NodeFacts, NodeTarget, Sample
from collectors.sinks.prom_http import Exposition, TargetInfo, sd_groups, serve
from collectors.sinks.prometheus import format_value, node_text
from tests.helpers.cli import lab_config, roost


def sample(node: str, load: float = 0.5, model: str = "Raspberry Pi 4 Model B Rev 1.5") -> Sample:
    return Sample(node, time.time(), node_clock=time.time(), load=LoadAvg(load, 0.25, 0.125),
                  cpus=(CpuTimes("0", 1.0, 0, 2, 30),),
                  memory=Memory(MappingProxyType({"MemTotal": 4096.0})),
                  facts=NodeFacts(hostname=node, model=model))


class Fleet:
    def __init__(self):
        self.samples = {"n1": sample("n1"), 'we"ird\\name': sample('we"ird\\name', 2.0)}
        self.up = {"n1": True, 'we"ird\\name': True, "n3": False}

    def view(self):
        return dict(self.samples), dict(self.up)


@pytest.fixture
def endpoint():
    fleet = Fleet()
    infos = [TargetInfo("n1", ("rack1", "pis"), "controller", "10.0.0.11:22"),
             TargetInfo('we"ird\\name'), TargetInfo("n3"), TargetInfo("n4")]
    exposition = Exposition(fleet.view, lambda: infos)
    server, _ = serve(exposition, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.server_port}", fleet, exposition
    server.shutdown()
    server.server_close()


def get(url: str, gz: bool = False):
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gz else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def series(body: bytes) -> dict:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(body.decode()) for s in fam.samples}


def test_each_node_is_its_own_target(endpoint):
    base, fleet, _ = endpoint
    status, headers, body = get(f"{base}/nodes/n1/metrics")
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    got = series(body)
    assert got[("node_load1", frozenset())] == 0.5
    assert not any(k == "node" for _, labels in got for k, _ in labels)
    quoted = urllib.request.quote('we"ird\\name', safe="")
    assert series(get(f"{base}/nodes/{quoted}/metrics")[2])[("node_load1", frozenset())] == 2.0
    assert series(get(f"{base}/probe?target=n1")[2])[("node_load1", frozenset())] == 0.5


def test_down_unknown_and_bad_requests(endpoint):
    base, _, _ = endpoint
    assert get(f"{base}/nodes/n3/metrics")[0] == 503       # down: Prometheus records up == 0
    assert get(f"{base}/nodes/n4/metrics")[0] == 503       # configured, no sample yet
    status, _, body = get(f"{base}/nodes/nope/metrics")
    assert status == 404 and b"nope: no such node" in body
    assert get(f"{base}/probe")[0] == 400
    assert get(f"{base}/elsewhere")[0] == 404
    assert get(base + "/")[0] == 200


def test_fleet_metrics_carry_roosts_own_series(endpoint):
    base, _, _ = endpoint
    got = series(get(f"{base}/metrics")[2])
    assert got[("roost_node_up", frozenset({("node", "n3")}))] == 0
    assert got[("roost_node_up", frozenset({("node", 'we"ird\\name')}))] == 1
    assert ("roost_sample_age_seconds", frozenset({("node", "n1")})) in got
    assert not any(name.startswith("node_") for name, _ in got)


def test_gzip_when_asked_and_cached_per_sample(endpoint):
    base, fleet, exposition = endpoint
    status, headers, body = get(f"{base}/nodes/n1/metrics", gz=True)
    assert headers.get("Content-Encoding") == "gzip"
    timing = "node_scrape_collector_duration_seconds"     # roost's own render time: differs
    plain = {k: v for k, v in series(gzip.decompress(body)).items() if k[0] != timing}
    fresh = {k: v for k, v in series(node_text(fleet.samples["n1"]).encode()).items() if k[0] != timing}
    assert plain == fresh
    cached = exposition._cache["n1"]
    get(f"{base}/nodes/n1/metrics", gz=True)
    assert exposition._cache["n1"] is cached or exposition._cache["n1"][1] is cached[1]
    fleet.samples["n1"] = sample("n1", load=7.0)              # a new sample: a new body
    assert series(get(f"{base}/nodes/n1/metrics")[2])[("node_load1", frozenset())] == 7.0


def test_sd_lists_every_node_with_its_labels(endpoint):
    base, _, _ = endpoint
    groups = json.loads(get(f"{base}/sd")[2])
    by = {g["labels"]["instance"]: g for g in groups}
    assert set(by) == {"n1", 'we"ird\\name', "n3", "n4"}
    n1 = by["n1"]
    assert n1["targets"] == [base.removeprefix("http://")]       # the address Prometheus used
    assert n1["labels"]["__metrics_path__"] == "/nodes/n1/metrics"
    assert n1["labels"]["groups"] == ",rack1,pis," and n1["labels"]["role"] == "controller"
    assert n1["labels"]["__meta_roost_board"] == "Raspberry Pi 4 Model B Rev 1.5"
    assert n1["labels"]["__meta_roost_address"] == "10.0.0.11:22"
    assert "groups" not in by["n3"]["labels"] and by["n3"]["labels"]["__meta_roost_board"] == ""


def test_sd_labels_are_valid_prometheus_labels():
    import re
    for group in sd_groups([TargetInfo("a b", ("g",), "r")], "h:1"):
        assert all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k) for k in group["labels"])


@pytest.mark.parametrize("value,text", [(1.0, "1"), (0.5, "0.5"), (1e21, "1e+21"), (-3.0, "-3"),
                                        (float("nan"), "NaN"), (float("inf"), "+Inf")])
def test_value_format(value, text):
    assert format_value(value) == text


def test_help_is_node_exporters_and_escaped():
    text = node_text(sample("n1"))
    assert "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\n" in text
    assert "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n" \
           "# TYPE node_cpu_seconds_total counter\n" in text


# ---- roost nodes --prometheus-sd FILE ----------------------------------------------------------

def test_nodes_prometheus_sd_writes_file_sd(env, tmp_path, ssh_lab):
    nodes = ssh_lab.start(1)
    cfg = lab_config(tmp_path, ssh_lab, nodes)
    out = tmp_path / "roost.json"
    result = roost("--config", str(cfg), "nodes", "--prometheus-sd", str(out),
                   "--prometheus-address", "10.0.0.1:9856", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("roost: wrote 1 Prometheus targets on 10.0.0.1:9856")
    (group,) = json.loads(out.read_text())
    assert group["targets"] == ["10.0.0.1:9856"]
    assert group["labels"]["instance"] == nodes[0].name
    assert group["labels"]["__metrics_path__"] == f"/nodes/{nodes[0].name}/metrics"
    ssh_lab.stop(nodes)


def test_prometheus_sd_replaces_a_symlink_never_follows_it(env, tmp_path):
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "a[1-3]"\nhost = "a{index}.lan"\ngroups = ["rack"]\n')
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    link = tmp_path / "sd.json"
    link.symlink_to(victim)
    result = roost("--config", str(cfg), "nodes", "--prometheus-sd", str(link), env=env)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "keep me\n" and not link.is_symlink()
    assert [g["labels"]["instance"] for g in json.loads(link.read_text())] == ["a1", "a2", "a3"]
    assert oct(link.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_prometheus_sd_errors_are_one_line(env, tmp_path):
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "a1"\nhost = "a1.lan"\n')
    result = roost("--config", str(cfg), "nodes", "--prometheus-sd", str(tmp_path / "no" / "x.json"),
                   env=env)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "No such file or directory" in result.stderr
    result = roost("--config", str(cfg), "nodes", "--prometheus-sd", "-", "--prometheus-address",
                   "nonsense", env=env)
    assert result.returncode == 2 and "HOST:PORT" in result.stderr
    result = roost("--config", str(cfg), "nodes", "--prometheus-sd", "-", env=env)
    assert result.returncode == 0 and json.loads(result.stdout)[0]["targets"] == ["127.0.0.1:9856"]


def test_target_infos_from_config_targets():
    from console.collect import target_infos
    infos = target_infos([NodeTarget("n1", "10.0.0.11", groups=("a",), role="controller"),
                          NodeTarget("me", "localhost", local=True)])
    assert infos == [TargetInfo("n1", ("a",), "controller", "10.0.0.11:22"), TargetInfo("me")]


def test_text_format_0_0_4_even_when_openmetrics_is_asked(endpoint):
    """Prometheus asks for OpenMetrics first; node_exporter's counters keep "_total" in their
    metadata only in the 0.0.4 text format, so that is what every target answers."""
    base, _, _ = endpoint
    req = urllib.request.Request(f"{base}/nodes/n1/metrics", headers={
        "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                  "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        body = r.read().decode()
    assert "# TYPE node_cpu_seconds_total counter\n" in body and "# EOF" not in body
