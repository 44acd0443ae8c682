"""The fleet table's column fit (console.widgets.columns): which columns an 80, 120 or 200
column terminal shows, at which width; the sorted column keeps its place and its arrow; an
optional column (fans, or a Disk column another fleet may not report) appears only with data."""
from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings, strategies as st
from rich.text import Text

from console.state import FleetState
from console.widgets.columns import ARROW, GAP, Column, fit, present
from console.widgets.node_table import COLUMNS, MARK
from tests.helpers.samples import T0, make_sample

FIXED = MARK + GAP


def rows(names=("rk1-01", "rockpro64-01"), **kw):
    state = FleetState(list(names))
    for name in names:
        for seq in range(3):
            state.apply(make_sample(name, seq, busy=[40, 60, 20, 80], **kw))
    return state.rows(T0 + 2)


def keys(placed) -> list[str]:
    return [p.column.key for p in placed]


def total(placed) -> int:
    return FIXED + sum(p.width + GAP for p in placed)


def test_80_columns_keep_the_vital_columns_and_the_sparkline():
    have = present(COLUMNS, rows())
    placed = fit(have, 80, "name", FIXED, {"name": 12})
    assert {"state", "name", "cpu", "load", "mem", "temp", "net"} <= set(keys(placed))
    assert total(placed) <= 80
    cpu = next(p for p in placed if p.column.key == "cpu")
    assert not cpu.compact and cpu.width == cpu.column.width       # the sparkline stays
    mem = next(p for p in placed if p.column.key == "mem")
    assert mem.compact                                               # "48%", not "48% of 3.8GB"


def test_200_columns_show_everything_at_full_width():
    have = present(COLUMNS, rows())
    placed = fit(have, 200, "name", FIXED, {"name": 12})
    assert keys(placed) == [c.key for c in have]
    assert not any(p.compact for p in placed)
    assert total(placed) <= 200


def test_the_sorted_column_stays_with_room_for_its_arrow():
    have = present(COLUMNS, rows())
    narrow = fit(have, 40, "freq", FIXED)
    assert "freq" in keys(narrow)
    freq = next(p for p in narrow if p.column.key == "freq")
    assert freq.width >= len("Freq") + ARROW
    load = next(p for p in fit(have, 200, "load", FIXED) if p.column.key == "load")
    assert load.width >= len("Load ▼")                # it was cut to "Load…" before


def test_optional_columns_need_data_and_one_declaration_adds_a_column():
    no_fans = rows(rpm=None, pwm=None)
    assert "fan" not in [c.key for c in present(COLUMNS, no_fans)]
    assert "fan" in [c.key for c in present(COLUMNS, rows())]
    # a column another helper adds (say Disk) is one declaration; a fleet without it hides it
    disk = Column("disk", "Disk", lambda r, p: Text("–"), 8, 45, has_data=lambda r: False)
    table = COLUMNS + (disk,)
    assert "disk" not in [c.key for c in present(table, rows())]
    shown = replace(disk, has_data=lambda r: True)
    placed = fit(present(COLUMNS + (shown,), rows()), 200, "name", FIXED)
    assert keys(placed)[-1] == "disk"


@settings(max_examples=200, deadline=None)
@given(avail=st.integers(min_value=20, max_value=320),
       sort=st.sampled_from([c.key for c in COLUMNS]),
       name=st.integers(min_value=6, max_value=24))
def test_fit_never_overflows_and_keeps_table_order(avail, sort, name):
    have = list(COLUMNS)
    placed = fit(have, avail, sort, FIXED, {"name": name})
    order = [c.key for c in have]
    assert keys(placed) == sorted(keys(placed), key=order.index)
    assert sort in keys(placed)
    if total(placed) > avail:        # only the sorted column, placed first, may not fit
        assert keys(placed) == [sort]
    for p in placed:
        assert p.width >= len(p.column.label) + (ARROW if p.column.key == sort else 0)
