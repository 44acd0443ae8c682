"""sample_local: this machine through psutil, checked against the kernel's own files."""
from __future__ import annotations

import os
import time
from pathlib import Path

from collectors import procfs
from collectors.local import sample_local
from collectors.sinks.prometheus import render_text


def test_local_sample_matches_proc():
    before = time.time()
    s = sample_local("me")
    assert s.node == "me" and before <= s.ts <= time.time()
    assert len(s.cpus) == os.cpu_count() and [c.cpu for c in s.cpus] == [str(i) for i in range(len(s.cpus))]
    meminfo = procfs.parse_meminfo(Path("/proc/meminfo").read_text())
    assert s.memory.total == meminfo.total
    assert "lo" in {n.device for n in s.net}
    assert abs(s.boot_time - procfs.parse_btime(Path("/proc/stat").read_text())) < 2
    assert s.load is not None and s.uptime > 0
    assert s.facts.cores == os.cpu_count() and s.facts.kernel == os.uname().release


def test_local_cpu_times_advance():
    a = sample_local()
    sum(i * i for i in range(200_000))  # burn a little CPU so the counters move
    b = sample_local()
    assert b.cpu_total.total >= a.cpu_total.total


def test_local_sample_renders():
    text = render_text([sample_local("me")], fleet=True)
    assert 'node_cpu_seconds_total{cpu="0",mode="idle",node="me"}' in text
    assert 'node_memory_MemTotal_bytes{node="me"}' in text
