"""Counters -> rates. Pure; safe across 32-bit wraps and counter resets.

A counter that went down is a 32-bit wrap when the previous value fit in 32 bits (old drivers and
32-bit kernels wrap /proc/net/dev at 2**32); otherwise it is a reset (reboot, driver reload) and
that step has no rate rather than a wrong one.
"""
from __future__ import annotations

from collections.abc import Hashable

from .model import CpuTimes

WRAP = 2 ** 32


def counter_delta(prev: float, cur: float, wrap: bool = True) -> float | None:
    """cur - prev for a monotonic counter; a 32-bit wrap is unwrapped, a reset gives None."""
    if cur >= prev:
        return cur - prev
    if wrap and prev < WRAP and 0 <= cur < WRAP:
        return cur + WRAP - prev
    return None


def rate(prev: float, cur: float, dt: float, wrap: bool = True) -> float | None:
    """Per-second rate of a counter over dt seconds; None for a reset or a non-positive dt."""
    if not dt > 0:
        return None
    delta = counter_delta(prev, cur, wrap)
    return None if delta is None else delta / dt


def cpu_percent(prev: CpuTimes, cur: CpuTimes) -> float | None:
    """Busy share of elapsed CPU time between two readings, 0-100; None when time did not advance
    or any mode went backwards (a reset: a rebooted node or a hot-unplugged core)."""
    # CpuTimes.busy/.total spelled out in the same order (the same floats): this runs for every
    # core of every node every second
    cur_busy = cur.user + cur.nice + cur.system + cur.irq + cur.softirq + cur.steal
    prev_busy = prev.user + prev.nice + prev.system + prev.irq + prev.softirq + prev.steal
    cur_idle, prev_idle = cur.idle + cur.iowait, prev.idle + prev.iowait
    busy = cur_busy - prev_busy
    total = (cur_busy + cur.idle + cur.iowait) - (prev_busy + prev.idle + prev.iowait)
    if total <= 0 or busy < 0 or cur_idle < prev_idle:
        return None
    return min(100.0, max(0.0, 100.0 * busy / total))


class RateTracker:
    """Per-second rates keyed by (node, series); remembers the last (ts, value) of each."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, Hashable], tuple[float, float]] = {}

    def update(self, node: str, series: Hashable, ts: float, value: float, wrap: bool = True) -> float | None:
        """Record value at ts; the rate since the previous value, or None (first value, reset)."""
        key = (node, series)
        last = self._last.get(key)
        self._last[key] = (ts, value)
        return None if last is None else rate(last[1], value, ts - last[0], wrap)

    def forget(self, node: str) -> None:
        """Drop a node's history (it reconnected: its counters may have restarted)."""
        for key in [k for k in self._last if k[0] == node]:
            del self._last[key]

    def __len__(self) -> int:
        return len(self._last)
