"""The sampler wire format: any chunking decodes to the same frames, and no byte inside a file
can pass for framing (each file travels behind its length)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from collectors import frame as frame_mod
from collectors.frame import FrameDecoder, decode_all, encode_frame

RS = "\x1e"
paths = st.text(st.characters(blacklist_characters=" \n" + RS, blacklist_categories=("Cs",)),
                min_size=1, max_size=20)
# any text at all, the record separator and framing look-alikes included
contents = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.lists(st.sampled_from([RS, "\n", "F 3 proc/loadavg\n", "E 9\n", "H 9 1.0\n", "é", "x"]),
             max_size=12).map("".join))
files = st.dictionaries(paths, contents, max_size=6)


def frames_of(data: bytes, cuts: list[int]) -> list:
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)])]
    return decode_all(chunks)


@settings(max_examples=300, deadline=None)
@given(first=files, second=files, static=files, cuts=st.lists(st.integers(0, 4000), max_size=12),
       sized=st.booleans())
def test_any_content_and_chunking_give_the_same_frames(first, second, static, cuts, sized):
    data = encode_frame(1, 10.5, first, static=static, sized=sized) \
        + encode_frame(2, None, second, sized=sized)
    frames = frames_of(data, cuts)
    assert [f.seq for f in frames] == [1, 2]
    assert dict(frames[0].snapshot.files) == {**static, **first}
    assert dict(frames[1].snapshot.files) == {**static, **second}   # static persists
    assert frames[0].node_clock == 10.5 and frames[1].node_clock is None


def test_a_separator_inside_a_file_cannot_set_another_files_value():
    """The lab's crafted /proc/meminfo: a line that looks like a load average record."""
    crafted = f"MemTotal: 1 kB\n{RS}F 22 proc/loadavg\n99.00 99.00 99.00 1/1 1\n{RS}E 0\n"
    data = encode_frame(0, 1.0, {"proc/meminfo": crafted, "proc/loadavg": "0.10 0.20 0.30 1/9 7\n"})
    for chunk in (len(data), 1, 7):
        got = decode_all([data[i:i + chunk] for i in range(0, len(data), chunk)])
        assert len(got) == 1
        assert got[0].snapshot.files["proc/loadavg"] == "0.10 0.20 0.30 1/9 7\n"
        assert got[0].snapshot.files["proc/meminfo"] == crafted


def test_multibyte_content_is_counted_in_bytes():
    data = encode_frame(0, 1.0, {"sys/class/hwmon/hwmon0/name": "température ✓\n"})
    assert b"F 17 sys/class/hwmon/hwmon0/name\n" in data
    assert decode_all([data])[0].snapshot.files["sys/class/hwmon/hwmon0/name"] == "température ✓\n"


def test_invalid_utf8_is_replaced_not_fatal():
    data = b"\x1eH 0 1.0\n\x1eF 3 proc/x\n\xff\xfeA\x1eE 0\n"
    frame, = decode_all([data])
    assert frame.snapshot.files["proc/x"] == "\ufffd\ufffdA"


@given(noise=st.binary(max_size=50).filter(lambda b: b"\x1e" not in b))
def test_noise_before_and_between_frames_is_counted_not_fatal(noise):
    decoder = FrameDecoder()
    got = decoder.feed(noise + encode_frame(3, 1.0, {"proc/loadavg": "1 1 1 1/1 1\n"}) + noise)
    assert [f.seq for f in got] == [3]
    assert decoder.noise == 2 * len(noise) and decoder.started


def test_a_wrong_length_drops_that_whole_frame_never_half_of_it():
    good = encode_frame(2, 1.0, {"proc/loadavg": "1 1 1 1/1 1\n"})
    lying = b"\x1eH 1 1.0\n\x1eF 2 proc/stat\ncpu 1 2 3\n\x1eF 4 proc/loadavg\n9 9 \x1eE 1\n"
    decoder = FrameDecoder()
    got = decoder.feed(lying + good)
    assert [f.seq for f in got] == [2] and decoder.garbage >= 1
    assert got[0].snapshot.files == {"proc/loadavg": "1 1 1 1/1 1\n"}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
def test_random_bytes_never_raise(blob, cuts):
    frames_of(blob + encode_frame(7, 1.0, {"a": "b"}), cuts)


def test_an_unfinished_frame_waits_for_its_end():
    decoder = FrameDecoder()
    data = encode_frame(4, 1.0, {"proc/stat": "cpu 1 2 3 4\n"})
    assert decoder.feed(data[:-3]) == []
    assert [f.seq for f in decoder.feed(data[-3:])] == [4]


def test_a_file_without_a_trailing_newline_keeps_its_bytes():
    frame = decode_all([encode_frame(5, None, {"sys/a": "42", "sys/b": "x\n"})])[0]
    assert frame.snapshot.files["sys/a"] == "42" and frame.snapshot.files["sys/b"] == "x\n"


def test_a_file_over_the_cap_is_skipped_as_it_streams_by(monkeypatch):
    monkeypatch.setattr(frame_mod, "MAX_FILE", 1000)
    data = encode_frame(1, 1.0, {"proc/big": "x" * 5000, "proc/loadavg": "1 1 1 1/1 1\n"})
    decoder = FrameDecoder()
    got = [f for i in range(0, len(data), 100) for f in decoder.feed(data[i:i + 100])]
    assert [f.seq for f in got] == [1]
    assert dict(got[0].snapshot.files) == {"proc/loadavg": "1 1 1 1/1 1\n"}
    assert sum(len(p) for p in decoder._pending) < 1000      # never buffered the big one


def test_a_big_file_arriving_in_small_chunks_is_not_rescanned():
    data = encode_frame(1, 1.0, {"proc/cpuinfo": "processor : 0\n" * 20000})
    decoder = FrameDecoder()
    got = [f for i in range(0, len(data), 512) for f in decoder.feed(data[i:i + 512])]
    assert got[0].snapshot.files["proc/cpuinfo"].count("processor") == 20000


def test_a_header_line_that_never_ends_is_dropped():
    decoder = FrameDecoder()
    assert decoder.feed(b"\x1eH " + b"9" * 10000) == []
    assert decoder.garbage == 1 and not decoder._pending


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(files, files), min_size=1, max_size=6),
       read=st.lists(st.booleans(), min_size=6, max_size=6))
def test_a_frame_taken_whole_sees_the_static_files_of_its_time_whenever_it_is_read(steps, read):
    """Static files change on slow ticks; a frame read late (a scrape 15 s on) still merges the
    static files it came with, not later ones: the decoder copies them before it changes them."""
    decoder, static, want, got = FrameDecoder(), {}, [], []
    for seq, (dynamic, new_static) in enumerate(steps):
        static = {**static, **new_static}
        got += decoder.feed(encode_frame(seq, 1.0, dynamic, static=new_static))
        want.append({**static, **dynamic})
        for frame, now in zip(got, read):     # some read at once, the rest at the end
            if now:
                assert frame.snapshot is not None   # read now: walked now
    assert [dict(f.snapshot.files) for f in got] == want


def test_frames_of_dynamic_files_are_walked_only_when_read(monkeypatch):
    walks = []
    walk = frame_mod._walk
    monkeypatch.setattr(frame_mod, "_walk", lambda records: walks.append(1) or walk(records))
    decoder = FrameDecoder()
    decoder.feed(encode_frame(0, 1.0, {"proc/stat": "cpu 1\n"}, static={"sys/x": "1\n"}))
    got = [f for seq in range(1, 11)
           for f in decoder.feed(encode_frame(seq, 1.0, {"proc/stat": f"cpu {seq}\n"}))]
    assert len(got) == 10 and walks == [] and all(f.pending for f in got)
    assert dict(got[4].snapshot.files) == {"sys/x": "1\n", "proc/stat": "cpu 5\n"}
    assert walks == [1] and not got[4].pending


def test_an_end_record_inside_a_sized_frames_file_does_not_end_it():
    """A user on the node names a process or a mount so its text holds the frame's own end
    record: the header's size, the sampler's count, says where the frame ends."""
    crafted = f"x{RS}E 3\n{RS}F 5 proc/loadavg\n9 9 9"
    data = encode_frame(3, 1.0, {"proc/self/stat": crafted, "proc/loadavg": "1 1 1 1/1 1\n"})
    decoder = FrameDecoder()
    frame, = decoder.feed(data)
    assert frame.pending and dict(frame.snapshot.files) == {
        "proc/self/stat": crafted, "proc/loadavg": "1 1 1 1/1 1\n"}
    assert decoder.garbage == 0


@pytest.mark.parametrize("delta", [-7, -1, 1, 9])
def test_a_miscounted_size_is_walked_as_it_streams_and_never_half_used(delta):
    good = encode_frame(2, 1.0, {"proc/loadavg": "1 1 1 1/1 1\n"})
    data = encode_frame(1, 1.0, {"proc/stat": "cpu 1 2 3\n", "proc/uptime": "5 5\n"})
    head, _, rest = data.partition(b"\n")
    seq, clock, size = head.split(b" ")[1:]
    lying = b"\x1eH 1 %s %d\n%s" % (clock, int(size) + delta, rest)
    decoder = FrameDecoder()
    got = decoder.feed(lying + good)
    assert [f.seq for f in got][-1] == 2
    for f in got:     # the lying frame, when kept, is whole: walked by its files' lengths
        assert dict(f.snapshot.files) in ({"proc/stat": "cpu 1 2 3\n", "proc/uptime": "5 5\n"},
                                          {"proc/loadavg": "1 1 1 1/1 1\n"})


def sized_frame(seq: int, records: list[tuple[str, str, str]]) -> bytes:
    """A sized frame of records in the given order: (kind S/F/L, path, content or target)."""
    body = b"".join(f"{RS}L {path} {text}\n".encode() if kind == "L"
                    else b"%s%s %d %s\n%s" % (RS.encode(), kind.encode(), len(text.encode()),
                                             path.encode(), text.encode())
                    for kind, path, text in records)
    return b"%sH %d 1.0 %d\n%s%sE %d\n" % (RS.encode(), seq, len(body), body, RS.encode(), seq)


# the sampler never sends a link target holding a newline or 0x1e (the format's promise)
record = st.one_of(st.tuples(st.sampled_from("SF"), paths, contents),
                   st.tuples(st.just("L"), paths, paths))


@settings(max_examples=300, deadline=None)
@given(frames=st.lists(st.lists(record, max_size=6), min_size=1, max_size=4),
       cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_static_files_and_links_anywhere_in_a_sized_frame_give_what_a_walk_gives(frames, cuts):
    """Static files and links leading a frame are remembered as it arrives and its dynamic run
    is taken whole; anywhere else the frame is walked: either way, the frames a walk gives."""
    data = b"".join(sized_frame(seq, recs) for seq, recs in enumerate(frames))
    static, links, want, want_links = {}, {}, [], []
    for recs in frames:
        dynamic = {}
        for kind, path, text in recs:
            target = {"S": static, "F": dynamic}.get(kind, links)
            target[path] = text
        want.append({**static, **dynamic})
        want_links.append(dict(links))
    got = frames_of(data, cuts)
    assert [dict(f.snapshot.files) for f in got] == want
    assert [dict(f.snapshot.links) for f in got] == want_links


def test_a_frame_led_by_its_static_files_is_taken_whole_one_with_them_last_is_walked():
    decoder = FrameDecoder()
    first, = decoder.feed(sized_frame(0, [("L", "sys/a", "../b"), ("S", "sys/x", "1\n"),
                                          ("F", "proc/stat", "cpu 1\n")]))
    later, = decoder.feed(sized_frame(1, [("F", "proc/stat", "cpu 2\n"), ("S", "sys/x", "2\n")]))
    assert first.pending and not later.pending
    assert dict(first.snapshot.files) == {"sys/x": "1\n", "proc/stat": "cpu 1\n"}
    assert dict(first.snapshot.links) == {"sys/a": "../b"}
    assert dict(later.snapshot.files) == {"sys/x": "2\n", "proc/stat": "cpu 2\n"}
