"""The sampler wire format: any chunking of a stream decodes to the same frames."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from collectors.frame import RS, FrameDecoder, decode_all, encode_frame

paths = st.text(st.characters(blacklist_characters=" \n" + RS, blacklist_categories=("Cs",)),
                min_size=1, max_size=20)
contents = st.text(st.characters(blacklist_characters=RS, blacklist_categories=("Cs",)), max_size=40)
files = st.dictionaries(paths, contents, max_size=6)


def frames_of(text: str, cuts: list[int]) -> list:
    points = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0] + points, points + [len(text)])]
    return decode_all(chunks)


@settings(max_examples=200, deadline=None)
@given(first=files, second=files, static=files, cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_any_chunking_gives_the_same_frames(first, second, static, cuts):
    text = encode_frame(1, 10.5, first, static=static) + encode_frame(2, None, second)
    frames = frames_of(text, cuts)
    assert [f.seq for f in frames] == [1, 2]
    assert dict(frames[0].snapshot.files) == {**static, **first}
    assert dict(frames[1].snapshot.files) == {**static, **second}   # static persists
    assert frames[0].node_clock == 10.5 and frames[1].node_clock is None


@given(noise=st.text(st.characters(blacklist_characters=RS), max_size=50))
def test_noise_between_frames_is_counted_not_fatal(noise):
    decoder = FrameDecoder()
    got = decoder.feed(noise + encode_frame(3, 1.0, {"proc/loadavg": "1 1 1 1/1 1\n"}) + noise)
    assert [f.seq for f in got] == [3]
    assert decoder.garbage == (2 if noise.strip() else 0)


def test_an_unfinished_frame_waits_for_its_end():
    decoder = FrameDecoder()
    text = encode_frame(4, 1.0, {"proc/stat": "cpu 1 2 3 4\n"})
    assert decoder.feed(text[:-3]) == []
    assert [f.seq for f in decoder.feed(text[-3:])] == [4]


def test_a_file_without_a_trailing_newline_keeps_its_bytes():
    frame = decode_all([encode_frame(5, None, {"sys/a": "42", "sys/b": "x\n"})])[0]
    assert frame.snapshot.files["sys/a"] == "42" and frame.snapshot.files["sys/b"] == "x\n"
