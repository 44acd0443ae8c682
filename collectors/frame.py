"""The sampler's wire format, both directions. Pure: bytes in, bytes or Snapshots out.

A frame is a run of records, each starting with the ASCII record separator (0x1e) and a one-letter
kind, a space, and fields up to the newline. File records say how many bytes of content follow
the newline, so a file's bytes are never read as framing, whatever they hold (0x1e included):

    \x1eH <seq> <node_clock> [<size>]\n  frame header (node clock in epoch seconds, may be "-";
                                       size: bytes of records up to the end record)
    \x1eS <length> <path>\n<content>    static file: read once per connection, remembered
    \x1eF <length> <path>\n<content>    dynamic file: valid for this frame only
    \x1eL <path> <target>\n             resolved symlink (root-relative), remembered
    \x1eE <seq>\n                       end of frame

<length> counts bytes (the sampler runs under LC_ALL=C). Paths are root-relative ("proc/stat",
"sys/class/..."); the sampler never sends a path or target holding a newline or 0x1e. A file that
vanished or could not be read is simply absent. Bytes outside records are counted, not parsed:
before the first frame they are whatever the login shell printed (`noise`, which the fleet caps);
inside a frame they mean a length was wrong, and that whole frame is dropped (`garbage`), never
half-used. A file longer than MAX_FILE is dropped as it streams by, so no length can make the
decoder buffer without bound.

A sized header lets a frame of dynamic files be taken whole, its records walked only when its
snapshot is read (a `roost serve` shard reads one frame in 15, when Prometheus scrapes): the
size is the sampler's own count, so no file's bytes can move the frame's end, and the walk
still goes by each file's length. Static files and links leading such a frame (the sampler
writes them before its dynamic files) are walked as it arrives, the dynamic run after them taken
whole. Frames with static files or links among their dynamic ones, oversized ones, and headers
without a size are walked as they arrive.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from collectors.model import Snapshot

RS = "\x1e"
MAX_HEADER = 4096             # kind, length and path of one record
MAX_FILE = 4 * 1024 * 1024    # one file's content; /proc/cpuinfo of 256 cores is ~0.3 MB


EMPTY: Mapping[str, str] = MappingProxyType({})


class Frame:
    """One frame: its number, the node's clock, and its Snapshot (built on first read from a
    frame taken whole: its records and the static files and links it came with)."""

    __slots__ = ("seq", "node_clock", "_snapshot", "_records", "_static", "_links")

    def __init__(self, seq: int, node_clock: float | None, snapshot: Snapshot | None = None,
                 records: str = "", static: Mapping[str, str] = EMPTY,
                 links: Mapping[str, str] = EMPTY) -> None:
        self.seq, self.node_clock, self._snapshot = seq, node_clock, snapshot
        self._records, self._static, self._links = records, static, links

    @property
    def pending(self) -> bool:
        """Taken whole and not walked yet (its snapshot not read)."""
        return self._snapshot is None

    @property
    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:       # two threads may both build it: equal snapshots, one is kept
            files = {**self._static, **_walk(self._records)}
            snap = self._snapshot = Snapshot(MappingProxyType(files), MappingProxyType(self._links))
            self._records, self._static = "", EMPTY
        return snap


def _walk(records: str) -> dict[str, str]:
    """A whole frame's dynamic files, walked by their lengths as a stream would be. Records
    that do not add up (a sampler that miscounted its size) give none: never half a frame."""
    walker = FrameDecoder(_seq=0)
    rest = walker._scan(records, [])
    return walker._files if not rest and not walker.garbage and walker._seq == 0 else {}


def encode_frame(seq: int, node_clock: float | None, files: Mapping[str, str],
                 static: Mapping[str, str] | None = None,
                 links: Mapping[str, str] | None = None, sized: bool = True) -> bytes:
    """Write one frame; the demo fleet and tests use this to speak like the remote sampler
    (sized=False: a header without the records' length, as probe_posix.sh writes it)."""
    clock = "-" if node_clock is None else f"{node_clock:.3f}"
    parts = [f"\x1eL {p} {t}\n".encode() for p, t in (links or {}).items()]
    parts += [_file_record(b"S", p, c) for p, c in (static or {}).items()]
    parts += [_file_record(b"F", p, c) for p, c in files.items()]
    records = b"".join(parts)
    size = f" {len(records)}" if sized else ""
    return b"%s%s\x1eE %d\n" % (f"\x1eH {seq} {clock}{size}\n".encode(), records, seq)


def _file_record(kind: bytes, path: str, content: str) -> bytes:
    body = content.encode()
    return b"\x1e%s %d %s\n%s" % (kind, len(body), path.encode(), body)


@dataclass(slots=True)
class FrameDecoder:
    """Feed it the stream's bytes in any chunking; it yields complete Frames.

    Static files and links persist across frames of one connection; make a new decoder per
    connection (the sampler re-discovers and resends them after a reconnect).

    Bytes are decoded as Latin-1 (one character per byte, so lengths and offsets stay in bytes and
    a chunk may end anywhere); a file's text is re-decoded as UTF-8 only when it is not ASCII.
    The buffer is split at every 0x1e in one C call and each piece is checked against its record's
    length: a file whose bytes held 0x1e spans several pieces and is joined back.
    """
    _pending: list[str] = field(default_factory=list)   # the unfinished record, in chunks
    _pending_len: int = 0
    _need: int = 0       # that record is complete once the pending chunks hold this many bytes
    _skip: int = 0       # bytes of an oversized file still to drop as they arrive
    _static: dict[str, str] = field(default_factory=dict)
    _links: dict[str, str] = field(default_factory=dict)
    _shared: bool = False   # a frame holds _static and _links: copy them before a change
    _files: dict[str, str] = field(default_factory=dict)
    _seq: int | None = None
    _clock: float | None = None
    started: bool = False  # a frame header has been seen
    noise: int = 0         # bytes outside any record (a login banner before the first frame)
    garbage: int = 0       # records, or frames, that made no sense (counted, not raised)

    def feed(self, data: bytes) -> list[Frame]:
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._pending.append(data.decode("latin-1"))
        self._pending_len += len(data)
        if self._pending_len < self._need:   # a big file still arriving: no re-scan, no copy
            return []
        frames: list[Frame] = []
        rest, wait = "".join(self._pending), False
        if self._seq is None:
            rest, wait = self._whole_frames(rest, frames)
        if rest and not wait:
            rest = self._scan(rest, frames)
        self._pending, self._pending_len = ([rest] if rest else []), len(rest)
        return frames

    def _whole_frames(self, buf: str, frames: list[Frame]) -> tuple[str, bool]:
        """Take the sized frames of dynamic files at the start of buf without walking them.
        Returns (the rest, True when it is the start of such a frame still arriving)."""
        self._need, pos = 0, 0
        while buf.startswith("\x1eH ", pos):
            eol = buf.find("\n", pos, pos + MAX_HEADER)
            if eol < 0:
                break
            seq, _, rest = buf[pos + 3:eol].partition(" ")
            clock, _, size = rest.partition(" ")
            sane, node_clock = _clock(clock)
            if not (sane and seq.isdecimal() and size.isdecimal() and len(size) < 13):
                break
            start, marker = eol + 1, f"\x1eE {seq}\n"
            end = start + int(size)
            if end - start > MAX_FILE:   # buffered whole only up to one file's cap: beyond,
                break                    # walked as it streams by (an oversized file dropped)
            if len(buf) < end + len(marker):
                self._need = end + len(marker) - pos
                return buf[pos:], True
            if not buf.startswith(marker, end):
                break   # miscounted: walk it
            tail = self._remember(buf, start, end)
            if tail is None:
                break   # static files or links among its dynamic ones: walk it
            self._shared = self.started = True
            frames.append(Frame(int(seq), node_clock, None, buf[tail:end], self._static,
                                self._links))
            pos = end + len(marker)
        return buf[pos:], False

    def _remember(self, buf: str, start: int, end: int) -> int | None:
        """Keep the static files and links that lead a sized frame's records (the sampler
        writes them first); returns where its dynamic files start, or None when the rest holds
        any more of them, or a record does not add up (a file holding 0x1e): walk it then."""
        tail = buf.find("\x1eF ", start, end)
        tail = end if tail < 0 else tail
        if buf.find("\x1eS ", tail, end) >= 0 or buf.find("\x1eL ", tail, end) >= 0:
            return None
        if tail == start:
            return tail
        kept: list[tuple[str, str, str]] = []
        for record in buf[start + 1:tail].split(RS):   # as _scan's hot path: one C split
            head, sep, body = record.partition("\n")
            if not sep or head[:2] not in ("S ", "L "):
                return None
            if head[0] == "S":
                size, _, path = head[2:].partition(" ")
                if not (path and size.isdecimal() and len(body) == int(size) <= MAX_FILE):
                    return None
            elif body:
                return None
            kept.append((head, path if head[0] == "S" else "", body))
        for head, path, body in kept:
            if head[0] == "L":
                self._record(head)
            else:
                self._store("S", path, body)
        return tail

    def _scan(self, buf: str, frames: list[Frame]) -> str:
        """Take every complete record; returns the unfinished rest."""
        parts = buf.split(RS)
        if parts[0]:
            self._outside(len(parts[0]))
        self._need, i, count = 0, 1, len(parts)
        ascii_only, max_file = buf.isascii(), MAX_FILE     # isascii: O(1) on a str
        while i < count:
            head, sep, body = parts[i].partition("\n")
            if sep and head[:2] in _FILE_HEADS:
                size, _, path = head[2:].partition(" ")
                # the hot path, inline: a whole ASCII file without 0x1e (isdecimal: only 0-9 in Latin-1)
                if ascii_only and path and size.isdecimal() and len(body) == int(size) <= max_file:
                    if head[0] == "F":
                        if self._seq is not None:
                            self._files[path] = body
                    else:
                        self._own()[path] = body
                else:
                    i, rest = self._file(parts, i, head, body)
                    if rest is not None:
                        return rest
            elif sep:
                frame = self._record(head)
                if frame is not None:
                    frames.append(frame)
                if body:
                    self._outside(len(body))
            elif i == count - 1 and len(head) < MAX_HEADER:    # its header line is still coming
                self._need = len(head) + 2
                return RS + head
            else:
                self._broken()
            i += 1
        return ""

    def _file(self, parts: list[str], i: int, head: str, body: str) -> tuple[int, str | None]:
        """The file record starting at parts[i]: (the last piece it used, None), or (i, the
        unfinished rest) when its content is still coming."""
        digits, _, path = head[2:].partition(" ")
        if not (digits.isdecimal() and len(digits) < 13 and path):
            self._broken()
            return i, None
        size, j = int(digits), i
        if len(body) < size:                         # the content held 0x1e, or is still coming
            j, body = _join(parts, i, body, size)
        if len(body) < size:
            return i, self._incomplete(parts, i, head, body, size)
        if size > MAX_FILE:
            self.garbage += 1                        # dropped; the frame stays good
        elif len(body) > size:
            self._broken()                           # bytes after the content: its length was wrong
        else:
            self._store(head[0], path, body)
        return j, None

    def _incomplete(self, parts: list[str], i: int, head: str, body: str, size: int) -> str:
        if size > MAX_FILE:                          # drop it as it streams by
            self._skip, self.garbage = size - len(body), self.garbage + 1
            return ""
        self._need = len(head) + 2 + size
        return RS + RS.join(parts[i:])

    def _store(self, kind: str, path: str, content: str) -> None:
        content = content if content.isascii() else _utf8(content)
        path = path if path.isascii() else _utf8(path)
        if kind == "S":
            self._own()[path] = content
        elif self._seq is not None:
            self._files[path] = content

    def _outside(self, count: int) -> None:
        if self._seq is not None:
            self._broken()                   # bytes between a frame's records: lengths were wrong
        else:
            self.noise += count

    def _record(self, head: str) -> Frame | None:
        kind, _, rest = (head if head.isascii() else _utf8(head)).partition(" ")
        if kind == "H":
            self._begin(rest)
        elif kind == "L":
            path, _, target = rest.partition(" ")
            self._own()
            self._links[path] = target
        elif kind == "E" and self._seq is not None:
            return self._finish()
        else:
            self.garbage += 1
        return None

    def _own(self) -> dict[str, str]:
        """The static files, ready to change: copied first when a frame holds them."""
        if self._shared:
            self._static, self._links, self._shared = dict(self._static), dict(self._links), False
        return self._static

    def _begin(self, rest: str) -> None:
        if self._seq is not None:
            self.garbage += 1                # the previous frame never ended
        seq, _, rest = rest.partition(" ")
        clock, _, size = rest.strip().partition(" ")
        sane, node_clock = _clock(clock)
        if seq.isdecimal() and sane and (not size or size.isdecimal()):
            self._seq, self._clock, self.started = int(seq), node_clock, True
        else:
            self._seq, self.garbage = None, self.garbage + 1
        self._files = {}

    def _broken(self) -> None:
        """The current frame cannot be trusted: drop it; the next header starts afresh."""
        self.garbage += 1
        self._seq, self._files = None, {}

    def _finish(self) -> Frame:
        files = {**self._static, **self._files}
        self._shared = True
        snap = Snapshot(MappingProxyType(files), MappingProxyType(self._links))
        frame = Frame(self._seq or 0, self._clock, snap)
        self._seq, self._files = None, {}
        return frame


def _clock(text: str) -> tuple[bool, float | None]:
    """A header's node clock: (it makes sense, seconds or None for "-" or none)."""
    if text in ("", "-"):
        return True, None
    try:
        return True, float(text)
    except ValueError:
        return False, None


_FILE_HEADS = ("F ", "S ")


def _join(parts: list[str], i: int, body: str, size: int) -> tuple[int, str]:
    """Join the pieces a file's content was cut into at its own 0x1e bytes (linear: one join)."""
    pieces, total, j = [body], len(body), i
    while total < size and j + 1 < len(parts):
        j += 1
        pieces.append(parts[j])
        total += 1 + len(parts[j])
    return j, RS.join(pieces)


def _utf8(latin: str) -> str:
    return latin.encode("latin-1").decode("utf-8", "replace")


def decode_all(chunks: Iterable[bytes]) -> list[Frame]:
    decoder = FrameDecoder()
    return [f for chunk in chunks for f in decoder.feed(chunk)]
