"""The console's own host as a Sample, read through psutil (no SSH, works beyond Linux).

Same model as the remote path. Limits of psutil, stated rather than papered over: hwmon sensors are
named by position within their chip (psutil does not say which tempN file a reading came from), the
chip label is the chip's name file (not node_exporter's device-path label), there are no thermal
zones or cooling devices, and meminfo fields psutil reshapes (its "cached" adds SReclaimable) are
left out rather than exported under the kernel's name with a different meaning.
"""
from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import psutil

from .model import CpuFreq, CpuTimes, HwmonSensor, LoadAvg, Memory, NetCounters, NodeFacts, Sample
from .procfs import parse_cpuinfo
from .sysfs import clean_name

T = TypeVar("T")
_MEM = (("MemTotal", "total"), ("MemAvailable", "available"), ("MemFree", "free"), ("Buffers", "buffers"),
        ("Shmem", "shared"), ("Active", "active"), ("Inactive", "inactive"), ("Slab", "slab"))


def _try(what: str, call: Callable[[], T], problems: list[str]) -> T | None:
    # psutil raises on odd platforms (no cpufreq, no sensors, containers): note it, keep going.
    try:
        return call()
    except (OSError, RuntimeError, AttributeError, NotImplementedError, ValueError) as exc:
        first_line = (str(exc).splitlines() or [""])[0]
        problems.append(f"{what} unavailable: psutil {type(exc).__name__}: {first_line}")
        return None


def _times(cpu: str, t: object) -> CpuTimes:
    return CpuTimes(cpu, *(float(getattr(t, m, 0.0)) for m in
                           ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest",
                            "guest_nice")))


def _memory() -> Memory:
    vm, swap = psutil.virtual_memory(), psutil.swap_memory()
    fields = {k: float(getattr(vm, attr)) for k, attr in _MEM if hasattr(vm, attr)}
    fields.update(SwapTotal=float(swap.total), SwapFree=float(swap.free))
    return Memory(MappingProxyType(fields))


def _net() -> tuple[NetCounters, ...]:
    return tuple(NetCounters(dev, c.bytes_recv, c.packets_recv, c.errin, c.dropin,
                             c.bytes_sent, c.packets_sent, c.errout, c.dropout)
                 for dev, c in sorted(psutil.net_io_counters(pernic=True).items()))


def _sensors(kind: str, readings: dict[str, list[Any]]) -> list[HwmonSensor]:
    out = []
    for chip, entries in sorted(readings.items()):
        for i, entry in enumerate(entries, start=1):
            out.append(HwmonSensor(clean_name(chip) or chip, chip, kind, f"{kind}{i}", float(entry.current),
                                   entry.label or None))
    return out


def _hwmon() -> tuple[HwmonSensor, ...]:
    temps = psutil.sensors_temperatures() if hasattr(psutil, "sensors_temperatures") else {}
    fans = psutil.sensors_fans() if hasattr(psutil, "sensors_fans") else {}
    return tuple(_sensors("temp", temps) + _sensors("fan", fans))


def _mhz(value: float | None) -> float | None:
    return value * 1e6 if value else None  # psutil reports 0 for "unknown"


def _cpufreq() -> tuple[CpuFreq, ...]:
    freqs = psutil.cpu_freq(percpu=True) or []
    return tuple(CpuFreq(str(i), _mhz(f.current), _mhz(f.min), _mhz(f.max)) for i, f in enumerate(freqs))


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


@lru_cache(maxsize=1)
def local_facts() -> NodeFacts:
    cpu_model, _, pi_model = parse_cpuinfo(_read("/proc/cpuinfo"))
    model = _read("/sys/firmware/devicetree/base/model").strip("\0 \n") or \
        _read("/sys/class/dmi/id/product_name").strip() or pi_model
    return NodeFacts(socket.gethostname() or None, platform.release() or None, model or None,
                     cpu_model or platform.processor() or None, psutil.cpu_count() or os.cpu_count())


def sample_local(name: str = "localhost") -> Sample:
    """One Sample of this host via psutil; what psutil cannot give is absent with a note."""
    problems: list[str] = []
    per_cpu = _try("cpu times", lambda: psutil.cpu_times(percpu=True), problems) or []
    total = _try("cpu times", psutil.cpu_times, problems)
    boot = _try("boot time", psutil.boot_time, problems)
    load = _try("load average", psutil.getloadavg, problems)
    now = time.time()
    return Sample(
        node=name, ts=now, node_clock=now,
        cpu_total=_times("", total) if total is not None else None,
        cpus=tuple(_times(str(i), t) for i, t in enumerate(per_cpu)),
        load=LoadAvg(*load) if load is not None else None,
        memory=_try("memory", _memory, problems),
        boot_time=boot, uptime=now - boot if boot is not None else None,
        net=_try("network counters", _net, problems) or (),
        hwmon=_try("sensors", _hwmon, problems) or (),
        cpufreq=_try("cpu frequency", _cpufreq, problems) or (),
        facts=local_facts(), problems=tuple(problems),
    )
