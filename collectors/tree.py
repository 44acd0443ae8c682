"""Read a local procfs/sysfs tree into a Snapshot, keyed exactly as the remote sampler keys it.

The same fileset globs are expanded under the given roots (node_exporter's --path.procfs /
--path.sysfs convention), so /proc, /sys, a container's /host/proc and a fixture tree all work.
"""
from __future__ import annotations

import fnmatch
import glob
import os

from .fileset import FILES, LINKS
from .model import Snapshot


def _roots(procfs: str, sysfs: str) -> dict[str, str]:
    return {"proc/": procfs.rstrip("/") or "/", "sys/": sysfs.rstrip("/") or "/"}


def _expand(pattern: str, roots: dict[str, str]) -> list[tuple[str, str]]:
    """(key, real path) pairs for one root-relative glob pattern.

    Walked a component at a time so a directory symlink that a copy flattened into a plain file
    holding its target ("materialised link", as some archivers and shared folders do) still
    leads where the kernel's symlink would.
    """
    prefix = pattern[:4] if pattern.startswith("sys/") else pattern[:5]
    root = roots.get(prefix)
    if root is None:
        return []
    fence = os.path.realpath(root)
    found = _walk(prefix.rstrip("/"), root, pattern[len(prefix):].split("/"), fence)
    return list(found)


def _walk(key: str, real: str, parts: list[str], fence: str):
    if not parts:
        yield key, real
        return
    directory = _as_dir(real, fence)
    if directory is None:
        return
    part, rest = parts[0], parts[1:]
    names = fnmatch.filter(_listdir(directory), part) if glob.has_magic(part) else [part]
    for name in sorted(names):
        yield from _walk(f"{key}/{name}", os.path.join(directory, name), rest, fence)


def _listdir(directory: str) -> list[str]:
    try:
        return [n for n in os.listdir(directory) if not n.startswith(".")]
    except OSError:
        return []


def _as_dir(path: str, fence: str) -> str | None:
    """path itself when a directory, the directory a materialised link names, else None."""
    if os.path.isdir(path):
        return path
    target = _materialised_target(path)
    if target is None:
        return None
    real = os.path.realpath(target)
    inside = real == fence or real.startswith(fence.rstrip("/") + "/")
    return real if inside and os.path.isdir(real) else None


def _materialised_target(path: str) -> str | None:
    # Only small one-line relative paths count; a real sysfs value never looks like "../../x/y".
    try:
        if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 512:
            return None
        text = _read(path)
    except OSError:
        return None
    text = (text or "").strip()
    if not text.startswith("../") or any(c.isspace() for c in text):
        return None
    return os.path.join(os.path.dirname(path), text)


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
            target = _link_target(path, roots)
            if target is not None:
                links[key] = _relative(target, roots)
    return links


def _link_target(path: str, roots: dict[str, str]) -> str | None:
    if os.path.islink(path):
        return os.path.realpath(path) if os.path.exists(path) else None
    fences = [os.path.realpath(r) for r in roots.values()]
    for fence in fences:
        if (target := _as_dir(path, fence)) is not None and target != path:
            return target
    return None


def read_tree(procfs: str = "/proc", sysfs: str = "/sys") -> Snapshot:
    """Every FILES glob read under the roots, LINKS resolved fully (realpath), root-relative."""
    return Snapshot(read_files(procfs, sysfs), read_links(procfs, sysfs))
