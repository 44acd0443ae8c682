"""One plain JSON object per node sample: readable fields and rates, for jq and pandas.

    {"node":"n1","time":1763700000.123,"seq":7,"cpu_percent":12.5,"core_percent":[10.0,15.0],
     "load1":0.52,"load5":0.58,"load15":0.59,"mem_used_bytes":790872064,
     "mem_total_bytes":3977601024,"mem_percent":19.88,"temp_c":{"cpu-thermal":51.1},
     "fan_rpm":{"pwmfan/fan1":2400},"fan_pwm":{"pwmfan/pwm1":128},"freq_mhz":{"0":1800},
     "net":{"eth0":{"rx_bytes_per_s":1520.4,"tx_bytes_per_s":310.0}},
     "disk":{"mmcblk0":{"read_bytes_per_s":0.0,"write_bytes_per_s":4096.0}},
     "fs":{"/":{"used_percent":41.2,"size_bytes":31254528000,"avail_bytes":17658421248}},
     "flags":[],"uptime_s":86400}

time is epoch seconds (jq: `.time | todate`). Rates (cpu, cores, net) need the node's previous
sample: they are null on a node's first sample and after a counter reset (reboot). A section the
node does not have (no fan, not a Raspberry Pi) is absent, never 0. temp_c keys are the thermal
zone's type (else zoneN) and hwmon's label (else chip/sensor), as the console shows them; flags
are the Raspberry Pi firmware's throttle bits that are set ("under_voltage_now",
"throttled_occurred" ...). disk is per whole disk (partitions count inside their disk), fs per
mount point ("readonly": true when it is), io_errors per device when any, power_w what the
node's power monitors read. The series form (Prometheus names, raw counters) is
collectors.sinks.jsonl's "series" format.
"""
from __future__ import annotations

from typing import Any

from ..health import power_draw, whole_disks
from ..model import CpuTimes, DiskStats, Filesystem, Sample
from ..rates import cpu_percent, rate

Record = dict[str, Any]     # one plain JSON object

_FLAGS = ("under_voltage", "freq_capped", "throttled", "soft_temp_limit")


def plain_record(cur: Sample, prev: Sample | None = None) -> Record:
    """The plain object for cur; prev (the node's previous sample) gives the rates."""
    if prev is not None and prev.boot_time != cur.boot_time:
        prev = None     # the node rebooted: its counters restarted, a "rate" would be garbage
    rec: Record = {"node": cur.node, "time": round(cur.ts, 3), "seq": cur.seq}
    _cpu(rec, cur, prev)
    _load_memory(rec, cur)
    _sensors(rec, cur)
    if cur.net:
        rec["net"] = _net(cur, prev)
    _storage(rec, cur, prev)
    if cur.throttle is not None:
        rec["flags"] = throttle_flags(cur.throttle.raw)
    if cur.uptime is not None:
        rec["uptime_s"] = round(cur.uptime)
    if cur.problems:
        rec["problems"] = list(cur.problems)
    return rec


def _cpu(rec: Record, cur: Sample, prev: Sample | None) -> None:
    if cur.cpu_total is not None:
        rec["cpu_percent"] = _percent(prev.cpu_total if prev else None, cur.cpu_total)
    if cur.cpus:
        before = {t.cpu: t for t in prev.cpus} if prev else {}
        rec["core_percent"] = [_percent(before.get(t.cpu), t) for t in cur.cpus]


def _percent(prev: CpuTimes | None, cur: CpuTimes) -> float | None:
    value = cpu_percent(prev, cur) if prev is not None else None
    return None if value is None else _r2(value)


def _r2(x: float) -> float:
    """round(x, 2) for x >= 0, at a seventh of its cost."""
    return int(x * 100.0 + 0.5) / 100.0


def _load_memory(rec: Record, s: Sample) -> None:
    if s.load is not None:
        load = s.load
        rec["load1"], rec["load5"], rec["load15"] = _r2(load.load1), _r2(load.load5), _r2(load.load15)
    total = s.memory.total if s.memory else None
    available = s.memory.available if s.memory else None
    if total:
        rec["mem_total_bytes"] = int(total)
        if available is not None:
            rec["mem_used_bytes"] = int(total - available)
            rec["mem_percent"] = _r2(max(0.0, 100.0 * (total - available) / total))


def _sensors(rec: Record, s: Sample) -> None:
    temps = {z.type or f"zone{z.zone}": z.temp_c for z in s.thermal}
    rpm, pwm = {}, {}
    for h in s.hwmon:
        if h.kind == "temp":
            temps.setdefault(h.label or f"{h.chip_name}/{h.sensor}", h.value)
        elif h.kind == "fan":
            rpm[f"{h.chip_name}/{h.sensor}"] = h.value
        else:
            pwm[f"{h.chip_name}/{h.sensor}"] = h.value
    for key, section in (("temp_c", temps), ("fan_rpm", rpm), ("fan_pwm", pwm)):
        if section:
            rec[key] = section
    freq = {c.cpu: round(c.cur_hz / 1e6) for c in s.cpufreq if c.cur_hz is not None}
    if freq:
        rec["freq_mhz"] = freq


def _net(cur: Sample, prev: Sample | None) -> dict[str, dict[str, float | None]]:
    dt = _elapsed(prev, cur) if prev is not None else 0.0
    before = {n.device: n for n in prev.net} if prev is not None else {}
    out = {}
    for n in cur.net:
        p = before.get(n.device)
        out[n.device] = {"rx_bytes_per_s": _rate(p.rx_bytes if p else None, n.rx_bytes, dt),
                         "tx_bytes_per_s": _rate(p.tx_bytes if p else None, n.tx_bytes, dt)}
    return out


def _storage(rec: Record, cur: Sample, prev: Sample | None) -> None:
    disks = whole_disks(cur.disks)
    if disks:
        dt = _elapsed(prev, cur) if prev is not None else 0.0
        before = {d.device: d for d in prev.disks} if prev is not None else {}
        rec["disk"] = {d.device: _disk_rates(before.get(d.device), d, dt) for d in disks}
    fs = {f.mountpoint: _filesystem(f, f.size) for f in cur.filesystems if f.size is not None}
    if fs:
        rec["fs"] = fs
    errors = {dev: n for dev, n in cur.io_errors.items() if n}
    if errors:
        rec["io_errors"] = errors
    watts = power_draw(cur)
    if watts is not None:
        rec["power_w"] = round(watts, 2)


def _disk_rates(prev: DiskStats | None, cur: DiskStats, dt: float) -> dict[str, float | None]:
    # sectors of 512 bytes (collectors.model.DiskStats), a 32-bit kernel's counters wrap
    read = _rate(prev.counters[2] if prev else None, cur.counters[2], dt)
    write = _rate(prev.counters[6] if prev else None, cur.counters[6], dt)
    return {"read_bytes_per_s": None if read is None else read * 512.0,
            "write_bytes_per_s": None if write is None else write * 512.0}


def _filesystem(f: Filesystem, size: float) -> Record:
    used = f.used_pct
    out: Record = {"used_percent": None if used is None else _r2(used), "size_bytes": int(size)}
    if f.avail is not None:
        out["avail_bytes"] = int(f.avail)
    if f.readonly:
        out["readonly"] = True
    return out


def _elapsed(prev: Sample, cur: Sample) -> float:
    # the node's own clock when both samples carry it: network jitter does not bend the rate
    if prev.node_clock is not None and cur.node_clock is not None:
        return cur.node_clock - prev.node_clock
    return cur.ts - prev.ts


def _rate(prev: int | None, cur: int, dt: float) -> float | None:
    value = rate(prev, cur, dt) if prev is not None else None
    return None if value is None else int(value * 10.0 + 0.5) / 10.0


def throttle_flags(raw: int) -> list[str]:
    """The set bits of the firmware's get_throttled value, by name."""
    names = [f"{name}_now" for bit, name in enumerate(_FLAGS) if raw & (1 << bit)]
    return names + [f"{name}_occurred" for bit, name in enumerate(_FLAGS) if raw & (1 << (16 + bit))]
