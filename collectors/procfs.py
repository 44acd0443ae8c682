"""Pure parsers for procfs text: text in, model values out. No I/O.

Every parser is total: garbage input gives None (or an empty tuple / skips the bad line), never an
exception and never a made-up number. Units follow node_exporter: seconds (USER_HZ = 100 ticks per
second, as the kernel exports it everywhere), bytes (kB * 1024).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import lru_cache, wraps
from types import MappingProxyType
from typing import Any, TypeVar, cast

from .model import CpuTimes, DiskStats, LoadAvg, Memory, NetCounters

USER_HZ = 100.0
_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest",
                "guest_nice")
_NETDEV_COLUMNS = 16
_MEMINFO_LINE = re.compile(r"^([^\s:]+):[ \t]+([0-9]+)( kB)?[ \t]*$", re.MULTILINE | re.ASCII)

# arm64 /proc/cpuinfo has no "model name": map (implementer, part) to the core's name.
_ARM_PARTS = {
    ("0x41", "0xd03"): "Cortex-A53", ("0x41", "0xd04"): "Cortex-A35", ("0x41", "0xd05"): "Cortex-A55",
    ("0x41", "0xd07"): "Cortex-A57", ("0x41", "0xd08"): "Cortex-A72", ("0x41", "0xd09"): "Cortex-A73",
    ("0x41", "0xd0a"): "Cortex-A75", ("0x41", "0xd0b"): "Cortex-A76", ("0x41", "0xd0d"): "Cortex-A77",
    ("0x41", "0xd41"): "Cortex-A78", ("0x41", "0xc07"): "Cortex-A7", ("0x41", "0xc0f"): "Cortex-A15",
    ("0x41", "0xb76"): "ARM1176",
}


def parse_int(text: str) -> int | None:
    """A plain ASCII decimal integer (optionally negative), else None ("1_0", "٣", "nan" refused)."""
    s = text.strip()
    if s.isdigit() and s.isascii():
        return int(s)
    if s[:1] == "-" and s[1:].isdigit() and s.isascii():
        return int(s)
    return None


def parse_float(text: str) -> float | None:
    """A plain ASCII decimal like "-0.52" or "1e3"; nan/inf and Python-only spellings refused."""
    s = text.strip()
    if not s or not s.isascii() or "_" in s or s[-1:] == ".":
        return None
    try:
        value = float(s)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _all_digits(tokens: list[str]) -> bool:
    joined = "".join(tokens)
    return joined.isascii() and joined.isdigit()


def _cpu_line(tokens: list[str]) -> CpuTimes | None:
    values = tokens[1:1 + len(_STAT_FIELDS)]
    if len(values) < 4 or not _all_digits(values):
        return None
    cpu = tokens[0][3:]
    if cpu and not (cpu.isascii() and cpu.isdigit()):
        return None
    return CpuTimes(cpu, *[int(v) / USER_HZ for v in values])


def parse_stat(text: str) -> tuple[CpuTimes | None, tuple[CpuTimes, ...]]:
    """/proc/stat -> (aggregate line, per-core lines) in seconds; bad lines are skipped."""
    total, cores = None, []
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        times = _cpu_line(line.split())
        if times is None:
            continue
        if times.cpu:
            cores.append(times)
        else:
            total = times
    return total, tuple(cores)


def parse_btime(text: str) -> float | None:
    """The "btime" line of /proc/stat: boot time in epoch seconds."""
    start = text.find("btime ")
    if start < 0 or (start > 0 and text[start - 1] != "\n"):
        return None
    end = text.find("\n", start)
    value = parse_int(text[start + 6:end if end >= 0 else len(text)])
    return float(value) if value is not None and value >= 0 else None


def parse_loadavg(text: str) -> LoadAvg | None:
    """/proc/loadavg: "0.52 0.58 0.59 2/211 14233"."""
    tokens = text.split()
    parsed = [parse_float(t) for t in tokens[:3]]
    loads = [v for v in parsed if v is not None]
    if len(loads) < 3 or min(loads) < 0:
        return None
    running = processes = None
    if len(tokens) > 3:
        run, _, procs = tokens[3].partition("/")
        running, processes = parse_int(run), parse_int(procs)
    return LoadAvg(loads[0], loads[1], loads[2], running=running, processes=processes)


def parse_meminfo(text: str) -> Memory | None:
    """/proc/meminfo -> Memory keyed by the kernel's names ("Active(anon)") in bytes or counts.

    node_exporter's rule: a unit means kB; unitless lines (HugePages_*) are counts. One regex pass:
    this runs for every frame and meminfo is the longest file a node sends."""
    # float(v) * 1024 is exact: scaling by a power of two commutes with rounding
    fields = {key: float(value) * 1024.0 if kb else float(value) for key, value, kb in _MEMINFO_LINE.findall(text)}
    return Memory(MappingProxyType(fields)) if fields else None


def parse_uptime(text: str) -> float | None:
    """/proc/uptime: the first number, seconds since boot."""
    tokens = text.split()
    value = parse_float(tokens[0]) if tokens else None
    return value if value is not None and value >= 0 else None


def _netdev_line(line: str) -> NetCounters | None:
    name, sep, rest = line.partition(":")
    name, tokens = name.strip(), rest.split()
    if not sep or not name or " " in name or len(tokens) != _NETDEV_COLUMNS or not _all_digits(tokens):
        return None
    v = [int(t) for t in tokens]
    return NetCounters(name, v[0], v[1], v[2], v[3], v[8], v[9], v[10], v[11])


def parse_net_dev(text: str) -> tuple[NetCounters, ...]:
    """/proc/net/dev -> one NetCounters per interface; the two header lines have no ":" data."""
    return tuple(filter(None, map(_netdev_line, text.splitlines()[2:])))


def _cpuinfo_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def parse_cpuinfo(text: str) -> tuple[str | None, int | None, str | None]:
    """/proc/cpuinfo -> (cpu model, logical cores, board model from the "Model" line on a Pi)."""
    pairs = _cpuinfo_pairs(text)
    first: dict[str, str] = {}
    for key, value in pairs:
        first.setdefault(key, value)
    cores = sum(1 for key, _ in pairs if key == "processor") or None
    arm = _ARM_PARTS.get((first.get("CPU implementer", ""), first.get("CPU part", "").lower()))
    cpu_model = first.get("model name") or arm or first.get("Processor") or first.get("cpu model")
    return cpu_model or None, cores, first.get("Model") or None


# ---- node_exporter's other procfs collectors -----------------------------------------------
# Parsed when a Prometheus scrape asks (collectors.nodeexp), so they return plain mappings and
# tuples; every one is total like the parsers above.

_STAT_COUNTERS = {"intr": "intr", "ctxt": "ctxt", "processes": "forks",
                  "procs_running": "procs_running", "procs_blocked": "procs_blocked"}


def parse_stat_counters(text: str) -> dict[str, int]:
    """/proc/stat's kernel counters: intr (first number: the total), ctxt, forks, procs_*."""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        name = _STAT_COUNTERS.get(key)
        if name is not None:
            value = parse_int(rest.split(maxsplit=1)[0]) if rest.strip() else None
            if value is not None and value >= 0:
                out[name] = value
    return out


def parse_key_values(text: str, keep: Callable[[str], Any] | None = None) -> dict[str, float]:
    """"name value" lines (/proc/vmstat, /proc/net/snmp6): {name: value}; bad lines skipped.
    keep: only the names it says yes to are parsed (a scrape serves a few of hundreds)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and (keep is None or keep(parts[0])) \
                and (value := parse_float(parts[1])) is not None:
            out[parts[0]] = value
    return out


def parse_netstat(text: str, keep: Callable[[str], Any] | None = None) -> dict[str, float]:
    """/proc/net/netstat and /proc/net/snmp: header/value line pairs -> {"TcpExt_ListenDrops": v}.
    keep: only the keys it says yes to are parsed."""
    out = {}
    lines = text.splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        vals = values.split()
        columns = _netstat_columns(names, keep)
        if len(vals) != columns[0] or not vals or vals[0] != columns[1]:
            continue
        for index, key in columns[2]:
            number = parse_float(vals[index])
            if number is not None:
                out[key] = number
    return out


CACHED_LINE = 4096   # longer lines are not kept in a cache (a node's text must not fill memory)
_F = TypeVar("_F", bound=Callable[..., Any])


def short_key_cache(maxsize: int) -> Callable[[_F], _F]:
    """lru_cache(maxsize) for calls whose first argument, text a node sent, is at most
    CACHED_LINE characters; a longer one is worked out each time and never kept."""
    def wrap(fn: _F) -> _F:
        cached = lru_cache(maxsize=maxsize)(fn)

        @wraps(fn)
        def call(key: str, *rest: Any) -> Any:
            return cached(key, *rest) if len(key) <= CACHED_LINE else fn(key, *rest)
        return cast(_F, call)
    return wrap


@short_key_cache(1024)   # a kernel's header lines are the same every frame
def _netstat_columns(names: str, keep: Callable[[str], Any] | None) -> tuple[int, str, tuple[tuple[int, str], ...]]:
    """(how many columns, the first one, (index, key) of each column kept) of a netstat header
    line; (-1, "", ()) when it is not one."""
    head = names.split()
    if not head or not head[0].endswith(":"):
        return -1, "", ()
    proto = head[0][:-1]
    keys = ((i, f"{proto}_{name}") for i, name in enumerate(head[1:], 1))
    return len(head), head[0], tuple((i, key) for i, key in keys if keep is None or keep(key))


def parse_snmp6(text: str, keep: Callable[[str], Any] | None = None) -> dict[str, float]:
    """/proc/net/snmp6: "Ip6InOctets 123" -> {"Ip6_InOctets": 123} (split after the first "6").
    keep: only the keys it says yes to are parsed."""
    out = {}
    for name, value in parse_key_values(text, None if keep is None else _snmp6_keep(keep)).items():
        if name.find("6") > 0:
            out[_snmp6_key(name)] = value
    return out


def _snmp6_key(name: str) -> str:
    six = name.find("6")
    return f"{name[:six + 1]}_{name[six + 1:]}"


def _snmp6_keep(keep: Callable[[str], Any]) -> Callable[[str], bool]:
    return lambda name: name.find("6") > 0 and bool(keep(_snmp6_key(name)))


def parse_sockstat(text: str) -> dict[str, float]:
    """/proc/net/sockstat(6): {"sockets_used": 16, "TCP_inuse": 1, "TCP_mem": 21, "FRAG_memory": 0}."""
    out = {}
    for line in text.splitlines():
        proto, sep, rest = line.partition(":")
        words = rest.split()
        if not sep or len(words) % 2:
            continue
        for key, value in zip(words[::2], words[1::2]):
            number = parse_int(value)
            if number is not None:
                out[f"{proto}_{key}" if proto != "sockets" else f"sockets_{key}"] = float(number)
    return out


_SOFTNET = ("processed", "dropped", "times_squeezed", None, None, None, None, None,
            "cpu_collision", "received_rps", "flow_limit_count", "backlog_len", "index")


def parse_softnet(text: str) -> tuple[dict[str, int], ...]:
    """/proc/net/softnet_stat: one dict per CPU line of hex columns (names as node_exporter's)."""
    rows = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 3 or _HEX_LINE.fullmatch(line) is None:   # one C call a CPU
            continue
        rows.append({name: int(c, 16) for name, c in zip(_SOFTNET, cols) if name})
    return tuple(rows)


_HEX = re.compile(r"[0-9a-fA-F]+")
_HEX_LINE = re.compile(r"\s*[0-9a-fA-F]+(?:\s+[0-9a-fA-F]+)*\s*")


def _is_hex(text: str) -> bool:
    return _HEX.fullmatch(text) is not None


def parse_file_nr(text: str) -> tuple[int, int] | None:
    """/proc/sys/fs/file-nr: "allocated unused maximum" -> (allocated, maximum)."""
    parts = text.split()
    values = [parse_int(p) for p in parts[:3]]
    if len(values) < 3 or None in values:
        return None
    return values[0], values[2]  # type: ignore[return-value]


def parse_arp(text: str) -> dict[str, int]:
    """/proc/net/arp: entries per device (the last column); the header line is skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 6:
            out[cols[-1]] = out.get(cols[-1], 0) + 1
    return out


def parse_udp_queues(text: str) -> tuple[int, int] | None:
    """/proc/net/udp(6): (tx_queue, rx_queue) summed over every socket (column 5, "tx:rx" hex)."""
    tx = rx = 0
    lines = text.splitlines()
    if not lines or "tx_queue" not in lines[0]:
        return None
    for line in lines[1:]:
        cols = line.split()
        if len(cols) < 5:
            continue
        t, sep, r = cols[4].partition(":")
        if sep and _is_hex(t) and _is_hex(r):
            tx, rx = tx + int(t, 16), rx + int(r, 16)
    return tx, rx


def parse_pressure(text: str) -> dict[str, float]:
    """/proc/pressure/<resource>: {"some": total seconds, "full": total seconds}."""
    out = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        for word in rest.split():
            key, _, value = word.partition("=")
            if key == "total" and (us := parse_int(value)) is not None and us >= 0:
                out[kind] = us / 1000.0 / 1000.0  # node_exporter's arithmetic, to the last bit
    return out


def parse_conntrack_stat(text: str) -> dict[str, int]:
    """/proc/net/stat/nf_conntrack: per-CPU hex rows under a header, summed per column."""
    lines = text.splitlines()
    if not lines:
        return {}
    names, out = lines[0].split(), dict[str, int]()
    for line in lines[1:]:
        cols = line.split()
        if len(cols) != len(names) or not all(_is_hex(c) for c in cols):
            continue
        for name, value in zip(names, cols):
            out[name] = out.get(name, 0) + int(value, 16)
    return out


def parse_diskstats(text: str) -> tuple[DiskStats, ...]:
    """/proc/diskstats: major minor name and 11, 15 or 17 counters per line."""
    from .model import DiskStats
    out = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 14 or cols[2].startswith(("loop", "ram")):   # never shown, often dozens
            continue
        if _all_digits(cols[:2]) and _all_digits(cols[3:]):
            out.append(DiskStats(cols[2], int(cols[0]), int(cols[1]), tuple(map(int, cols[3:]))))
    return tuple(out)


def parse_schedstat(text: str) -> tuple[tuple[str, int, int, int], ...]:
    """/proc/schedstat: (cpu, running ns, waiting ns, timeslices) per "cpuN" line."""
    out = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) >= 10 and cols[0].startswith("cpu") and cols[0][3:].isdigit() \
                and _all_digits(cols[7:10]):
            out.append((cols[0][3:], int(cols[7]), int(cols[8]), int(cols[9])))
    return tuple(out)


def parse_os_release(text: str) -> dict[str, str]:
    """os-release(5): KEY=value lines, values optionally quoted with shell escapes."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key.replace("_", "").isalnum() or not key.isupper():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            for esc in ("\\\\", '\\"', "\\$", "\\`"):
                value = value.replace(esc, esc[1])
        out[key] = value
    return out


def parse_process_stat(text: str) -> dict[str, int] | None:
    """/proc/<pid>/stat: the fields process_* series need (times in ticks, rss in pages).
    cpu_ticks counts reaped children too: a sampler's slow-tick commands are its cost."""
    _, sep, rest = text.rpartition(")")
    cols = rest.split()
    if not sep or len(cols) < 22 or not _all_digits(cols[11:15] + cols[19:22]):
        return None
    ticks = sum(int(c) for c in cols[11:15])
    return {"cpu_ticks": ticks, "start_ticks": int(cols[19]), "vsize": int(cols[20]),
            "rss_pages": int(cols[21])}


def parse_limits(text: str) -> dict[str, float]:
    """/proc/<pid>/limits soft limits: {"Max open files": 20000.0, ...}; unlimited -> 2**64 - 1
    (as node_exporter's procfs library reports it)."""
    out = {}
    for line in text.splitlines()[1:]:
        parts = line[:26].strip(), line[26:47].strip()
        if parts[0] and parts[1]:
            value = 2.0 ** 64 - 1 if parts[1] == "unlimited" else parse_float(parts[1])
            if value is not None:
                out[parts[0]] = value
    return out
