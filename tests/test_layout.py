"""A node target's text from recorded series (writer.Recorder, writer.Layout): whatever the
series, their order, duplicates and values, and whichever scrape reuses the last one's layout,
the text is what Families writes for the same add()/put() calls."""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from collectors.sinks.writer import Families, Layout, Recorder, format_value

NAMES = ["node_a", "node_b_total", "node_load1", "node_c"]       # node_load1: node_exporter's HELP
values = st.one_of(st.integers(-2**60, 2**60), st.booleans(),
                   st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, -0.0]))
call = st.tuples(st.sampled_from(NAMES), st.sampled_from(["", "x", 'q"\\']),
                 st.booleans(), values)
scrape = st.lists(call, max_size=12)


def both(calls, keep: dict) -> tuple[Recorder, Families]:
    """The same calls into a Recorder and a Families; a value already given for the same call
    keeps its very object (what a replayed section hands back)."""
    rec, fam = Recorder(), Families()
    for name, label, use_put, value in calls:
        value = keep.setdefault((name, label, repr(value)), value)
        for f in (rec, fam):
            if use_put:
                f.put("n", name, "help", f'{name}{{dev="{label}"}}', value, kind="counter")
            else:
                f.add("n", name, "help", {"dev": label} if label else {}, value)
    return rec, fam


@settings(max_examples=300, deadline=None)
@given(st.lists(scrape, min_size=1, max_size=6), st.lists(st.integers(0, 5), max_size=6))
def test_the_text_is_families_text_scrape_after_scrape(scrapes, repeats):
    layout, keep = Layout(), {}
    for i, calls in enumerate(scrapes + [scrapes[r % len(scrapes)] for r in repeats]):
        rec, fam = both(calls, keep)
        assert layout.text(rec.records) == fam.text(), f"scrape {i}"


def test_a_new_value_in_the_same_series_is_written_not_the_last_text():
    layout = Layout()
    for value in (1.5, 2.5, 2.5, math.inf, 7):
        rec, fam = both([("node_a", "x", False, value)], {})
        assert layout.text(rec.records) == fam.text()
        assert layout.text(rec.records).endswith({1.5: "1.5\n", 2.5: "2.5\n", math.inf: "+Inf\n",
                                                  7: "7\n"}[value])


@given(st.permutations([1, 1.0, True, 0, -0.0, False, 10**15 - 1, float(10**15 - 1), 10**15,
                        1e15, 5 * 10**15, 5e15, 2**53 + 1, float(2**53), 0.1, math.nan]))
def test_equal_values_of_any_type_in_any_order_are_written_as_format_value_writes_each(values):
    """The text of values is shared between scrapes and nodes by value: an int, a float and a
    bool that are equal must still each read as format_value writes that very value."""
    layout = Layout()
    for value in values + values:
        rec, fam = both([("node_a", "x", False, value)], {})
        assert layout.text(rec.records) == fam.text()
        assert layout.text(rec.records).endswith(f" {format_value(value)}\n")
