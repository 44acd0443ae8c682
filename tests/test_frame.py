"""The sampler wire format: any chunking decodes to the same frames, and no byte inside a file
can pass for framing (each file travels behind its length)."""
from __future__ import annotations

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
@given(first=files, second=files, static=files, cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_any_content_and_chunking_give_the_same_frames(first, second, static, cuts):
    data = encode_frame(1, 10.5, first, static=static) + encode_frame(2, None, second)
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
