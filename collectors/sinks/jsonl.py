"""JSON Lines sink: one compact object per node sample, in one of two formats.

"plain" (the default; collectors.sinks.plain): readable fields and rates for jq,
    {"node":"n1","time":1763700000.123,"seq":7,"cpu_percent":12.5,"load1":0.52, ...}
"series": every metric flattened to its Prometheus series, raw counters as node_exporter has them,
    {"node":"n1","ts":1763700000.123,"seq":7,"node_load1":0.52,
     "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"}":2451.13, ...}
Series names come from collectors.sinks.prometheus, so a series key, a SQLite metric and a
/metrics series are the same string. "problems" lists unreadable files when there were any.
JSON has no NaN: a non-finite reading is written as null.
"""
from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable
from typing import IO

from ..model import Sample
from .plain import Record, plain_record
from .prometheus import flat_series

FORMATS = ("plain", "series")
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=str).encode


def flatten(sample: Sample) -> dict[str, float]:
    """Every metric of one sample as {series: value}, in node_exporter naming."""
    return flat_series(sample)


def sample_to_json(sample: Sample) -> Record:
    obj: Record = {"node": sample.node, "ts": round(sample.ts, 3), "seq": sample.seq}
    # JSON has no NaN/Infinity: a non-finite reading is written as null
    obj.update({k: v if math.isfinite(v) else None for k, v in flatten(sample).items()})
    if sample.problems:
        obj["problems"] = list(sample.problems)
    return obj


def encode(obj: Record) -> str:
    """One compact JSON line; the rare non-finite number is written as null."""
    try:
        return _ENCODE(obj)
    except ValueError:      # NaN or Infinity somewhere: clean this one object, then encode
        return _ENCODE(_finite(obj))


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class Records:
    """Samples -> JSON objects in one format; plain remembers each node's previous sample."""

    def __init__(self, fmt: str = "plain"):
        if fmt not in FORMATS:
            raise ValueError(f"unknown JSON format {fmt!r} (expected plain or series)")
        self.format = fmt
        self._last: dict[str, Sample] = {}

    def __call__(self, sample: Sample) -> Record:
        if self.format == "series":
            return sample_to_json(sample)
        record = plain_record(sample, self._last.get(sample.node))
        self._last[sample.node] = sample
        return record


class JsonlSink:
    """Append samples to PATH, or write to stdout for "-". Flushed after every write()."""

    def __init__(self, path: str, fmt: str = "plain"):
        self._records = Records(fmt)
        self._stdout = path == "-"
        self._fh: IO[str] | None = sys.stdout if self._stdout else open(path, "a", encoding="utf-8")  # noqa: SIM115 - the sink owns it

    def write(self, samples: Iterable[Sample]) -> None:
        record = self._records
        lines = [encode(record(s)) + "\n" for s in samples]
        if lines and self._fh is not None:
            try:
                self._fh.write("".join(lines))
                self._fh.flush()
            except BrokenPipeError:
                self._detach()
                raise

    def _detach(self) -> None:
        # the reader of stdout went away: point fd 1 at /dev/null so exit does not complain
        if self._stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        self._fh = None

    def close(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.flush()
        except BrokenPipeError:
            self._detach()
        finally:
            if self._fh is not None and not self._stdout:
                self._fh.close()
