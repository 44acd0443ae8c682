"""The Prometheus HTTP endpoint: every node its own target, the fleet's own series, discovery.

    GET /nodes/<name>/metrics   node_exporter's series for one node (no node label): a target
    GET /probe?target=<name>    the same, as the blackbox and snmp exporters spell it
    GET /metrics                roost's fleet series (roost_node_up, sample age, power draw, queue)
    GET /sd                     http_sd_configs target list: one target per node, instance = name
    GET /                       a short index

A node that is down (or has not sent a sample yet) answers 503, so Prometheus records up == 0
for it, as it would for an unreachable node_exporter. Text format 0.0.4 always (OpenMetrics
negotiation would drop "_total" from counter metadata); gzip when the scraper asks, as
node_exporter does. Bodies are cached per sample: a scrape between two samples costs a dict
lookup; a new sample's body replays the node's unchanged sections (sinks.section_cache).

Served by sinks.http11 on the collector's own event loop (start()): a node target is rendered
in the loop, with no thread per connection and no handover of the interpreter lock; the fleet
page and /sd walk every node and are made in a worker thread. serve() runs the same endpoint on
a loop of its own in a thread. The source callable hands over dict copies, so a thread never
sees a half-updated fleet; `lookup`, when given, answers one node for the loop's own scrapes.
"""
from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..model import Sample
from . import http11
from .http11 import TEXT, Endpoint, Reply, Request, ThreadedEndpoint
from .node_sections import Section
from .prometheus import CONTENT_TYPE, SCRAPED, FleetExtra, Source, fleet_text, node_text
from .section_cache import SectionCache


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What /sd says about one node (from the config; board from its latest sample)."""
    name: str
    groups: tuple[str, ...] = ()
    role: str | None = None
    address: str = ""


def sd_groups(targets: Iterable[TargetInfo], address: str, samples: Mapping[str, Sample] | None = None,
              path: str = "/nodes/{name}/metrics") -> list[dict[str, Any]]:
    """http_sd / file_sd target groups: one per node, scraped at address on the node's path.

    instance is the node's name (dashboards pick nodes by instance); groups and role are target
    labels; the board model and the SSH address are __meta_roost_* labels for relabelling."""
    out = []
    for t in targets:
        labels = {"__metrics_path__": path.format(name=t.name), "instance": t.name}
        if t.groups:
            labels["groups"] = "," + ",".join(t.groups) + ","
        if t.role:
            labels["role"] = t.role
        board = _board(samples.get(t.name) if samples else None)
        labels.update({"__meta_roost_node": t.name, "__meta_roost_address": t.address,
                       "__meta_roost_board": board})
        out.append({"targets": [address], "labels": labels})
    return out


def _board(sample: Sample | None) -> str:
    facts = sample.facts if sample is not None else None
    return (facts.model or "") if facts is not None else ""


@dataclass
class Exposition:
    """Everything the endpoint serves, thread-safe; the HTTP handler only routes to it."""
    source: Source
    targets: Callable[[], list[TargetInfo]] = lambda: []
    extra: tuple[FleetExtra, ...] = ()
    # one node's (sample or None, up), up None when no such node is collected: no fleet copies
    lookup: Callable[[str], tuple[Sample | None, bool | None]] | None = None
    sections: tuple[Section, ...] = SCRAPED   # what a node's target serves ([serve] collectors)
    _cache: dict[str, tuple[Sample, bytes, bytes | None]] = field(default_factory=dict)
    _sections: dict[str, SectionCache] = field(default_factory=dict)   # by node: what to replay
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def node(self, name: str, gzipped: bool = False) -> tuple[int, bytes, bool]:
        """(status, body, body is gzip) for one node's target."""
        sample, up = self._one(name)
        if sample is None or not up:
            known = up is not None or any(t.name == name for t in self.targets())
            return (503, f"{name}: no current sample (node down or not reached yet)\n".encode(), False) \
                if known else (404, f"{name}: no such node\n".encode(), False)
        return (200, *self._body(name, sample, gzipped))

    def _one(self, name: str) -> tuple[Sample | None, bool | None]:
        if self.lookup is not None:
            return self.lookup(name)
        samples, up = self.source()
        return samples.get(name), up.get(name)

    def _body(self, name: str, sample: Sample, gzipped: bool) -> tuple[bytes, bool]:
        with self._lock:
            hit = self._cache.get(name)
            sections = self._sections.get(name) or self._sections.setdefault(name, SectionCache())
        if hit is None or hit[0] is not sample:
            hit = (sample, node_text(sample, sections, self.sections).encode(), None)
        if gzipped and hit[2] is None:
            hit = (hit[0], hit[1], gzip.compress(hit[1], compresslevel=1))
        with self._lock:
            self._cache[name] = hit
        if gzipped:
            assert hit[2] is not None   # compressed just above
            return hit[2], True
        return hit[1], False

    def fleet(self) -> bytes:
        samples, up = self.source()
        return fleet_text(samples, up, extra=self.extra).encode()

    def sd(self, address: str) -> bytes:
        samples, _ = self.source()
        return json.dumps(sd_groups(self.targets(), address, samples), indent=1).encode()


class Router:
    """What each path of the endpoint answers. A node target is rendered where it is asked (a cached body, or
    ~0.5 ms of a new sample's sections); the fleet page and /sd walk every node (and may read the
    job queue's database), so `heavy` sends them to a thread."""

    def __init__(self, exposition: Exposition, default_address: str) -> None:
        self.exposition, self.default_address = exposition, default_address

    @staticmethod
    def heavy(request: Request) -> bool:
        path = request.target.split("?", 1)[0]
        return path.rstrip("/") in ("/metrics", "/sd") or path.startswith("http")

    def reply(self, request: Request) -> Reply:
        if request.method not in ("GET", "HEAD"):
            return 405, b"GET or HEAD only\n", TEXT, False
        url = urlsplit(request.target)
        parts = [unquote(p) for p in url.path.split("/") if p]
        gz = "gzip" in request.headers.get("accept-encoding", "")
        if len(parts) == 3 and parts[0] == "nodes" and parts[2] == "metrics":
            return self._node(parts[1], gz)
        if parts == ["metrics"]:
            return _maybe_zipped(self.exposition.fleet(), CONTENT_TYPE, gz)
        if parts == ["probe"]:
            target = parse_qs(url.query).get("target", [""])[0]
            return self._node(target, gz) if target else (400, b"probe: target= missing\n", TEXT, False)
        if parts == ["sd"]:
            address = request.headers.get("host") or self.default_address
            return 200, self.exposition.sd(address), "application/json", False
        if not parts:
            return 200, _INDEX, "text/html; charset=utf-8", False
        return 404, b"not found: try /metrics, /nodes/NAME/metrics, /sd\n", TEXT, False

    def _node(self, name: str, gz: bool) -> Reply:
        status, body, zipped = self.exposition.node(name, gz)
        return status, body, CONTENT_TYPE if status == 200 else TEXT, zipped


def _maybe_zipped(body: bytes, ctype: str, gz: bool) -> Reply:
    zipped = gz and len(body) > 1024
    return 200, gzip.compress(body, compresslevel=1) if zipped else body, ctype, zipped


_INDEX = b"""<html><head><title>roost</title></head><body><h1>roost</h1>
<p><a href="/metrics">/metrics</a>: the fleet's own series.
<a href="/sd">/sd</a>: Prometheus http_sd target list, one target per node
(<code>/nodes/NAME/metrics</code>, node_exporter's series).</p></body></html>
"""


async def start(exposition: Exposition, host: str = "127.0.0.1", port: int = 9856) -> Endpoint:
    """Serve exposition on the running event loop (roost collect and serve). OSError when the
    address is taken."""
    router = Router(exposition, "")
    endpoint = await http11.start(router, host, port)
    router.default_address = endpoint.address
    return endpoint


def serve(exposition: Exposition, host: str = "127.0.0.1",
          port: int = 9856) -> tuple[ThreadedEndpoint, threading.Thread]:
    """Start serving from a daemon thread of its own; returns (server, thread).
    server.shutdown() stops it."""
    router = Router(exposition, "")
    server = ThreadedEndpoint(router, host, port, name="roost-prometheus")
    router.default_address = server.endpoint.address
    return server, server.thread
