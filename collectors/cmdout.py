"""Pure parsers for the sampler's command outputs (collectors.fileset.COMMANDS): text in, values out.

cmd/uname        "machine\\npagesize\\n" (uname -m; getconf PAGESIZE)
cmd/filesystems  mount lines, "--", then `stat -f` lines "blocks bfree bavail bsize files ffree name"
cmd/timex        the time zone ("+0100 CET"), then adjtimex's return value and struct timex fields
Every parser is total: garbage gives None or an empty tuple, never an exception.
"""
from __future__ import annotations

from functools import lru_cache

from .model import Filesystem
from .procfs import parse_int

# adjtimex(2): the struct timex fields in order after the return value
TIMEX_FIELDS = ("modes", "offset", "freq", "maxerror", "esterror", "status", "constant",
                "precision", "tolerance", "time_sec", "time_usec", "tick", "ppsfreq", "jitter",
                "shift", "stabil", "jitcnt", "calcnt", "errcnt", "stbcnt", "tai")
TIME_ERROR = 5          # adjtimex's return value when the clock is not synchronised
STA_NANO = 0x2000       # offset and jitter in ns instead of us


def parse_uname(text: str) -> tuple[str | None, int | None]:
    """(machine, page size in bytes)."""
    lines = [line.strip() for line in text.splitlines()]
    machine = lines[0] if lines and lines[0] and " " not in lines[0] else None
    page = parse_int(lines[1]) if len(lines) > 1 else None
    return machine, page if page and page > 0 else None


def _unescape(path: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes (fstab(5))
    if "\\" not in path:
        return path
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, char)
    return path


def _stat_line(line: str) -> tuple[str, tuple[int, ...]] | None:
    parts = line.split(" ", 6)
    if len(parts) != 7:
        return None
    numbers = [parse_int(p) for p in parts[:6]]
    if any(n is None or n < 0 for n in numbers):
        return None
    return parts[6], tuple(numbers)  # type: ignore[arg-type]


@lru_cache(maxsize=4096)  # slow-cadence text, seen by every frame until the next slow tick
def parse_filesystems(text: str) -> tuple[Filesystem, ...]:
    """cmd/filesystems -> one Filesystem per mount (first of identical mounts), sizes in bytes."""
    lines = text.splitlines()
    if "--" not in lines:
        return ()
    cut = lines.index("--")
    stats = dict(filter(None, map(_stat_line, lines[cut + 1:])))
    out, seen = [], set()
    for line in lines[:cut]:
        parts = line.split(" ")
        if len(parts) != 4:
            continue
        device, mnt, fstype, opts = parts[0], _unescape(parts[1]), parts[2], parts[3]
        if (device, mnt, fstype) not in seen:
            seen.add((device, mnt, fstype))
            out.append(_filesystem(device, mnt, fstype, "ro" in opts.split(","), stats.get(mnt)))
    return tuple(out)


def _filesystem(device: str, mnt: str, fstype: str, ro: bool, st: tuple[int, ...] | None) -> Filesystem:
    if st is None:
        return Filesystem(device, mnt, fstype, ro)
    blocks, bfree, bavail, bsize, files, ffree = st
    return Filesystem(device, mnt, fstype, ro, float(blocks * bsize), float(bfree * bsize),
                      float(bavail * bsize), float(files), float(ffree))


def parse_zone(text: str) -> tuple[str, int] | None:
    """cmd/timex's first line "+0530 IST" -> ("IST", 19800)."""
    words = text.split("\n", 1)[0].split()
    if len(words) != 2 or len(words[0]) != 5 or words[0][0] not in "+-" or not words[0][1:].isdigit():
        return None
    sign = -1 if words[0][0] == "-" else 1
    return words[1], sign * (int(words[0][1:3]) * 3600 + int(words[0][3:]) * 60)


def parse_timex(text: str) -> dict[str, int] | None:
    """cmd/timex -> {"return": ..., "offset": ..., ...} (raw kernel units)."""
    lines = text.splitlines()
    words = lines[-1].split() if lines else []
    values = [parse_int(w) for w in words]
    if len(values) != len(TIMEX_FIELDS) + 1 or None in values:
        return None
    return {"return": values[0], **dict(zip(TIMEX_FIELDS, values[1:]))}  # type: ignore[dict-item, arg-type]
