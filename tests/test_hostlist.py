"""console.hostlist: counted before expanded, the same names as ClusterShell where it is safe to ask,
and never a group lookup outside the groups roost passes in."""
from __future__ import annotations

import resource
import time

import pytest
from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet
from ClusterShell.NodeUtils import GroupResolver, GroupSource
from hypothesis import given, settings, strategies as st

from console.hostlist import (
    DEFAULT_LIMIT,
    HostlistError,
    HostlistTooLarge,
    default_limit,
    expand,
    expand_ansible,
    fold,
    natural_key,
    upper_bound,
)

# ---- generated ClusterShell expressions: small enough to expand for reference ----------------

numbers = st.integers(0, 40)
ranges = st.one_of(
    numbers.map(str),
    st.tuples(numbers, st.integers(0, 15)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
    st.tuples(numbers, st.integers(0, 15), st.integers(1, 4)).map(lambda t: f"{t[0]}-{t[0] + t[1]}/{t[2]}"))
brackets = st.lists(ranges, min_size=1, max_size=3).map(lambda r: "[" + ",".join(r) + "]")
operands = st.tuples(st.sampled_from(["n", "rk", "pi-", "a"]), st.lists(brackets, max_size=2),
                     st.sampled_from(["", "x", ".lan"])).map(lambda t: t[0] + "x".join(t[1]) + t[2])
expressions = st.tuples(operands, st.lists(st.tuples(st.sampled_from([",", "!", "&", "^"]), operands),
                                           max_size=3)).map(lambda t: t[0] + "".join(o + e for o, e in t[1]))


@settings(max_examples=300, deadline=None)
@given(expressions)
def test_upper_bound_holds_and_expand_matches_clustershell(expr):
    try:
        reference = list(NodeSet(expr, resolver=RESOLVER_NOGROUP))
    except Exception:
        with pytest.raises(HostlistError):
            expand(expr)
        return
    assert upper_bound(expr) >= len(reference)
    assert expand(expr) == reference


GROUPS = {"even": ["n2", "n4"], "odd": ["n1", "n3", "n5"], "all": [f"n{i}" for i in range(1, 6)]}
group_operands = st.one_of(st.sampled_from(["@even", "@odd", "@all"]), operands)
group_expressions = st.tuples(group_operands, st.lists(st.tuples(st.sampled_from([",", "!", "&", "^"]),
                                                                 group_operands), max_size=3)).map(
    lambda t: t[0] + "".join(o + e for o, e in t[1]))


@settings(max_examples=300, deadline=None)
@given(group_expressions)
def test_groups_resolve_as_clustershell_resolves_them(expr):
    source = GroupSource("t", {g: ",".join(m) for g, m in GROUPS.items()})
    try:
        reference = set(NodeSet(expr, resolver=GroupResolver(source)))
    except Exception:
        with pytest.raises(HostlistError):
            expand(expr, groups=GROUPS)
        return
    assert set(expand(expr, groups=GROUPS)) == reference
    assert upper_bound(expr, {g: len(m) for g, m in GROUPS.items()}) >= len(reference)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_expands_or_is_one_line_error(text):
    try:
        names = expand(text, limit=1000)
    except HostlistError as exc:
        assert "\n" not in str(exc) and all(c.isprintable() for c in str(exc))
        return
    assert len(names) <= 1000


# ---- a plain name is itself, as NodeSet has it ---------------------------------------------------

name_part = st.text(alphabet="abn0123456789_.-", max_size=8)


@settings(max_examples=500, deadline=None)
@given(name_part.filter(bool))
def test_a_plain_name_is_itself_without_clustershell(expr):
    """`pi3`, `node01.lan`: a name with no bracket, comma or group is taken as it is (a bsub
    line with such names in roost.toml does not import ClusterShell), as NodeSet takes it."""
    try:
        reference = list(NodeSet(expr, resolver=RESOLVER_NOGROUP))
    except Exception:
        return                     # NodeSet refuses it: the one-line error is tested above
    assert expand(expr) == reference


# ---- bounded: refused before anything is built -------------------------------------------------

@pytest.mark.parametrize("expr, count", [
    ("n[1-10000000]", 10_000_000),
    ("n[1-99999999999999999999]", 99_999_999_999_999_999_999),       # AssertionError in ClusterShell
    ("a[1-1000]b[1-1000]", 1_000_000),
    ("n[1-10000000]!n[2-10000000]", 19_999_999),                      # ClusterShell builds both sides
    ("n[1-60000],m[1-60000]", 120_000),
    ("n[1-10000000/2]", 5_000_000),
])
def test_too_many_names_are_refused_in_no_time_and_no_memory(expr, count):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()
    with pytest.raises(HostlistTooLarge, match=f"holds {count:,} names, more than the limit of 100,000"):
        expand(expr)
    assert time.process_time() - start < 0.05
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 10_000   # KiB


def test_the_limit_is_a_parameter_and_an_environment_variable(monkeypatch):
    assert len(expand("n[1-100000]")) == DEFAULT_LIMIT
    with pytest.raises(HostlistTooLarge, match="limit of 10"):
        expand("n[1-11]", limit=10)
    monkeypatch.setenv("ROOST_MAX_HOSTLIST", "5")
    assert default_limit() == 5
    with pytest.raises(HostlistTooLarge, match="limit of 5"):
        expand("n[1-6]")
    for bad in ("0", "-3", "abc", "1e9", "99999999999", "٣"):
        monkeypatch.setenv("ROOST_MAX_HOSTLIST", bad)
        with pytest.raises(HostlistError, match="ROOST_MAX_HOSTLIST: expected an integer 1-10000000"):
            default_limit()


def test_a_long_written_out_list_is_refused_before_parsing():
    names = ",".join(f"node{i:05d}" for i in range(8000))
    with pytest.raises(HostlistTooLarge, match="characters long"):
        expand(names)


def test_groups_count_by_their_size():
    groups = {"big": [f"n{i}" for i in range(600)]}
    assert upper_bound("@big,@big", {"big": 600}) == 1200
    with pytest.raises(HostlistTooLarge):
        expand("@big,@big", limit=1000, groups=groups)


def test_no_group_lookup_without_groups(tmp_path, monkeypatch):
    """ClusterShell's default resolver reads groups.conf and runs its upcalls: never used."""
    assert expand("@rack1,n1") == ["@rack1", "n1"]


def test_error_text_carries_no_control_characters():
    with pytest.raises(HostlistError) as info:
        expand("\x1b]0;PWN\x07]")
    assert "\x1b" not in str(info.value) and "\\x1b" in str(info.value)


# ---- Ansible ranges -----------------------------------------------------------------------------

def test_ansible_ranges_are_counted_before_expanding():
    start = time.process_time()
    with pytest.raises(HostlistTooLarge, match="holds 10,000,000 names"):
        expand_ansible("n[01:10000000]")
    with pytest.raises(HostlistTooLarge, match="holds 1,000,000 names"):
        expand_ansible("a[1:1000]b[1:1000]")
    assert time.process_time() - start < 0.05
    assert expand_ansible("n[01:03]x[a:b]", limit=6) == ["n01xa", "n01xb", "n02xa", "n02xb", "n03xa", "n03xb"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_ansible_garbage_expands_or_is_one_line_error(pattern):
    try:
        names = expand_ansible(pattern, limit=1000)
    except HostlistError as exc:
        assert "\n" not in str(exc)
        return
    assert 1 <= len(names) <= 1000


# ---- folding and order ----------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 300), min_size=1, max_size=40))
def test_fold_then_expand_round_trips(numbers):
    names = [f"n{i}" for i in numbers]
    assert set(expand(fold(names))) == set(names)
    assert fold([]) == ""


def test_natural_order():
    assert sorted(["n10", "n2", "n1", "rack10n1", "rack2n3"], key=natural_key) == \
        ["n1", "n2", "n10", "rack2n3", "rack10n1"]
