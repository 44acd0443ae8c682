"""Board trees and the node_exporter binary they are compared with (tests and bench/ share them)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from collectors.model import Sample, Snapshot
from collectors.snapshot import build_sample
from collectors.tree import read_tree

BOARDS = Path(__file__).resolve().parent.parent / "fixtures" / "boards"   # the repo's own board trees
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
COLLECTORS = ("cpu", "loadavg", "meminfo", "netdev", "thermal_zone", "hwmon", "cpufreq", "stat")


def _is_flattened_link(src: Path) -> bool:
    text = src.read_text(errors="replace") if src.stat().st_size < 512 else ""
    return text.startswith("../") and "\n" not in text and (src.parent / text).is_dir()


def copy_board(src: Path, dest: Path) -> Path:
    """Copy a board tree; real symlinks stay symlinks, files holding a relative dir path become ones."""
    for dirpath, dirnames, names in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in names + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            s, d = Path(dirpath) / name, dest / rel / name
            if s.is_symlink():
                os.symlink(os.readlink(s), d)
            elif _is_flattened_link(s):
                os.symlink(s.read_text(), d)
            else:
                shutil.copyfile(s, d)
    return dest


def sample(board: str, ts: float = 0.0, **changes: str) -> Sample:
    """A Sample of tests/fixtures/boards/BOARD, with files replaced by `changes`."""
    root = BOARDS / board
    snap = read_tree(str(root / "proc"), str(root / "sys"))
    if changes:
        snap = Snapshot({**snap.files, **changes}, snap.links)
    return build_sample(board, snap, ts, node_clock=ts)
