"""rates: 32-bit wraps are unwrapped, resets give no rate, CPU percent stays in 0-100."""
from __future__ import annotations

from hypothesis import given, strategies as st

from collectors.model import CpuTimes
from collectors.rates import WRAP, RateTracker, counter_delta, cpu_percent, rate

u32 = st.integers(0, WRAP - 1)


def test_examples():
    assert counter_delta(10, 25) == 15
    assert counter_delta(WRAP - 5, 10) == 15                 # 32-bit wrap
    assert counter_delta(WRAP + 100, 10) is None              # 64-bit counter went down: reset
    assert counter_delta(100.0, 50.0, wrap=False) is None     # float counters never wrap
    assert rate(0, 10, 2.0) == 5.0 and rate(0, 10, 0.0) is None and rate(0, 10, -1) is None


@given(u32, u32)
def test_wrap_recovers_the_increment(prev, inc):
    assert counter_delta(prev, (prev + inc) % WRAP) == inc


@given(st.integers(WRAP, 2 ** 64 - 1), st.integers(0, 2 ** 64 - 1))
def test_big_counter_going_down_is_a_reset(prev, cur):
    delta = counter_delta(prev, cur)
    assert delta == (cur - prev if cur >= prev else None)


@given(st.integers(0, 2 ** 64), st.integers(0, 2 ** 64), st.floats(0.001, 1e6))
def test_rate_never_negative(prev, cur, dt):
    r = rate(prev, cur, dt)
    assert r is None or r >= 0


times = st.lists(st.integers(0, 10 ** 9), min_size=10, max_size=10)


@given(times, times)
def test_cpu_percent_bounded_or_none(a, b):
    p = cpu_percent(CpuTimes("0", *a), CpuTimes("0", *b))
    assert p is None or 0.0 <= p <= 100.0


@given(times, st.lists(st.integers(0, 10 ** 6), min_size=8, max_size=8))
def test_cpu_percent_of_forward_steps(start, inc):
    prev = CpuTimes("0", *start)
    cur = CpuTimes("0", *[s + i for s, i in zip(start, inc + [0, 0])])
    busy = inc[0] + inc[1] + inc[2] + inc[5] + inc[6] + inc[7]
    total = busy + inc[3] + inc[4]
    p = cpu_percent(prev, cur)
    assert p is None if total == 0 else abs(p - 100.0 * busy / total) < 1e-6


def test_cpu_percent_reset_is_none():
    assert cpu_percent(CpuTimes("0", 100, 0, 50, 1000), CpuTimes("0", 1, 0, 1, 10)) is None
    assert cpu_percent(CpuTimes("0", 1, 0, 1, 10), CpuTimes("0", 2, 0, 1, 11)) == 50.0


def test_tracker_per_node_and_series():
    t = RateTracker()
    assert t.update("n1", "eth0.rx", 0.0, 1000) is None
    assert t.update("n2", "eth0.rx", 0.0, 5) is None
    assert t.update("n1", "eth0.rx", 2.0, 3000) == 1000.0
    # a small counter that fell is read as a 32-bit wrap (the documented rule), not as a reset
    assert t.update("n1", "eth0.rx", 3.0, 100) == 100 + WRAP - 3000
    t.forget("n1")
    assert t.update("n1", "eth0.rx", 4.0, 100) is None and len(t) == 2


def test_tracker_wrap_and_reset():
    t = RateTracker()
    t.update("n", "c", 0.0, WRAP - 100)
    assert t.update("n", "c", 1.0, 100) == 200.0
    t.update("n", "c", 2.0, 2 ** 40)
    assert t.update("n", "c", 3.0, 5) is None        # 64-bit counter fell: reset, no rate
    assert t.update("n", "c", 4.0, 15) == 10.0        # and the next step works again
