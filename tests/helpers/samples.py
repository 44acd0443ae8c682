"""Deterministic Samples shaped like real SBCs, shared by the console and state tests.

Samples carry real counter arithmetic (cpu seconds, byte counters) so the state derives
percentages and rates exactly the way it does from a live node.
"""
from __future__ import annotations

import random
from types import MappingProxyType

from collectors.model import (
    CpuFreq,
    CpuTimes,
    HwmonSensor,
    LoadAvg,
    Memory,
    NetCounters,
    NodeFacts,
    RpiThrottle,
    Sample,
    ThermalZone,
)

T0 = 1_800_000_000.0
RK1_CLUSTERS = ((0, 1, 2, 3), (4, 5, 6, 7))


def cpu_times(cpu: str, seconds: float, busy_pct: float) -> CpuTimes:
    busy = seconds * busy_pct / 100.0
    return CpuTimes(cpu, user=busy * 0.8, system=busy * 0.2, idle=seconds - busy)


def make_sample(node: str, seq: int, *, busy: list[float], temp: float = 45.0,
                rpm: float | None = 3000.0, pwm: float | None = 128.0, rx: float = 1e5,
                tx: float = 5e4, throttle: int | None = None, ts0: float = T0,
                mem_avail: float = 3e9, big_little: bool = True) -> Sample:
    """The seq-th sample of a node whose cores run at `busy` percent each (cumulative counters)."""
    t = float(seq)
    cpus = tuple(cpu_times(str(i), 100 + t, b) for i, b in enumerate(busy))
    total = CpuTimes("", *(sum(getattr(c, f) for c in cpus) for f in
                           ("user", "nice", "system", "idle")))
    hw = []
    if rpm is not None:
        hw.append(HwmonSensor("platform_pwmfan", "pwmfan", "fan", "fan1", rpm))
    if pwm is not None:
        hw.append(HwmonSensor("platform_pwmfan", "pwmfan", "pwm", "pwm1", pwm))
    n = len(busy)
    groups = RK1_CLUSTERS if big_little and n == 8 else (tuple(range(n)),)
    freq = tuple(CpuFreq(str(c), 2.4e9 if c in groups[-1] else 1.8e9, 4.08e8,
                         2.4e9 if c in groups[-1] else 1.8e9, g)
                 for g in groups for c in g)
    return Sample(
        node=node, ts=ts0 + t, seq=seq, node_clock=ts0 + t, cpu_total=total, cpus=cpus,
        load=LoadAvg(sum(busy) / 100.0, 1.0, 1.0),
        memory=Memory(MappingProxyType({"MemTotal": 8e9, "MemAvailable": mem_avail})),
        uptime=1000 + t,
        net=(NetCounters("eth0", int(rx * (t + 10)), 0, 0, 0, int(tx * (t + 10)), 0, 0, 0),
             NetCounters("lo", 5, 0, 0, 0, 5, 0, 0, 0)),
        thermal=(ThermalZone("0", "soc-thermal", temp), ThermalZone("1", "gpu-thermal", temp - 5)),
        hwmon=tuple(hw), cpufreq=freq,
        throttle=None if throttle is None else RpiThrottle(throttle),
        facts=NodeFacts(hostname=node, kernel="6.1.0-rk1", model="Turing Machines RK1",
                        cpu_model="Cortex-A76/A55", cores=n))


def steady_fleet(n: int, seed: int = 7) -> dict[str, dict]:
    """Per-node steady parameters for n nodes, seeded: a few hot, one throttled, one stalled fan."""
    rnd = random.Random(seed)
    out = {}
    for i in range(1, n + 1):
        cores = 8 if i % 3 else 4
        out[f"n{i}"] = dict(busy=[round(rnd.uniform(0, 100)) for _ in range(cores)],
                            temp=round(rnd.uniform(35, 85), 1), rx=rnd.uniform(1e3, 1e7),
                            tx=rnd.uniform(1e3, 1e6), big_little=cores == 8,
                            throttle=0x50005 if i == 2 else None,
                            rpm=0.0 if i == 3 else 2500.0 + 10 * i)
    return out


def steady_samples(params: dict[str, dict], seqs: range, ts0: float = T0) -> list[Sample]:
    return [make_sample(name, seq, ts0=ts0, **p) for seq in seqs for name, p in params.items()]

