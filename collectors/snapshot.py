"""Snapshot (root-relative file contents) -> Sample. Pure: no I/O, never raises on bad content.

Called for every frame of every node (1000 nodes x 1 Hz), so it makes one pass over the files to
group them by directory and caches what only depends on static files (facts, hwmon chip labels).
Given a node's Memo it also reuses the last parse of every file and directory whose text did not
change: of a board's ~115 files a frame, the six busy procfs files change every second and its
sensors now and then, the rest never (bench/bench_parse.py "memo").
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from . import cmdout, procfs, sysfs
from .model import (
    CpuFreq,
    DiskStats,
    HwmonReading,
    HwmonSensor,
    MmcHealth,
    NodeFacts,
    PowerSupply,
    RpiThrottle,
    Sample,
    Snapshot,
)

HWMON = "sys/class/hwmon/"
THERMAL_ZONE = "sys/class/thermal/thermal_zone"
COOLING = "sys/class/thermal/cooling_device"
CPU = "sys/devices/system/cpu/cpu"
THROTTLED = "sys/devices/platform/soc/soc:firmware/get_throttled"
POWER_SUPPLY = "sys/class/power_supply/"
MMC_HOST = "sys/class/mmc_host/"
BLOCK = "sys/block/"
BLOCK_LINK = "sys/class/block/"
# Files every Linux node has: their absence is worth a note; the rest are optional hardware.
REQUIRED = ("proc/stat", "proc/loadavg", "proc/meminfo", "proc/uptime", "proc/net/dev")
T = TypeVar("T")
_NOTHING = (None, (), (None, ()))  # what the parsers give for text with nothing usable


# directories whose files are parsed together (sensors, supplies, cards); the rest (procfs, the
# interface properties the exposition reads lazily) are not grouped: grouping is per frame
_GROUPED = ("sys/class/hwmon/", "sys/class/thermal/", "sys/devices/system/cpu/cpu",
            "sys/class/power_supply/", "sys/class/mmc_host/", "sys/block/")


MEMO_CAP = 4096     # entries one node's Memo holds before it starts afresh (a node inventing paths)


class Memo:
    """One node's last parse of each file or directory, reused while its text is unchanged.

    Keep one per node (and connection): entries are (what was parsed, its result), compared by
    equality, so a reuse gives exactly what parsing again would. Results are immutable."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[Any, tuple[Any, Any]] = {}

    def get(self, key: Any, inputs: Any, compute: Callable[[], T]) -> T:
        hit = self.entries.get(key)
        if hit is not None and hit[0] == inputs:
            kept: T = hit[1]
            return kept
        value = compute()
        if len(self.entries) >= MEMO_CAP:
            self.entries.clear()
        self.entries[key] = (inputs, value)
        return value


def _place(path: str) -> tuple[str, str] | None:
    """(directory, file name) of a path whose directory is parsed as a group, else None."""
    if not path.startswith(_GROUPED):
        return None
    parent, _, base = path.rpartition("/")
    return parent, base


_PLACES: dict[str, tuple[str, str] | None] = {}   # _place by path: the same paths every frame


def _group(files: Mapping[str, str]) -> dict[str, dict[str, str]]:
    dirs: dict[str, dict[str, str]] = {}
    places = _PLACES
    for path, text in files.items():
        try:
            place = places[path]
        except KeyError:
            place = _place(path)
            if len(places) < 65536:
                places[path] = place
        if place is None:
            continue
        parent, base = place
        group = dirs.get(parent)
        if group is None:
            group = dirs[parent] = {}
        group[base] = text
    return dirs


def _parsed(files: Mapping[str, str], key: str, parse: Callable[[str], Any], problems: list[str],
            memo: Memo) -> Any:
    text = files.get(key)
    if text is None:
        if key in REQUIRED:
            problems.append(f"missing: {key}")
        return None
    value = memo.get(key, text, lambda: parse(text))
    if value in _NOTHING:
        problems.append(f"unparseable: {key}")
    return value


@lru_cache(maxsize=4096)
def _facts(hostname: str | None, osrelease: str | None, cpuinfo: str | None,
           dt_model: str | None, dmi: str | None) -> NodeFacts | None:
    if not any((hostname, osrelease, cpuinfo, dt_model, dmi)):
        return None
    cpu_model, cores, pi_model = procfs.parse_cpuinfo(cpuinfo or "")
    # device-tree strings end in NUL; DMI is the PC fallback; a Pi also names itself in cpuinfo.
    model = (dt_model or "").strip("\0 \n") or (dmi or "").strip() or pi_model
    return NodeFacts((hostname or "").strip() or None, (osrelease or "").strip() or None,
                     model or None, cpu_model, cores)


def build_facts(files: Mapping[str, str]) -> NodeFacts | None:
    return _facts(files.get("proc/sys/kernel/hostname"), files.get("proc/sys/kernel/osrelease"),
                  files.get("proc/cpuinfo"), files.get("sys/firmware/devicetree/base/model"),
                  files.get("sys/class/dmi/id/product_name"))


@lru_cache(maxsize=4096)
def _chip_labels(chips: tuple[tuple[str, str | None, str | None], ...]) -> dict[str, str]:
    return sysfs.hwmon_chip_labels({h: (d, n) for h, d, n in chips})


def _hwmon(dirs: dict[str, dict[str, str]], links: Mapping[str, str], problems: list[str],
           memo: Memo) -> tuple[tuple[HwmonSensor, ...], tuple[HwmonReading, ...]]:
    chips = {}
    for path, files in dirs.items():
        if path.startswith(HWMON) and "/" not in path[len(HWMON):]:
            hwmon = path[len(HWMON):]
            # older drivers put sensors in hwmonN/device/; the hwmonN/ copy wins on a clash.
            chips[hwmon] = {**dirs.get(path + "/device", {}), **files}
    for path in dirs:
        if path.startswith(HWMON) and path.endswith("/device") and path[:-7] not in dirs:
            chips[path[len(HWMON):-7]] = dirs[path]
    key = tuple(sorted((h, links.get(f"{HWMON}{h}/device"), f.get("name")) for h, f in chips.items()))
    labels = _chip_labels(key)
    out: list[HwmonSensor] = []
    readings: list[HwmonReading] = []
    for hwmon in sorted(chips, key=lambda h: (len(h), h)):
        sensors, found, notes = memo.get(HWMON + hwmon, (chips[hwmon], labels[hwmon]),
                                         lambda: _chip(hwmon, labels[hwmon], chips[hwmon]))  # noqa: B023
        out += sensors
        readings += found
        problems += notes
    return tuple(out), tuple(readings)


def _chip(hwmon: str, label: str, files: dict[str, str]) -> tuple[list[HwmonSensor],
                                                                   list[HwmonReading], list[str]]:
    name = files.get("name", "").strip()
    sensors, notes = sysfs.hwmon_sensors(HWMON + hwmon, label, name, files)
    return sensors, sysfs.hwmon_readings(label, name, files), notes


def _collect(dirs: dict[str, dict[str, str]], prefix: str,
             parse: Callable[[str, dict[str, str]], tuple[T | None, list[str]]],
             problems: list[str], memo: Memo) -> tuple[T, ...]:
    items = []
    for path in sorted((p for p in dirs if p.startswith(prefix)), key=lambda p: (len(p), p)):
        files = dirs[path]
        item, notes = memo.get(path, files, lambda: parse(path, files))  # noqa: B023 - called at once
        problems += notes
        if item is not None:
            items.append(item)
    return tuple(items)


def _cpufreq(dirs: dict[str, dict[str, str]], problems: list[str], memo: Memo) -> tuple[CpuFreq, ...]:
    freq_dirs = {p: f for p, f in dirs.items() if p.startswith(CPU) and p.endswith("/cpufreq")}
    return _collect(freq_dirs, CPU, sysfs.cpufreq, problems, memo)


def _throttle(files: Mapping[str, str], problems: list[str], memo: Memo) -> RpiThrottle | None:
    text = files.get(THROTTLED)
    if text is None:
        return None
    value = memo.get(THROTTLED, text, lambda: sysfs.parse_throttled(text))
    if value is None:
        problems.append(f"unparseable: {THROTTLED}")
    return value


def _disks(files: Mapping[str, str]) -> tuple[DiskStats, ...]:
    text = files.get("proc/diskstats")
    return procfs.parse_diskstats(text) if text else ()


def _power_supplies(dirs: dict[str, dict[str, str]], memo: Memo) -> tuple[PowerSupply, ...]:
    found = (memo.get(p, f, lambda: sysfs.power_supply(p, f))  # noqa: B023 - called at once
             for p, f in sorted(dirs.items())
             if p.startswith(POWER_SUPPLY) and "/" not in p[len(POWER_SUPPLY):])
    return tuple(ps for ps in found if ps is not None)


def _mmc(dirs: dict[str, dict[str, str]], links: Mapping[str, str]) -> tuple[MmcHealth, ...]:
    # sys/class/block/mmcblk0 -> .../mmc_host/mmc0/mmc0:0001/block/mmcblk0 names the card's disk
    blocks = {target.rpartition("/block/")[0]: key[len(BLOCK_LINK):]
              for key, target in links.items() if key.startswith(BLOCK_LINK) and "/block/" in target}
    cards = []
    for path, files in sorted(dirs.items()):
        if path.startswith(MMC_HOST) and path.count("/") == 4 and ":" in path.rpartition("/")[2]:
            block = next((b for card, b in blocks.items() if card.endswith(path.rpartition("/")[2])), None)
            card = sysfs.mmc_card(path, files, block)
            if card is not None:
                cards.append(card)
    return tuple(cards)


def _io_errors(dirs: dict[str, dict[str, str]]) -> Mapping[str, int]:
    out: dict[str, int] = {}
    for path, files in dirs.items():
        if path.startswith(BLOCK) and path.endswith("/device") and "ioerr_cnt" in files:
            count = sysfs.io_error_count(files["ioerr_cnt"])
            if count is not None:
                out[path[len(BLOCK):-len("/device")]] = count
    return MappingProxyType(out)


def build_sample(node: str, snap: Snapshot, ts: float, seq: int = 0,
                 node_clock: float | None = None, memo: Memo | None = None) -> Sample:
    """Turn one node's Snapshot into a Sample; bad or missing files leave values absent and a note.

    snap should hold the node's static files (names, labels, cpuinfo) merged with this interval's
    dynamic ones: facts and hwmon chip labels come from the static files (cached by content).
    memo: the node's own Memo, to reuse what did not change since its last frame."""
    files = snap.files
    memo = Memo() if memo is None else memo
    problems: list[str] = []
    dirs = _group(files)
    total, cores = _parsed(files, "proc/stat", procfs.parse_stat, problems, memo) or (None, ())
    stat = files.get("proc/stat")
    hwmon, readings = _hwmon(dirs, snap.links, problems, memo)
    fs_text = files.get("cmd/filesystems")
    return Sample(
        node=node, ts=ts, seq=seq, node_clock=node_clock, cpu_total=total, cpus=cores,
        load=_parsed(files, "proc/loadavg", procfs.parse_loadavg, problems, memo),
        memory=_parsed(files, "proc/meminfo", procfs.parse_meminfo, problems, memo),
        boot_time=procfs.parse_btime(stat) if stat is not None else None,
        uptime=_parsed(files, "proc/uptime", procfs.parse_uptime, problems, memo),
        net=_parsed(files, "proc/net/dev", procfs.parse_net_dev, problems, memo) or (),
        thermal=_collect(dirs, THERMAL_ZONE, sysfs.thermal_zone, problems, memo),
        cooling=_collect(dirs, COOLING, sysfs.cooling_device, problems, memo),
        hwmon=hwmon,
        cpufreq=_cpufreq(dirs, problems, memo),
        throttle=_throttle(files, problems, memo),
        facts=build_facts(files),
        problems=tuple(problems),
        disks=_disks(files),
        filesystems=memo.get("cmd/filesystems", fs_text, lambda: cmdout.parse_filesystems(fs_text))
        if fs_text else (),
        mmc=_mmc(dirs, snap.links),
        io_errors=_io_errors(dirs),
        hwmon_readings=readings,
        power_supplies=_power_supplies(dirs, memo),
        raw=snap,
    )


class HasSnapshot(Protocol):
    """What builds its Snapshot when asked (collectors.frame.Frame)."""

    @property
    def snapshot(self) -> Snapshot: ...


class LazySample:
    """One node's frame, parsed only when someone asks: what every frame tells for free (node,
    arrival time, seq, node clock) now, the Sample on the first sample() call (then kept).

    `roost collect --prometheus` and `roost serve` need a parsed Sample only when scraped (every
    15 s) or when a sink writes it, not for every frame of every node. The node's Memo makes a
    late parse cost what an on-time one would. Safe to call from the scrape thread: a race
    parses twice and keeps one of two equal Samples."""

    __slots__ = ("node", "ts", "seq", "node_clock", "_snap", "_memo", "_sample")

    def __init__(self, node: str, snap: Snapshot | HasSnapshot, ts: float, seq: int = 0,
                 node_clock: float | None = None, memo: Memo | None = None) -> None:
        self.node, self.ts, self.seq, self.node_clock = node, ts, seq, node_clock
        self._snap, self._memo = snap, memo
        self._sample: Sample | None = None

    def sample(self) -> Sample:
        built = self._sample
        if built is None:
            snap = self._snap
            snap = snap if isinstance(snap, Snapshot) else snap.snapshot   # a frame: walked now
            built = self._sample = build_sample(self.node, snap, self.ts, seq=self.seq,
                                                node_clock=self.node_clock, memo=self._memo)
            self._memo = None     # the node's memo lives on in its session, not in old frames
        return built


def resolve(item: Sample | LazySample) -> Sample:
    """The Sample of an item that may not be parsed yet."""
    return item.sample() if isinstance(item, LazySample) else item
