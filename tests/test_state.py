"""FleetState: derived values, history, alerts, staleness; and the UI-free boundary."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, replace

import pytest

from collectors.model import NetCounters, NodeEvent
from console.config import Thresholds
from console.state import CRIT, DOWN, STALE, UP, WARN, FleetState, Row, cpu_percent
from tests.helpers.samples import T0, cpu_times, make_sample, steady_fleet, steady_samples


def feed(state, samples):
    out = []
    for s in samples:
        out += state.apply(s)
    return out


def test_cpu_percent_and_per_core_from_counters():
    st = FleetState(["a"])
    feed(st, [make_sample("a", i, busy=[10, 90]) for i in range(3)])
    row = st.rows(now=T0 + 2)[0]
    assert row.cpu == pytest.approx(50.0)
    assert st.node("a").per_core == {"0": pytest.approx(10.0), "1": pytest.approx(90.0)}
    assert row.cores == 2 and row.state == UP and row.age == pytest.approx(0.0)


def with_eth0(sample, rx: int, tx: int):
    return replace(sample, net=(NetCounters("eth0", rx, 0, 0, 0, tx, 0, 0, 0),))


def test_net_rates_unwrap_32_bit_counters_and_skip_resets():
    """One rate implementation (collectors.rates): a 32-bit wrap is unwrapped, a counter that
    restarted below a value past 32 bits is a reset and gives no rate for that step."""
    st = FleetState()
    st.apply(with_eth0(make_sample("a", 0, busy=[1]), 2**32 - 1000, 5_000_000_000))
    st.apply(with_eth0(make_sample("a", 2, busy=[1]), 3000, 5_000_004_000))
    row = st.rows(now=T0 + 2)[0]
    assert (row.rx_bps, row.tx_bps) == (pytest.approx(2000.0), pytest.approx(2000.0))
    st.apply(with_eth0(make_sample("a", 3, busy=[1]), 5000, 10))      # tx past 2**32 went to 10
    assert st.rows(now=T0 + 3)[0].rx_bps is None


def test_cpu_counters_going_backwards_give_no_percent():
    assert cpu_percent(cpu_times("", 200, 50), cpu_times("", 100, 50)) is None
    assert cpu_percent(None, cpu_times("", 100, 50)) is None
    assert cpu_percent(cpu_times("", 100, 50), cpu_times("", 200, 50)) == pytest.approx(50.0)


def test_net_rates_exclude_loopback_and_use_node_clock():
    st = FleetState()
    feed(st, [make_sample("a", i, busy=[0], rx=2000.0, tx=1000.0) for i in range(2)])
    row = st.rows(now=T0)[0]
    assert (row.rx_bps, row.tx_bps) == (pytest.approx(2000.0), pytest.approx(1000.0))


def test_history_is_bounded_and_aligned():
    st = FleetState(history=5)
    feed(st, [make_sample("a", i, busy=[50, 50]) for i in range(12)])
    node = st.node("a")
    assert len(node.times) == 5
    assert all(len(d) == 5 for d in node.series.values())
    assert set(node.series_of("temp:")) == {"soc-thermal", "gpu-thermal"}


def test_big_little_clusters_fastest_first():
    st = FleetState()
    st.apply(make_sample("a", 0, busy=[1] * 8))
    assert st.node("a").clusters == (("4", "5", "6", "7"), ("0", "1", "2", "3"))


def test_temperature_alert_opens_escalates_and_clears():
    st = FleetState(thresholds=Thresholds(temp_warn=70, temp_crit=80))
    evs = st.apply(make_sample("a", 0, busy=[1], temp=75))
    assert [(e.kind, e.severity) for e in evs] == [("temp", WARN)]
    assert st.apply(make_sample("a", 1, busy=[1], temp=76)) == []      # no repeat
    evs = st.apply(make_sample("a", 2, busy=[1], temp=85))
    assert [(e.kind, e.severity) for e in evs] == [("temp", CRIT)]
    assert st.rows(now=T0)[0].temp_level == "crit"
    evs = st.apply(make_sample("a", 3, busy=[1], temp=40))
    assert [(e.kind, e.cleared) for e in evs] == [("temp", True)]
    assert st.alerts == {}


def test_memory_alert_and_row_levels_follow_the_configured_thresholds():
    """[thresholds] mem_*, cpu_* and load_warn reach alerts and the levels the cells colour by."""
    limits = Thresholds(mem_warn=50, mem_crit=90, cpu_warn=20, cpu_crit=60, load_warn=0.5)
    st = FleetState(thresholds=limits)
    evs = st.apply(make_sample("a", 0, busy=[40, 40], mem_avail=3e9))     # 62.5 % used
    assert [(e.kind, e.severity, e.message) for e in evs] == [("mem", WARN, "memory 62% used")]
    evs = st.apply(make_sample("a", 1, busy=[40, 40], mem_avail=0.4e9))   # 95 %
    assert [(e.kind, e.severity) for e in evs] == [("mem", CRIT)]
    row = st.rows(now=T0 + 1)[0]
    assert (row.mem_level, row.cpu_level, row.load_level) == ("crit", "warn", "ok")
    evs = st.apply(make_sample("a", 2, busy=[40, 40], mem_avail=7e9))
    assert [(e.kind, e.cleared) for e in evs] == [("mem", True)]
    feed(st, [make_sample("b", i, busy=[80, 80], mem_avail=7e9) for i in range(2)])
    row = {r.name: r for r in st.rows(now=T0 + 2)}["b"]
    assert (row.mem_level, row.cpu_level, row.load_level) == ("ok", "crit", "warn")
    default = FleetState()
    default.apply(make_sample("b", 0, busy=[40, 40], mem_avail=3e9))
    assert default.alerts == {}


def test_pi_flags_fan_stall_and_summary():
    st = FleetState()
    feed(st, [make_sample("a", 0, busy=[1], throttle=0x50005, rpm=0.0, pwm=200.0),
              make_sample("b", 0, busy=[1], temp=60)])
    kinds = {k for (_n, k) in st.alerts}
    assert kinds == {"undervoltage", "throttle", "fan_stalled"}
    row = {r.name: r for r in st.rows(now=T0)}["a"]
    assert row.flags == ("UV", "THR")
    assert row.fan_pwm_pct == pytest.approx(200 * 100 / 255)
    summ = st.summary(now=T0)
    assert (summ.total, summ.up, summ.alerts, summ.hottest_node) == (2, 2, 3, "b")


def test_no_fan_stall_without_pwm_or_with_spin():
    st = FleetState()
    st.apply(make_sample("a", 0, busy=[1], rpm=0.0, pwm=0.0))
    st.apply(make_sample("b", 0, busy=[1], rpm=1200.0, pwm=255.0))
    assert st.alerts == {}


def test_down_up_and_stale_transitions():
    st = FleetState(thresholds=Thresholds(stale_after=3))
    st.apply(make_sample("a", 0, busy=[1]))
    assert st.tick(now=T0 + 2) == []
    evs = st.tick(now=T0 + 4)
    assert [e.kind for e in evs] == ["stale"] and st.node("a").state == STALE
    evs = st.apply(NodeEvent("a", T0 + 5, "down", "keepalive timeout"))
    assert st.node("a").state == DOWN and {e.kind for e in evs} == {"stale", "down"}
    assert st.rows(now=T0 + 9)[0].age == pytest.approx(4.0)
    evs = st.apply(NodeEvent("a", T0 + 10, "up"))
    assert [(e.kind, e.cleared) for e in evs] == [("down", True)]
    assert st.node("a").last is None      # no rate across the outage


def test_steady_fleet_is_deterministic():
    p = steady_fleet(30, seed=3)
    a, b = FleetState(), FleetState()
    feed(a, steady_samples(p, range(4)))
    feed(b, steady_samples(steady_fleet(30, seed=3), range(4)))
    assert a.rows(now=T0 + 3) == b.rows(now=T0 + 3)


def test_state_is_ui_free():
    code = ("import sys, console.state; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('textual', 'rich', 'plotext', 'textual_plotext')]; print(bad); sys.exit(bool(bad))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_row_cache_follows_changes_and_age():
    st = FleetState()
    st.apply(make_sample("a", 0, busy=[10]))
    st.apply(make_sample("a", 1, busy=[10]))
    r1 = st.rows(now=T0 + 1)[0]
    r2 = st.rows(now=T0 + 5)[0]
    assert r2.age == pytest.approx(4.0) and r2.cpu == r1.cpu
    st.apply(make_sample("a", 2, busy=[10], temp=90))
    r3 = st.rows(now=T0 + 2)[0]
    assert r3.temp == 90 and r3.alerts == 1 and r3.temp_level == "crit"
    st.set_power("a", "off")
    assert st.rows(now=T0 + 2)[0].power == "off"
    st.apply(make_sample("a", 3, busy=[10], temp=40))
    assert st.rows(now=T0 + 3)[0].alerts == 0


def test_a_built_row_holds_every_value_under_its_own_field():
    """Rows are filled slot by slot in Row's field order (state._make_row, 3x faster than the
    frozen __init__): a value one slot off would show under the next column."""
    st = FleetState(["a"], groups={"a": ("rack1",)})
    st.set_power("a", "on")
    st.set_jobs("a", 3)
    for seq in (0, 1, 2):
        st.apply(make_sample("a", seq, busy=[50.0, 50.0], temp=61.5, rpm=2500.0, pwm=51.0,
                             mem_avail=0.8e9, throttle=0x50005))
    row = st.rows(now=T0 + 3)[0]
    assert Row(**{f.name: getattr(row, f.name) for f in fields(Row)}) == row
    assert (row.name, row.state, row.groups, row.power, row.jobs) == ("a", UP, ("rack1",), "on", 3)
    assert row.age == pytest.approx(1.0) and row.age_from == T0 + 2
    assert row.cpu == pytest.approx(50.0) and row.cpu_level == "ok" and row.cores == 2
    assert row.spark == pytest.approx((50.0, 50.0)) and row.load1 == pytest.approx(1.0)
    assert row.load_level == "ok" and row.mem_pct == pytest.approx(90.0)
    assert row.mem_level == "warn" and row.mem_total == 8e9
    assert (row.temp, row.temp_label, row.temp_level) == (61.5, "soc-thermal", "ok")
    assert row.fan_rpm == 2500.0 and row.fan_pwm_pct == pytest.approx(20.0)
    assert (row.freq_hz, row.freq_max_hz) == (2.4e9, 2.4e9)
    assert row.rx_bps == pytest.approx(1e5) and row.tx_bps == pytest.approx(5e4)
    assert row.flags == ("UV", "THR") and row.alerts == 3     # mem, undervoltage, throttle
    assert (row.disk_pct, row.disk_bps, row.disk_level, row.watts) == (None, None, "ok", None)


def test_select_rows_filter_and_sort():
    from console.state import select_rows
    st = FleetState(["n1", "n2", "n10", "x"], groups={"n1": ("rack1",), "n10": ("rack2",)})
    for name, busy in (("n1", 10), ("n2", 90), ("n10", 50)):
        for i in range(2):
            st.apply(make_sample(name, i, busy=[busy]))
    rows = st.rows(now=T0 + 1)
    assert [r.name for r in select_rows(rows, "", "name")] == ["n1", "n2", "n10", "x"]
    # busiest first by default, as top and btop; reverse: idlest first; no value: always last
    assert [r.name for r in select_rows(rows, "", "cpu")] == ["n2", "n10", "n1", "x"]
    assert [r.name for r in select_rows(rows, "", "cpu", reverse=True)] == ["n1", "n10", "n2", "x"]
    assert [r.name for r in select_rows(rows, "", "name", reverse=True)] == ["x", "n10", "n2", "n1"]
    assert [r.name for r in select_rows(rows, "rack2")] == ["n10"]
    assert [r.name for r in select_rows(rows, "state:unknown")] == ["x"]
    assert [r.name for r in select_rows(rows, "n1 up")] == ["n1", "n10"]
    assert [r.name for r in select_rows(rows, "n[2-10]")] == ["n2", "n10"]
    assert select_rows(rows, "n[2-") == []


def test_inbox_keeps_order_events_and_only_the_newest_sample_per_node():
    from console.messages import Inbox
    box = Inbox()
    a0, b0, a1 = (make_sample("a", 0, busy=[1]), make_sample("b", 0, busy=[1]),
                  make_sample("a", 1, busy=[1]))
    down = NodeEvent("b", T0, "down")
    assert box.put(a0) is True and box.put(b0) is False
    box.put(down)
    box.put(a1)
    assert box.drain() == [b0, down, a1] and box.skipped == 1
    assert box.put(a0) is True           # drained: the next item asks for a new drain message
