"""Lazy parsing in headless collection: with only the Prometheus endpoint, a node's frame is
parsed when a scrape reads it, not on arrival; what is served is still the node's latest frame,
its counters never go backwards, and a sink that is configured still gets every sample."""
from __future__ import annotations

import json
import os
import re
import signal
import threading
import urllib.error
import urllib.request

import pytest

import collectors.fleet as fleet_module
import collectors.snapshot as snapshot
from console.collect import CollectOptions, run_collect
from console.demo.fleet import DemoFleet
from console.demo.runner import FleetThread
from tests.helpers.cli import free_port, wait_for

pytestmark = pytest.mark.timeout(120)
NODES, INTERVAL = 3, 0.1
USER0 = re.compile(r'^node_cpu_seconds_total\{cpu="0",mode="user"\} (\S+)$', re.M)


class Counts:
    """Frames the fleet handed out and Samples built from them."""

    def __init__(self, monkeypatch) -> None:
        self.frames = self.parses = 0
        build, lazy = snapshot.build_sample, snapshot.LazySample
        counts = self

        class Counted(lazy):
            __slots__ = ()

            def __init__(self, *a, **kw) -> None:
                counts.frames += 1
                super().__init__(*a, **kw)

        def counted_build(*a, **kw):
            counts.parses += 1
            return build(*a, **kw)
        monkeypatch.setattr(fleet_module, "LazySample", Counted)
        monkeypatch.setattr(snapshot, "build_sample", counted_build)


def scrape(port: int, node: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/nodes/{node}/metrics", timeout=5) as r:
            return r.read().decode()
    except urllib.error.URLError:
        return None     # not listening yet, or 503 until the node's first frame


def collect_while(demo: DemoFleet, opts: CollectOptions, check) -> int:
    """run_collect on this (the main) thread while check() runs beside it; SIGINT ends the run
    (as it ends `roost collect`) once check is done, and check's failure is raised here."""
    failed: list[BaseException] = []

    def beside() -> None:
        try:
            check()
        except BaseException as exc:  # noqa: BLE001 - raised again on the test's thread
            failed.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=beside, daemon=True).start()
    status = run_collect(demo.targets(), opts)
    if failed:
        raise failed[0]
    return status


def scraped_twice_alike(port: int, node: str, counts, tries: int = 5) -> bool:
    """Two scrapes of one sample give one body and at most one parse between them (tried
    again when a frame lands between the two: frames come every INTERVAL)."""
    for _ in range(tries):
        before = counts.parses
        a, b = scrape(port, node), scrape(port, node)
        if a is not None and a == b and counts.parses <= before + 1:
            return True
    return False


def test_prometheus_only_parses_a_frame_when_it_is_scraped(tmp_path, monkeypatch):
    counts = Counts(monkeypatch)
    demo = DemoFleet(NODES, seed=4, steady=True, state_dir=tmp_path / "demo", interval=INTERVAL)
    runner = FleetThread(demo)
    runner.start()
    port = free_port()
    node = demo.nodes[0].name

    def check() -> None:
        first = wait_for(lambda: scrape(port, node), what="the first node's target")
        parsed, frames = counts.parses, counts.frames
        wait_for(lambda: counts.frames >= frames + 10 * NODES, what="ten more frames a node")
        assert counts.parses == parsed            # frames arrive, nobody asks: nothing parsed
        second = scrape(port, node)
        assert second is not None and counts.parses == parsed + 1   # the scrape parsed one
        assert scraped_twice_alike(port, node, counts)              # kept, not redone
        values = [float(USER0.search(text).group(1)) for text in (first, second)]
        assert values[1] > values[0]             # the latest frame, and counters go forward
    try:
        assert collect_while(demo, CollectOptions(prometheus=("127.0.0.1", port), duration=90),
                             check) == 0
    finally:
        runner.stop()


def test_a_configured_sink_still_gets_every_frame(tmp_path, monkeypatch):
    counts = Counts(monkeypatch)
    demo = DemoFleet(NODES, seed=5, steady=True, state_dir=tmp_path / "demo", interval=INTERVAL)
    runner = FleetThread(demo)
    runner.start()
    out = tmp_path / "samples.jsonl"
    try:
        assert run_collect(demo.targets(), CollectOptions(jsonl=str(out), count=15)) == 0
    finally:
        runner.stop()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 15 * NODES and counts.parses == len(rows)
    for name in {r["node"] for r in rows}:
        seqs = [r["seq"] for r in rows if r["node"] == name]
        assert seqs == sorted(seqs) and len(set(seqs)) == 15
