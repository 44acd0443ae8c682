"""Read a local procfs/sysfs tree into a Snapshot, keyed exactly as the remote sampler keys it.

The same fileset globs are expanded under the given roots (node_exporter's --path.procfs /
--path.sysfs convention), so /proc, /sys, a container's /host/proc and a fixture tree all work.
etc/ and usr/ come from the root the procfs sits in (/host for /host/proc, the board directory of
a fixture's proc/, else /). The sampler's commands ("cmd/...") are read from that root's cmd/
directory when it has one (a fixture records what the board printed); on a live root they run
here, as the sampler would run them on a node.
"""
from __future__ import annotations

import fnmatch
import glob
import os
import subprocess
from collections.abc import Iterator

from .fileset import COMMANDS, FILES, LINKS
from .model import Snapshot


def rootfs(procfs: str) -> str:
    """Where etc/, usr/ and cmd/ are read: the parent of a ".../proc" root, else "/"."""
    procfs = procfs.rstrip("/")
    return (os.path.dirname(procfs) or "/") if os.path.basename(procfs) == "proc" else "/"


def _roots(procfs: str, sysfs: str) -> dict[str, str]:
    root = rootfs(procfs).rstrip("/")
    return {"proc/": procfs.rstrip("/") or "/", "sys/": sysfs.rstrip("/") or "/",
            "etc/": f"{root}/etc", "usr/": f"{root}/usr"}


def _expand(pattern: str, roots: dict[str, str]) -> list[tuple[str, str]]:
    """(key, real path) pairs for one root-relative glob pattern.

    Walked a component at a time so a directory symlink that a copy flattened into a plain file
    holding its target ("materialised link", as some archivers and shared folders do) still
    leads where the kernel's symlink would.
    """
    prefix = pattern[:pattern.find("/") + 1]
    root = roots.get(prefix)
    if root is None:
        return []
    fence = os.path.realpath(root)
    found = _walk(prefix.rstrip("/"), root, pattern[len(prefix):].split("/"), fence)
    return list(found)


def _walk(key: str, real: str, parts: list[str], fence: str) -> Iterator[tuple[str, str]]:
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
    for prefix in ("proc/", "sys/"):
        root = roots[prefix]
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


def read_commands(procfs: str = "/proc", sysfs: str = "/sys",
                  when: tuple[str, ...] = ("once", "slow")) -> dict[str, str]:
    """The sampler's command outputs: recorded ones from ROOT/cmd/, else run here (live roots)."""
    root = rootfs(procfs)
    recorded = os.path.join(root, "cmd")
    out: dict[str, str] = {}
    for command in COMMANDS:
        if command.when not in when:
            continue
        if root != "/" or os.path.isdir(recorded):
            text = _read(os.path.join(root, command.key))
        else:
            text = _run(command.script, procfs, sysfs)
        if text is not None:
            out[command.key] = text
    return out


def _run(script: str, procfs: str, sysfs: str) -> str | None:
    try:
        done = subprocess.run(["sh", "-c", script, "roost-cmd", procfs, sysfs], capture_output=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace")


def read_tree(procfs: str = "/proc", sysfs: str = "/sys", commands: bool = True) -> Snapshot:
    """Every FILES glob read under the roots, LINKS resolved fully (realpath), root-relative,
    and (unless commands=False) the sampler's command outputs."""
    files = read_files(procfs, sysfs)
    if commands:
        files.update(read_commands(procfs, sysfs))
    return Snapshot(files, read_links(procfs, sysfs))


class TreeReader:
    """read_tree for a loop: files every call, commands on the sampler's cadence ("once" on the
    first call, "slow" every SLOW_SECONDS), so `roost collect --procfs /proc` forks as little as
    the remote sampler does."""

    def __init__(self, procfs: str = "/proc", sysfs: str = "/sys"):
        self.procfs, self.sysfs = procfs, sysfs
        self._commands: dict[str, str] = {}
        self._slow_at: float | None = None

    def read(self, now: float) -> Snapshot:
        from .fileset import SLOW_SECONDS
        if self._slow_at is None:
            self._commands.update(read_commands(self.procfs, self.sysfs, ("once",)))
        if self._slow_at is None or now - self._slow_at >= SLOW_SECONDS:
            self._commands.update(read_commands(self.procfs, self.sysfs, ("slow",)))
            self._slow_at = now
        files = read_files(self.procfs, self.sysfs)
        files.update(self._commands)
        return Snapshot(files, read_links(self.procfs, self.sysfs))
