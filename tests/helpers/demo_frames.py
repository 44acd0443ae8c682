"""A simulated board's frames, decoded as the fleet decodes them: the input of the parse and
render caches' tests (tests/test_snapshot_memo.py, tests/test_section_cache.py)."""
from __future__ import annotations

import random

from collectors.frame import FrameDecoder, encode_frame
from collectors.model import Snapshot
from console.demo.boards import PROFILES
from console.demo.layout import build_layout
from console.demo.sim import BoardSim

T0 = 1_700_000_000.0


def demo_snapshots(profile: str, frames: int = 12, seed: int = 5) -> list[Snapshot]:
    """A demo board's frames as the fleet decodes them (static files merged into each)."""
    layout = build_layout(PROFILES[profile], f"{profile}-01")
    sim = BoardSim(layout, random.Random(seed), 22.0, T0)
    decoder, out = FrameDecoder(), []
    for seq in range(frames):
        now = T0 + seq
        remembered = {**sim.counter_files(), **sim.slow_files(now)} if seq % 4 == 0 else {}
        static = {**layout.static, **remembered} if seq == 0 else remembered
        frame = encode_frame(seq, now, sim.files(now), static=static,
                             links=layout.links if seq == 0 else None)
        out += [f.snapshot for f in decoder.feed(frame)]
    return out
