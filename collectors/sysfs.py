"""Pure parsers for sysfs: one directory's files ({basename: text}) in, model values out. No I/O.

Assemblers take the directory's root-relative path only to word their problem notes; they return
(value, problems). Garbage gives None / no entry plus a "what: where" note, never an exception.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType

from .model import CoolingDevice, CpuFreq, HwmonReading, HwmonSensor, MmcHealth, PowerSupply, RpiThrottle, ThermalZone
from .procfs import parse_int

Files = Mapping[str, str]
_INVALID = re.compile(r"[^a-z0-9:_]")
_HWMON_FILE = re.compile(r"(temp|fan)([0-9]+)_(input|label)|(pwm)([0-9]+)")
_HEX = frozenset("0123456789abcdefABCDEF")


def clean_name(name: str) -> str:
    """node_exporter's cleanMetricName: lower case, [^a-z0-9:_] -> "_", "_" trimmed."""
    return _INVALID.sub("_", name.lower()).strip("_")


def parse_millidegrees(text: str) -> float | None:
    value = parse_int(text)
    return value / 1000.0 if value is not None else None


def thermal_zone(where: str, files: Files) -> tuple[ThermalZone | None, list[str]]:
    """thermal_zoneN/{type,temp}; the zone label is N, as node_exporter's."""
    zone = where.rpartition("thermal_zone")[2]
    temp = parse_millidegrees(files.get("temp", ""))
    if temp is None:
        return None, [f"thermal temp not a number: {where}/temp"] if "temp" in files else []
    return ThermalZone(zone, files.get("type", "").strip(), temp), []


def cooling_device(where: str, files: Files) -> tuple[CoolingDevice | None, list[str]]:
    """cooling_deviceN/{type,cur_state,max_state}."""
    cur = parse_int(files.get("cur_state", ""))
    if cur is None:
        return None, [f"cooling cur_state not a number: {where}/cur_state"] if "cur_state" in files else []
    name = where.rpartition("cooling_device")[2]
    return CoolingDevice(name, files.get("type", "").strip(), cur, parse_int(files.get("max_state", ""))), []


def hwmon_chip_base(class_name: str, device: str | None, name: str | None) -> str:
    """node_exporter's chip label: "<parent-dir>_<device>" of the resolved device link, else the
    name file, else hwmonN (each part cleaned)."""
    if device:
        parent, _, dev = device.rstrip("/").rpartition("/")
        dev_clean, parent_clean = clean_name(dev), clean_name(parent.rpartition("/")[2])
        if dev_clean:
            return f"{parent_clean}_{dev_clean}" if parent_clean else dev_clean
    return clean_name(name or "") or clean_name(class_name)


def hwmon_chip_labels(chips: Mapping[str, tuple[str | None, str | None]]) -> dict[str, str]:
    """{hwmonN: (device target, name text)} -> {hwmonN: chip label}.

    Several hwmon dirs on one device (a wifi phy per band, asus-nb-wmi) would collide; node_exporter
    then appends the cleaned name file, as its e2e output shows."""
    devices: dict[str, int] = {}
    for device, _ in chips.values():
        if device:
            devices[device] = devices.get(device, 0) + 1
    labels = {}
    for hwmon, (device, name) in chips.items():
        label = hwmon_chip_base(hwmon, device, name)
        suffix = clean_name(name or "")
        shared = device is not None and devices.get(device, 0) > 1
        labels[hwmon] = f"{label}_{suffix}" if shared and suffix else label
    return labels


def _sensor_value(kind: str, text: str) -> float | None:
    value = parse_int(text)
    if value is None:
        return None
    return value / 1000.0 if kind == "temp" else float(value)


def _sensor_key(sensor: HwmonSensor) -> tuple[str, int]:
    return sensor.kind, int(sensor.sensor.lstrip("tempfanpwm") or 0)  # noqa: B005 - the kind's letters


def hwmon_sensors(where: str, chip: str, chip_name: str, files: Files) -> tuple[list[HwmonSensor], list[str]]:
    """A chip's temp*_input (m°C -> °C), fan*_input (rpm), pwmN (0-255) and their *_label files."""
    sensors, problems = [], []
    for fname, text in files.items():
        m = _HWMON_FILE.fullmatch(fname)
        if m is None or m.group(3) == "label":
            continue
        kind, num = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(5))
        value = _sensor_value(kind, text)
        if value is None:
            problems.append(f"hwmon value not a number: {where}/{fname}")
            continue
        label = files.get(f"{kind}{num}_label")
        sensors.append(HwmonSensor(chip, chip_name, kind, f"{kind}{num}", value,
                                   label.strip() or None if label is not None else None))
    sensors.sort(key=_sensor_key)
    return sensors, problems


@lru_cache(maxsize=1024)  # static text, parsed for every frame: cache it
def parse_cpu_list(text: str) -> tuple[int, ...] | None:
    """A kernel cpu list: "0-3", "0 1 2 3", "0-1,4-5" -> sorted cpu numbers; garbage -> None."""
    cpus: set[int] = set()
    for part in text.replace(",", " ").split():
        lo, dash, hi = part.partition("-")
        first, last = parse_int(lo), parse_int(hi) if dash else parse_int(lo)
        if first is None or last is None or first < 0 or last < first or last - first > 4096:
            return None
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus)) if cpus else None


def _khz(files: Files, name: str) -> float | None:
    value = parse_int(files.get(name, ""))
    return value * 1000.0 if value is not None and value >= 0 else None


def cpufreq(where: str, files: Files) -> tuple[CpuFreq | None, list[str]]:
    """cpuN/cpufreq/: scaling_{cur,min,max}_freq in kHz -> Hz; related_cpus -> the cluster."""
    cpu = where.rstrip("/").rpartition("/")[0].rpartition("/cpu")[2]  # ".../cpu3/cpufreq" -> "3"
    cur = _khz(files, "scaling_cur_freq")
    problems = []
    if cur is None and "scaling_cur_freq" in files:
        problems.append(f"cpufreq not a number: {where}/scaling_cur_freq")
    if cur is None and not files.keys() & {"scaling_min_freq", "scaling_max_freq"}:
        return None, problems
    related = parse_cpu_list(files.get("related_cpus", "")) or ()
    return CpuFreq(cpu, cur, _khz(files, "scaling_min_freq"), _khz(files, "scaling_max_freq"), related), problems


def clusters(freqs: Iterable[CpuFreq]) -> tuple[tuple[int, ...], ...]:
    """big.LITTLE clusters: distinct related_cpus sets, ordered by their first cpu."""
    return tuple(sorted({f.related_cpus for f in freqs if f.related_cpus}))


def parse_throttled(text: str) -> RpiThrottle | None:
    """Raspberry Pi firmware get_throttled: hex, with or without 0x ("50005", "0x50005")."""
    s = text.strip()
    s = s[2:] if s[:2].lower() == "0x" else s
    if not s or len(s) > 16 or not set(s) <= _HEX:
        return None
    return RpiThrottle(int(s, 16))


# ---- node_exporter's other sysfs collectors, and storage/power health ---------------------

_HWMON_ANY = re.compile(r"([a-z_]+?)([0-9]+)_([a-z_]+)")
HWMON_TYPES = frozenset({"temp", "fan", "in", "curr", "power", "energy", "humidity", "intrusion",
                         "cpu"})


def parse_int_auto(text: str) -> int | None:
    """An integer in C notation, as sysfs prints flags and ids: "4099", "0x1003", "-1"."""
    s = text.strip()
    if s[:2].lower() == "0x" and len(s) > 2 and set(s[2:]) <= _HEX:
        return int(s, 16)
    return parse_int(s)


def hwmon_readings(chip: str, chip_name: str, files: Files) -> list[HwmonReading]:
    """Every numeric attribute of one chip that is not a temp/fan input or a pwm (HwmonSensor
    has those): thresholds, alarms, and the power monitors' in*/curr*/power* readings."""
    out = []
    for fname, text in files.items():
        m = _HWMON_ANY.fullmatch(fname)
        if fname == "update_interval":      # the chip's, in ms (node_exporter's "update_interval0")
            kind, num, element = "update_interval", "0", ""
        elif m is None or m.group(1) not in HWMON_TYPES or m.group(3) == "label":
            continue
        else:
            kind, num, element = m.group(1), m.group(2), m.group(3)
        if element == "input" and kind in ("temp", "fan"):
            continue
        value = parse_int(text)
        if value is not None:
            label = files.get(f"{kind}{num}_label")
            out.append(HwmonReading(chip, chip_name, f"{kind}{num}", kind, element, float(value),
                                    label.strip() or None if label is not None else None))
    out.sort(key=lambda r: (r.type, int(r.sensor[len(r.type):]), r.element))
    return out


def power_supply(where: str, files: Files) -> PowerSupply | None:
    """/sys/class/power_supply/<name>/: the attribute texts, stripped."""
    name = where.rstrip("/").rpartition("/")[2]
    values = {k: v.strip() for k, v in files.items() if v.strip()}
    return PowerSupply(name, MappingProxyType(values)) if name and values else None


def mmc_card(where: str, files: Files, block: str | None) -> MmcHealth | None:
    """An mmc card dir (mmc_host/mmc0/mmc0:0001/): type, name, eMMC life_time and pre_eol_info."""
    card = where.rstrip("/").rpartition("/")[2]
    kind = files.get("type", "").strip()
    if not card or not kind:
        return None
    life = [parse_int_auto(w) for w in files.get("life_time", "").split()]
    eol = parse_int_auto(files.get("pre_eol_info", "")) if files.get("pre_eol_info", "").strip() else None
    life_time = (life[0], life[1]) if len(life) == 2 and None not in life else None
    return MmcHealth(card, kind, files.get("name", "").strip(), block, life_time, eol)  # type: ignore[arg-type]


def io_error_count(text: str) -> int | None:
    """sys/block/<dev>/device/ioerr_cnt: "0x1a" (SCSI/USB disks count failed commands here)."""
    value = parse_int_auto(text)
    return value if value is not None and value >= 0 else None
