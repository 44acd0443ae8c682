"""A node's SectionCache: a scrape replays the sections whose inputs did not change, and the
target's text is always exactly what rendering everything afresh gives (hypothesis)."""
from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from collectors import procfs
from collectors.model import Snapshot
from collectors.sinks import node_sections
from collectors.sinks.node_sections import _netstat_series, _vmstat_series
from collectors.sinks.prometheus import node_text, render_text
from collectors.sinks.section_cache import SectionCache
from collectors.sinks.writer import Families, series_key
from collectors.snapshot import Memo, build_sample
from tests.helpers.demo_frames import T0, demo_snapshots

# roost's own time per collector: a measurement, different on every render, cached or not
TIMING = re.compile(r"^node_scrape_collector_duration_seconds\{.*\n", re.M)
FRAMES = {p: demo_snapshots(p, frames=20) for p in ("rpi4", "rockpro64", "x86", "rk1")}


def steady(text: str) -> str:
    return TIMING.sub("", text)


def edited(snap: Snapshot, edits: list[tuple[int, str]]) -> Snapshot:
    files = dict(snap.files)
    paths = sorted(files)
    for which, text in edits:
        files[paths[which % len(paths)]] = text
    return Snapshot(files, snap.links)


@settings(max_examples=120, deadline=None)
@given(profile=st.sampled_from(sorted(FRAMES)),
       steps=st.lists(st.tuples(st.integers(0, 19),
                                st.lists(st.tuples(st.integers(min_value=0),
                                                   st.sampled_from(["", "0\n", "1\n", "up\n", "x y\n",
                                                                    "1e15\n", "1000000000000000\n"])
                                                   | st.text(max_size=40)), max_size=3)),
                      min_size=1, max_size=8))
def test_a_cached_render_is_a_fresh_render_for_any_sequence_of_frames(profile, steps):
    """Frames in any order, any file changed to anything and back, as the fleet parses them
    (one Memo per node): the cached target equals the fresh one, byte for byte."""
    memo, cache = Memo(), SectionCache()
    for i, (frame, edits) in enumerate(steps):
        snap = edited(FRAMES[profile][frame], edits)
        sample = build_sample("n", snap, T0 + i, seq=i, node_clock=T0 + i, memo=memo)
        assert steady(node_text(sample, cache)) == steady(node_text(sample))


def test_unchanged_sections_are_replayed_and_changed_ones_rendered_again():
    frames = FRAMES["rpi4"]
    memo, cache = Memo(), SectionCache()
    node_text(build_sample("n", frames[1], T0, memo=memo), cache)
    kept = dict(cache.entries)
    files = dict(frames[1].files)
    files["etc/os-release"] = 'NAME="Other"\nID=other\nVERSION_ID="13"\n'
    text = node_text(build_sample("n", Snapshot(files, frames[1].links), T0 + 1, memo=memo), cache)
    uname, os_ = node_sections._uname, node_sections._os
    assert cache.entries[uname] is kept[uname]                 # same inputs: replayed
    assert cache.entries[os_] is not kept[os_]                 # its file changed: rendered again
    assert 'node_os_info{build_id="",id="other"' in text


def test_one_node_cache_per_node_name_in_the_endpoint():
    """Two nodes with the same hardware never share replayed sections (hostnames differ)."""
    from collectors.sinks.prom_http import Exposition
    frames = FRAMES["rpi4"]
    samples = {}
    for name in ("a", "b"):
        files = {**frames[1].files, "proc/sys/kernel/hostname": f"{name}\n"}
        samples[name] = build_sample(name, Snapshot(files, frames[1].links), T0, memo=Memo())
    exposition = Exposition(lambda: (samples, {"a": True, "b": True}))
    for name in ("a", "b"):
        status, body, _ = exposition.node(name)
        assert status == 200 and f'nodename="{name}"' in body.decode()


@settings(max_examples=200, deadline=None)
@given(node=st.text(max_size=12), fleet=st.booleans(),
       series=st.lists(st.tuples(st.sampled_from(["node_a_total", "node_b", "node_load1"]),
                                 st.dictionaries(st.sampled_from(["cpu", "device", "mode"]),
                                                 st.text(max_size=8), max_size=2),
                                 st.integers(-10, 2**60) | st.floats(allow_nan=False)),
                       max_size=12),
       split=st.integers(0, 12))
def test_put_and_a_replayed_part_write_what_add_writes(node, fleet, series, split):
    """put() with a kept name{labels}, and merge() of a section rendered apart, give add()'s text:
    the node label (fleet), the first of duplicate series, the family's first HELP."""
    direct, replayed, part = Families(fleet), Families(fleet), Families(fleet)
    for i, (name, labels, value) in enumerate(series):
        direct.add(node, name, f"help {i}", labels, value)
        head = series_key(name, tuple(labels.items())) if labels else name
        (replayed if i < split else part).put(node, name, f"help {i}", head, value)
    replayed.merge(part.frozen())
    assert replayed.text() == direct.text() and replayed.count == direct.count


NETSTATISH = st.lists(st.sampled_from(["Tcp: ActiveOpens InSegs RtoMin\n", "Tcp: 3 4 200\n",
                                       "Udp: InDatagrams NoPorts\n", "Udp: 1 x\n", "Ip6InOctets 12\n",
                                       "Udp6NoPorts 1e3\n", "pgfault 7\n", "Tcp: 1 2\n", "junk\n"]),
                      max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=NETSTATISH | st.text(max_size=120))
def test_parsing_only_the_served_fields_gives_those_fields_of_the_full_parse(text):
    def served(parsed: dict, keep) -> dict:
        return {k: v for k, v in parsed.items() if keep(k)}
    assert procfs.parse_netstat(text, _netstat_series) == served(procfs.parse_netstat(text), _netstat_series)
    assert procfs.parse_snmp6(text, _netstat_series) == served(procfs.parse_snmp6(text), _netstat_series)
    assert procfs.parse_key_values(text, _vmstat_series) == served(procfs.parse_key_values(text),
                                                                   _vmstat_series)


def test_the_fleet_dump_is_unchanged_by_the_node_caches():
    """render_text (node label on every series) takes the put() path without a cache."""
    sample = build_sample("rack1-n01", FRAMES["rk1"][3], T0, memo=Memo())
    text = render_text([sample], fleet=True, now=T0)
    assert 'node_cpu_seconds_total{cpu="0",mode="user",node="rack1-n01"}' in text
    assert all('node="rack1-n01"' in line for line in text.splitlines()
               if line and not line.startswith("#"))


def test_a_short_key_cache_keeps_kernel_names_and_never_a_nodes_long_text():
    calls: list[str] = []

    @procfs.short_key_cache(8)
    def name_of(key: str) -> str:
        calls.append(key)
        return key.upper()

    long = "x" * (procfs.CACHED_LINE + 1)
    assert [name_of(k) for k in ("ctxt", "ctxt", long, long)] == ["CTXT", "CTXT", long.upper(), long.upper()]
    assert calls == ["ctxt", long, long]          # the short key once; the long text never kept
