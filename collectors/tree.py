"""Read a local procfs/sysfs tree into a Snapshot, keyed exactly as the remote sampler keys it.

The same fileset globs are expanded under the given roots (node_exporter's --path.procfs /
--path.sysfs convention), so /proc, /sys, a container's /host/proc and a fixture tree all work.
"""
from __future__ import annotations

import glob
import os

from .fileset import FILES, LINKS
from .model import Snapshot


def _roots(procfs: str, sysfs: str) -> dict[str, str]:
    return {"proc/": procfs.rstrip("/") or "/", "sys/": sysfs.rstrip("/") or "/"}


def _expand(pattern: str, roots: dict[str, str]) -> list[tuple[str, str]]:
    """(key, absolute path) pairs for one root-relative glob pattern."""
    prefix = pattern[:4] if pattern.startswith("sys/") else pattern[:5]
    root = roots.get(prefix)
    if root is None:
        return []
    rest = pattern[len(prefix):]
    matches = glob.glob(os.path.join(glob.escape(root), rest))
    return [(prefix + os.path.relpath(m, root), m) for m in matches]


def _read(path: str) -> str | None:
    # sysfs files can fail on read (EIO, ENODATA from a sleeping sensor): leave them out.
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return None


def _relative(target: str, roots: dict[str, str]) -> str:
    """A realpath made root-relative ("sys/devices/platform/coretemp.0") when under a root."""
    for prefix, root in roots.items():
        real_root = os.path.realpath(root)
        if target == real_root or target.startswith(real_root.rstrip("/") + "/"):
            return (prefix + os.path.relpath(target, real_root)).rstrip("/.")
    return target


def read_files(procfs: str = "/proc", sysfs: str = "/sys") -> dict[str, str]:
    roots, files = _roots(procfs, sysfs), {}
    for entry in FILES:
        for key, path in _expand(entry.pattern, roots):
            if os.path.isfile(path) and (text := _read(path)) is not None:
                files[key] = text
    return files


def read_links(procfs: str = "/proc", sysfs: str = "/sys") -> dict[str, str]:
    roots, links = _roots(procfs, sysfs), {}
    for pattern in LINKS:
        for key, path in _expand(pattern, roots):
            if os.path.islink(path) and os.path.exists(path):
                links[key] = _relative(os.path.realpath(path), roots)
    return links


def read_tree(procfs: str = "/proc", sysfs: str = "/sys") -> Snapshot:
    """Every FILES glob read under the roots, LINKS resolved fully (realpath), root-relative."""
    return Snapshot(read_files(procfs, sysfs), read_links(procfs, sysfs))
