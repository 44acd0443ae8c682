"""The recording rules a large site loads (examples/prometheus/roost-rules.yml) and the
[source.queries] its header tells the site to write: promtool accepts the file, a real
Prometheus evaluates it, and the console (Pilot) reads cpu, freq, net and disk from the recorded
series with the values the shipped queries give (and says so when the rules are missing).
"""
from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from collectors.promql import PromClient
from collectors.promsource import NodeNames, assemble, queries
from console.app import console_app
from console.config import load_config
from console.promfleet import open_prom_source, with_source_thresholds
from console.state import UP
from tests.conftest import ROOT, need
from tests.helpers.pilot import until
from tests.helpers.rules import RULES, documented_queries
from tests.lab.prometheus import NE_JOB, ROOST_JOB

pytestmark = pytest.mark.peers
PROMTOOL = "/usr/bin/promtool"
SELECTOR = f'job=~"{NE_JOB}|{ROOST_JOB}"'


def test_promtool_accepts_the_rules_file():
    need(PROMTOOL, "promtool (Debian package prometheus)")
    out = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "SUCCESS: 6 rules found" in out.stdout, out.stdout + out.stderr


def write_console(tmp_path, url: str, extra: str = ""):
    (tmp_path / "roost.toml").write_text(
        f"[source]\nprometheus = \"{url}\"\nselector = '{SELECTOR}'\ninterval = 1\n"
        f"scrape_interval = 15\n{extra}")     # scrape 15: the shipped queries' window is the rules' 1m
    return with_source_thresholds(load_config(tmp_path / "roost.toml", state_dir=tmp_path / "s"))


async def shipped_fleet(url: str) -> dict:
    """The fleet as the shipped queries (no rules) give it now, with the rules' 1 m window."""
    client = PromClient(url)
    try:
        qs = queries(SELECTOR, "instance", 60)
        replies = await asyncio.gather(*(client.instant(q) for q in qs.values()))
    finally:
        await client.aclose()
    return assemble(dict(zip(qs, replies)), NodeNames(), time.time()).samples


async def test_the_console_reads_cpu_net_disk_and_freq_from_the_recording_rules(prom_lab, tmp_path):
    prom_lab.add_rules(RULES)
    overrides = documented_queries()
    assert overrides.count(" = ") == 4
    config = write_console(tmp_path, prom_lab.url, overrides)
    source = open_prom_source(config)
    assert set(source.overridden) == {"cpu", "freq", "net", "disk"}
    assert "instance:roost_cpu_idle_seconds:rate1m{" + SELECTOR + ",}" in source.queries["cpu"]
    nodes = ["127.0.0.1", *prom_lab.roost_instances]      # node_exporter's instance, port stripped
    app = console_app(config, source, refresh=1.0)
    async with app.run_test(size=(160, 40)) as pilot:
        def ready() -> bool:
            rows = {r.name: r for r in app.state.rows()}
            return all(n in rows and rows[n].state == UP and rows[n].cpu is not None
                       and rows[n].rx_bps is not None and rows[n].disk_pct is not None for n in nodes)
        await until(pilot, ready, 60, "every node's cpu, net and disk from the rules")
        rows = {r.name: r for r in app.state.rows()}
        status, level = source.status()
        assert "no series" not in status and "DOWN" not in status, status
    plain = await shipped_fleet(prom_lab.url)
    for n in nodes:
        row, want = rows[n], plain[n]
        assert row.cores == want.rates.cores
        assert 0 <= row.cpu <= 100 and row.cpu == pytest.approx(want.rates.cpu, abs=35), n
        assert row.rx_bps >= 0 and row.tx_bps >= 0
        mounts = {f.mountpoint for f in want.filesystems}
        got = {f.mountpoint for f in app.state.node(n).last.filesystems}
        assert got == mounts, n                          # the same real filesystems, no pseudo ones
        assert row.disk_pct == pytest.approx(max(f.used_pct for f in want.filesystems
                                                 if not f.readonly), abs=2), n
        fastest = [f.cur_hz for f in want.cpufreq if f.cur_hz]
        assert (row.freq_hz is None) == (not fastest)     # freq from the rule where the node has one
        if fastest:
            assert row.freq_hz == pytest.approx(max(fastest), rel=0.5)


async def test_an_override_naming_a_rule_prometheus_lacks_is_said_on_the_summary(prom_lab, tmp_path):
    config = write_console(tmp_path, prom_lab.url, "[source.queries]\n"
                           "cpu = 'sum by ($node_label) (instance:not_loaded:rate1m{$selector})'\n")
    source = open_prom_source(config)
    try:
        assert await source.tick()
        text, level = source.status()
        assert "cpu: no series (is the recording rule loaded?)" in text and level == "warn", text
    finally:
        await source.stop()


def test_the_readme_tells_the_same_overrides_as_the_rules_file():
    import re
    import tomllib
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[source.queries]" in b)
    assert tomllib.loads(block) == tomllib.loads(documented_queries())
