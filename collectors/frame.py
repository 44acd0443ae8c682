"""The sampler's wire format, both directions. Pure: text in, text or Snapshots out.

A frame is a run of records, each starting with the ASCII record separator (0x1e) and a one-letter
kind, a space, and fields up to the newline; file records then carry the file's bytes verbatim up to
the next 0x1e:

    \x1eH <seq> <node_clock>\n          frame header (node clock in epoch seconds, may be "-")
    \x1eS <path>\n<content>             static file: read once per connection, remembered
    \x1eF <path>\n<content>             dynamic file: valid for this frame only
    \x1eL <path> <target>\n             resolved symlink (root-relative), remembered
    \x1eE <seq>\n                       end of frame

Paths are root-relative ("proc/stat", "sys/class/..."). A file that vanished or could not be read is
simply absent. A 0x1e byte inside a file would end that record early: the damaged value is then
absent or rejected by its parser, never mistaken for another file's value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

from collectors.model import Snapshot

RS = "\x1e"


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int
    node_clock: float | None
    snapshot: Snapshot


def encode_frame(seq: int, node_clock: float | None, files: Mapping[str, str],
                 static: Mapping[str, str] | None = None,
                 links: Mapping[str, str] | None = None) -> str:
    """Write one frame; the demo fleet and tests use this to speak like the remote sampler."""
    clock = "-" if node_clock is None else f"{node_clock:.3f}"
    parts = [f"{RS}H {seq} {clock}\n"]
    parts += [f"{RS}L {p} {t}\n" for p, t in (links or {}).items()]
    parts += [f"{RS}S {p}\n{c}" for p, c in (static or {}).items()]
    parts += [f"{RS}F {p}\n{c}" for p, c in files.items()]
    parts.append(f"{RS}E {seq}\n")
    return "".join(parts)


@dataclass(slots=True)
class FrameDecoder:
    """Feed it stream text in any chunking; it yields complete Frames.

    Static files and links persist across frames of one connection; make a new decoder per
    connection (the sampler re-discovers and resends them after a reconnect).
    """
    _buf: str = ""
    _static: dict[str, str] = field(default_factory=dict)
    _links: dict[str, str] = field(default_factory=dict)
    _files: dict[str, str] = field(default_factory=dict)
    _seq: int | None = None
    _clock: float | None = None
    garbage: int = 0  # records that made no sense (counted, not raised)

    def feed(self, text: str) -> list[Frame]:
        frames: list[Frame] = []
        for record in self._complete_records(text):
            frame = self._take(record)
            if frame is not None:
                frames.append(frame)
        return frames

    def _complete_records(self, text: str) -> list[str]:
        # One split per chunk (re-slicing the buffer per record was quadratic in frame size).
        # A record is complete when the next one has started; an "E" record ends at its newline.
        parts = (self._buf + text).split(RS)
        self.garbage += bool(parts[0].strip())      # bytes before any record
        if len(parts) == 1:                          # no record has started: nothing to keep
            self._buf = ""
            return []
        records, tail = parts[1:-1], parts[-1]
        if tail.startswith("E ") and "\n" in tail:
            end = tail.index("\n") + 1
            records.append(tail[:end])
            self.garbage += bool(tail[end:].strip())
            self._buf = ""
        else:
            self._buf = RS + tail
        return records

    def _take(self, record: str) -> Frame | None:
        head, _, body = record.partition("\n")
        kind, _, rest = head.partition(" ")
        if kind == "H":
            self._begin(rest)
        elif kind == "F" and self._seq is not None:
            self._files[rest] = body
        elif kind == "S":
            self._static[rest] = body
        elif kind == "L":
            path, _, target = rest.partition(" ")
            self._links[path] = target
        elif kind == "E" and self._seq is not None:
            return self._finish()
        else:
            self.garbage += 1
        return None

    def _begin(self, rest: str) -> None:
        seq, _, clock = rest.partition(" ")
        try:
            self._seq = int(seq)
            self._clock = None if clock.strip() in ("", "-") else float(clock)
        except ValueError:
            self._seq, self.garbage = None, self.garbage + 1
        self._files = {}

    def _finish(self) -> Frame:
        files = {**self._static, **self._files}
        snap = Snapshot(MappingProxyType(files), MappingProxyType(dict(self._links)))
        frame = Frame(self._seq or 0, self._clock, snap)
        self._seq, self._files = None, {}
        return frame


def decode_all(chunks: Iterable[str]) -> list[Frame]:
    decoder = FrameDecoder()
    return [f for chunk in chunks for f in decoder.feed(chunk)]
