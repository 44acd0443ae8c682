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
lookup; a new sample's body replays the node's unchanged sections (sinks.section_cache). Runs
in daemon threads beside the collector's event loop; the source callable hands over dict
copies, so a scrape never sees a half-updated fleet.
"""
from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..model import Sample
from .prometheus import CONTENT_TYPE, FleetExtra, Source, fleet_text, node_text
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
    _cache: dict[str, tuple[Sample, bytes, bytes | None]] = field(default_factory=dict)
    _sections: dict[str, SectionCache] = field(default_factory=dict)   # by node: what to replay
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def node(self, name: str, gzipped: bool = False) -> tuple[int, bytes, bool]:
        """(status, body, body is gzip) for one node's target."""
        samples, up = self.source()
        sample = samples.get(name)
        if sample is None or not up.get(name, False):
            known = name in up or any(t.name == name for t in self.targets())
            return (503, f"{name}: no current sample (node down or not reached yet)\n".encode(), False) \
                if known else (404, f"{name}: no such node\n".encode(), False)
        return (200, *self._body(name, sample, gzipped))

    def _body(self, name: str, sample: Sample, gzipped: bool) -> tuple[bytes, bool]:
        with self._lock:
            hit = self._cache.get(name)
            sections = self._sections.get(name) or self._sections.setdefault(name, SectionCache())
        if hit is None or hit[0] is not sample:
            hit = (sample, node_text(sample, sections).encode(), None)
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


class _Handler(BaseHTTPRequestHandler):
    exposition: Exposition
    default_address: str
    protocol_version = "HTTP/1.1"   # keep-alive: Prometheus reuses its connection per target
    wbufsize = 1 << 16              # headers and body leave in one write (flushed per request),
    disable_nagle_algorithm = True  # and none waits for a delayed ACK on a kept-alive socket

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        gz = "gzip" in self.headers.get("Accept-Encoding", "")
        if parts == ["metrics"]:
            self._send(200, self.exposition.fleet(), CONTENT_TYPE, gz)
        elif len(parts) == 3 and parts[0] == "nodes" and parts[2] == "metrics":
            self._node(parts[1], gz)
        elif parts == ["probe"]:
            target = parse_qs(url.query).get("target", [""])[0]
            self._node(target, gz) if target else self._send(400, b"probe: target= missing\n")
        elif parts == ["sd"]:
            address = self.headers.get("Host") or self.default_address
            self._send(200, self.exposition.sd(address), "application/json")
        elif not parts:
            self._send(200, _INDEX, "text/html; charset=utf-8")
        else:
            self._send(404, b"not found: try /metrics, /nodes/NAME/metrics, /sd\n")

    def _node(self, name: str, gz: bool) -> None:
        status, body, zipped = self.exposition.node(name, gz)
        self._reply(status, body, CONTENT_TYPE if status == 200 else "text/plain", zipped)

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
              gz: bool = False) -> None:
        zipped = gz and len(body) > 1024
        self._reply(status, gzip.compress(body, compresslevel=1) if zipped else body, ctype, zipped)

    def _reply(self, status: int, body: bytes, ctype: str, zipped: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if zipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - scrapes are not news
        pass


_INDEX = b"""<html><head><title>roost</title></head><body><h1>roost</h1>
<p><a href="/metrics">/metrics</a>: the fleet's own series.
<a href="/sd">/sd</a>: Prometheus http_sd target list, one target per node
(<code>/nodes/NAME/metrics</code>, node_exporter's series).</p></body></html>
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def serve(exposition: Exposition, host: str = "127.0.0.1",
          port: int = 9856) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start serving in a daemon thread; returns (server, thread). server.shutdown() stops it."""
    handler: Any = type("Handler", (_Handler,), {"exposition": exposition,
                                            "default_address": f"{host}:{port}"})
    server = (_Server6 if ":" in host else _Server)((host, port), handler)
    handler.default_address = f"[{host}]:{server.server_port}" if ":" in host \
        else f"{host}:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="roost-prometheus", daemon=True)
    thread.start()
    return server, thread
