"""[serve] collectors / disable_collectors: a node's target serves only the node_exporter collectors
asked for (its --collector.NAME / --no-collector.NAME flags), exactly those collectors' series, on
any board tree and with the node's SectionCache; a wrong name is one line naming file:line."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from collectors.promsource import FAMILIES, HISTORY
from collectors.sinks.prometheus import (
    COLLECTORS,
    CONSOLE_COLLECTORS,
    SCRAPED,
    node_text,
    select_sections,
)
from collectors.sinks.section_cache import SectionCache
from collectors.snapshot import Memo, build_sample
from console.config import ConfigError, load_config
from tests.helpers.demo_frames import T0, demo_snapshots

FRAMES = {p: demo_snapshots(p, frames=4) for p in ("rpi4", "rockpro64", "x86", "rk1")}
TIMING = "node_scrape_collector_"
SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^\n]*\})? ", re.M)


def sample(profile: str, frame: int = 3):
    memo = Memo()
    for i in range(frame + 1):   # as a node's frames arrive: the memo sees each
        s = build_sample("n", FRAMES[profile][i], T0 + i, seq=i, node_clock=T0 + i, memo=memo)
    return s


def series(text: str) -> set[tuple[str, str]]:
    """(name, labels) of every series line but roost's own per-collector timing."""
    return {(m[1], m[2] or "") for m in SERIES.finditer(text) if not m[1].startswith(TIMING)}


def timed(text: str) -> set[str]:
    return set(re.findall(r'^node_scrape_collector_success\{collector="([^"]+)"\}', text, re.M))


SAMPLES = {p: sample(p) for p in FRAMES}
ALONE = {(p, c): series(node_text(SAMPLES[p], sections=select_sections([c])))
         for p in FRAMES for c in COLLECTORS}


def test_no_choice_serves_everything_in_the_same_order():
    assert select_sections() == SCRAPED
    for s in SAMPLES.values():
        assert series(node_text(s, sections=select_sections(COLLECTORS))) == series(node_text(s))


def test_each_series_belongs_to_one_collector():
    """So a choice of collectors is a choice of series: no family comes from two of them."""
    for p in FRAMES:
        full = series(node_text(SAMPLES[p]))
        owners: dict[tuple[str, str], list[str]] = {}
        for c in COLLECTORS:
            for one in ALONE[p, c]:
                owners.setdefault(one, []).append(c)
        assert set(owners) == full, f"{p}: series no single collector serves"
        shared = {k: v for k, v in owners.items() if len(v) > 1}
        assert not shared, f"{p}: {shared}"


@settings(max_examples=60, deadline=None)
@given(profile=st.sampled_from(sorted(FRAMES)),
       only=st.none() | st.sets(st.sampled_from(sorted(COLLECTORS))),
       disabled=st.sets(st.sampled_from(sorted(COLLECTORS)), max_size=6),
       cached=st.booleans())
def test_a_choice_serves_exactly_its_collectors_series(profile, only, disabled, cached):
    wanted = (COLLECTORS if only is None else only) - disabled
    sections = select_sections(only, disabled)
    cache = SectionCache() if cached else None
    if cache is not None:   # a scrape before: the second one replays what it can
        node_text(SAMPLES[profile], cache, sections)
    text = node_text(SAMPLES[profile], cache, sections)
    assert series(text) == set().union(*(ALONE[profile, c] for c in wanted))
    assert timed(text) <= wanted    # each served collector's own timing, no other's
    if not wanted:
        assert text == ""


def test_the_console_collectors_serve_what_the_console_queries_and_a_fraction_of_the_rest():
    """CONSOLE_COLLECTORS: every metric the console's queries name (promsource's families and
    the node screen's history) that a board's full target has, and under half its series."""
    queried = set(re.findall(r"node_[A-Za-z_]+", " ".join([*FAMILIES.values(),
                                                              *map(str, HISTORY.values())])))
    assert {"node_cpu_seconds_total", "node_load", "node_uname_info"} <= queried
    for p, s in SAMPLES.items():
        few, full = node_text(s, sections=select_sections(CONSOLE_COLLECTORS)), node_text(s)
        for name in queried:
            assert (f"\n{name}" in few) == (f"\n{name}" in full), (p, name)
        assert "node_netstat_" not in few and "node_vmstat_" not in few
        assert len(series(few)) < len(series(full)) / 2, p


@pytest.mark.parametrize("body, says", [
    ('[serve]\ncollectors = ["cpu", "cpux"]\n', "serve.collectors: unknown collector 'cpux' (roost serves: arp,"),
    ('[serve]\n\ndisable_collectors = "netstats"\n', "serve.disable_collectors: unknown collector 'netstats'"),
    ('[serve]\ncollectors = 3\n', "serve.collectors: expected a string or an array of strings"),
])
def test_a_wrong_collector_is_one_line_naming_file_line_and_key(tmp_path, body, says):
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "n1"\nhost = "127.0.0.1"\n\n' + body)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    line = body.splitlines().index(next(x for x in body.splitlines() if "collectors" in x)) + 5
    assert str(err.value).startswith(f"{cfg}:{line}: {says}")
    assert "\n" not in str(err.value)


def test_collectors_reach_the_serve_config(tmp_path):
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "n1"\nhost = "127.0.0.1"\n\n[serve]\ncollectors = ["cpu", "netstat"]\n'
                   'disable_collectors = "netstat"\n')
    serve = load_config(cfg).serve
    assert serve.collectors == ("cpu", "netstat") and serve.disable_collectors == ("netstat",)
    assert select_sections(serve.collectors, serve.disable_collectors) == select_sections(["cpu"])
