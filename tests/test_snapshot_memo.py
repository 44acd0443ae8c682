"""build_sample with a node's Memo: what did not change since the node's last frame is reused,
and the Sample is always the one parsing everything again would give."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from collectors.model import Snapshot
from collectors.snapshot import MEMO_CAP, Memo, build_sample
from console.demo.boards import PROFILES
from tests.helpers.demo_frames import T0, demo_snapshots


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_a_memo_gives_the_sample_parsing_everything_gives(profile):
    memo = Memo()
    for i, snap in enumerate(demo_snapshots(profile)):
        assert build_sample("n", snap, T0 + i, seq=i, memo=memo) == build_sample("n", snap, T0 + i, seq=i)


def test_what_did_not_change_is_reused_and_what_changed_is_parsed_again():
    first = demo_snapshots("rpi4", frames=1)[0]
    files = dict(first.files)
    memo = Memo()
    one = build_sample("n", first, T0, memo=memo)
    zone = next(p for p in files if p.startswith("sys/class/thermal/thermal_zone") and p.endswith("/temp"))
    files[zone] = "12345\n"
    files["proc/loadavg"] = "9.50 1.00 0.50 3/200 999\n"
    two = build_sample("n", Snapshot(files, first.links), T0 + 1, memo=memo)
    assert two.hwmon == one.hwmon and all(a is b for a, b in zip(two.hwmon, one.hwmon))
    assert two.memory is one.memory and two.cpufreq[0] is one.cpufreq[0]
    assert two.load is not None and two.load.load1 == 9.5
    assert 12.345 in [z.temp_c for z in two.thermal]
    assert two == build_sample("n", Snapshot(files, first.links), T0 + 1)


@settings(max_examples=150, deadline=None)
@given(which=st.integers(min_value=0), text=st.text(max_size=200), again=st.booleans())
def test_any_change_to_any_file_gives_what_a_fresh_parse_gives(which, text, again):
    """A node may send anything in any file, then go back to what it sent before."""
    base = demo_snapshots("rockpro64", frames=2)[1]
    path = sorted(base.files)[which % len(base.files)]
    memo = Memo()
    build_sample("n", base, T0, memo=memo)
    changed = Snapshot({**base.files, path: text}, base.links)
    assert build_sample("n", changed, T0, memo=memo) == build_sample("n", changed, T0)
    if again:
        assert build_sample("n", base, T0, memo=memo) == build_sample("n", base, T0)


def test_a_node_inventing_paths_cannot_grow_its_memo_without_bound():
    base = demo_snapshots("rpi4", frames=1)[0]
    memo = Memo()
    for i in range(MEMO_CAP // 4 + 10):
        zone = f"sys/class/thermal/thermal_zone{100 + i}"
        files = {**base.files, f"{zone}/type": "x\n", f"{zone}/temp": "1000\n"}
        build_sample("n", Snapshot(files, base.links), T0, memo=memo)
    assert len(memo.entries) <= MEMO_CAP


@pytest.mark.parametrize("profile", ["rpi4", "x86"])
def test_a_lazy_sample_parses_on_first_ask_into_the_sample_parsing_at_once_gives(profile):
    """Frames a lazy fleet hands out unparsed: sample() is build_sample of the same frame (the
    node's memo shared across them, asked out of order), built once and then kept."""
    from collectors.snapshot import LazySample, resolve
    memo = Memo()
    lazy = [LazySample("n", snap, T0 + i, seq=i, node_clock=T0 + i, memo=memo)
            for i, snap in enumerate(demo_snapshots(profile))]
    assert [(item.node, item.seq, item.ts) for item in lazy[:2]] == [("n", 0, T0), ("n", 1, T0 + 1)]
    for i in (7, 2, 11, 0, 5):     # a scrape asks for the latest, a sink for each: any order
        fresh = build_sample("n", lazy[i]._snap, T0 + i, seq=i, node_clock=T0 + i)
        assert lazy[i].sample() == fresh
        assert lazy[i].sample() is lazy[i].sample() and resolve(lazy[i]) is lazy[i].sample()
