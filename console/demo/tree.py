"""Write a simulated board to disk as a real procfs/sysfs-shaped tree (with its symlinks).

Used by tests and by anyone who wants to point `roost collect --procfs/--sysfs` (or node_exporter)
at a demo board: the class directories are symlinks into sys/devices as on a real kernel.
"""
from __future__ import annotations

import os
from pathlib import Path

from console.demo.layout import Layout


def write_tree(root: Path, layout: Layout, files: dict[str, str]) -> Path:
    """Write static + given dynamic files under root; returns root. root must be empty or new."""
    root.mkdir(parents=True, exist_ok=True)
    contents = {**layout.static, **layout.extra_files, **files}
    for key, text in contents.items():
        path = root / _real(layout, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for link, real in layout.dirs.items():
        _symlink(root, link, real)
    for link, device in layout.links.items():
        (root / device).mkdir(parents=True, exist_ok=True)
        _symlink(root, _real(layout, link), device)
    return root


def _real(layout: Layout, key: str) -> str:
    """Map a class-view key onto the real directory behind its symlinked prefix."""
    for link, real in layout.dirs.items():
        if key.startswith(link + "/"):
            return real + key[len(link):]
    return key


def _symlink(root: Path, link: str, target: str) -> None:
    path = root / link
    path.parent.mkdir(parents=True, exist_ok=True)
    (root / target).mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(root / target, path.parent)
    if not path.is_symlink():
        path.symlink_to(rel)
