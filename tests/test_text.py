"""console.text: node- and user-supplied text made fit for a terminal, cut, or put on one line."""
from __future__ import annotations

from hypothesis import given, strategies as st

from collectors.transport import TransportError
from console.text import error_line, safe, safe_line, truncate


def test_truncate_caps_lines_and_characters_and_says_how_much():
    cut = truncate("x\n" * 1000, max_lines=10)
    assert cut.count("\n") == 10 and "truncated" in cut and "1000 lines in all" in cut
    cut = truncate("y" * 50, max_chars=20)
    assert cut.startswith("y" * 20 + "\n") and "30 more characters" in cut
    assert truncate("short\n") == "short\n"


def test_safe_strips_escape_sequences_and_safe_line_flattens():
    evil = "n1\x1b[2J\x1b]0;pwn\x07\x9b31m\tok\nnext"
    assert safe(evil) == "n131m\tok\nnext"
    assert safe_line(evil) == "n131m ok next"


@given(st.text())
def test_safe_output_never_holds_control_characters(text):
    out = safe_line(text)
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in out)


def test_error_line_is_one_line_without_the_node_prefix():
    assert error_line(TransportError("n3", "connection refused\n  (127.0.0.1:22)")) == \
        "connection refused (127.0.0.1:22)"
    assert error_line(OSError("disk\nfull")) == "disk full"
