"""Hostlists, in one place: ClusterShell/Slurm syntax (`n[1-4,7],ctl`, `@rack1`, `a!b`) and
Ansible's host ranges (`n[01:50]`, `web[a:f]`), bounded expansion, folding, natural order.

Every expansion is bounded BEFORE anything is expanded: ClusterShell's RangeSet stores every
number, so merely parsing `n[1-10000000]` takes GBs of memory and seconds of CPU (an OOM on a
Pi controller). upper_bound() counts the names an expression can produce from its text alone
(the sum over its operands of the product of its ranges), and an expression over the limit is a
HostlistError that says how many names it holds. The limit is roost.toml's [defaults]
max_hostlist where a config is at hand, else ROOST_MAX_HOSTLIST, else 100,000.

Group references (`@rack1`) resolve only through the groups a caller passes in: ClusterShell's
default resolver would read /etc/clustershell/groups.conf and run its upcall commands.
"""
from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import product
from typing import TYPE_CHECKING

from console.errors import RoostError

if TYPE_CHECKING:
    from ClusterShell.NodeUtils import GroupResolver

# ClusterShell is imported where it is used: a node given by plain names never pays its import
# (logging, subprocess ...), which a loop of a thousand `bsub` lines would pay every time

DEFAULT_LIMIT = 100_000
LIMIT_ENV = "ROOST_MAX_HOSTLIST"
MAX_TEXT = 64 * 1024        # characters in one expression (about 10,000 names written out)
LIMIT_RANGE = (1, 10_000_000)
_CEILING = 10 ** 30     # counting stops growing here (a bound, never an exact size)


class HostlistError(RoostError, ValueError):
    """One line saying what is wrong with a hostlist (the caller adds where it came from)."""


class HostlistTooLarge(HostlistError):
    """The hostlist holds more names than the limit (said before anything was expanded)."""


def default_limit(env: Mapping[str, str] = os.environ) -> int:
    """ROOST_MAX_HOSTLIST, else DEFAULT_LIMIT; a bad value is an error naming the variable."""
    text = env.get(LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_LIMIT
    lo, hi = LIMIT_RANGE
    if not (text.isascii() and text.isdigit() and lo <= int(text) <= hi):
        raise HostlistError(f"{LIMIT_ENV}: expected an integer {lo}-{hi}, got {_show(text)}")
    return int(text)


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _printable(exc: Exception, limit: int = 200) -> str:
    # ClusterShell quotes the bad text raw: escape codes in it must not reach a terminal
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(str(exc).split()))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def too_many(expr: str, count: int, limit: int) -> str:
    held = f"{count:,}" if count < _CEILING else "an astronomical number of"
    return (f"hostlist {_show(expr)} holds {held} names, more than the limit of {limit:,} "
            f"(max_hostlist in [defaults], or {LIMIT_ENV})")


# ---------------------------------------------------------------- ClusterShell syntax

_TOKEN = re.compile(r"\[[^\[\]]*\]|[,!&^]|[^,!&^\[\]]+|[\[\]]")


def upper_bound(expr: str, group_sizes: Mapping[str, int] | None = None) -> int:
    """How many names expr can produce at most, from its text alone (nothing is expanded).

    Operands of `,` `!` `&` `^` add up (ClusterShell builds each one before combining them);
    the ranges of one operand multiply. Text NodeSet would reject counts as 1 (it fails anyway).
    """
    biggest_group = max((group_sizes or {}).values(), default=1)
    total, factor, is_group = 0, 1, False
    for token in _TOKEN.findall(expr):
        if token in ",!&^":
            total = min(_CEILING, total + factor * (biggest_group if is_group else 1))
            factor, is_group = 1, False
        elif token.startswith("[") and token.endswith("]"):
            factor = min(_CEILING, factor * _range_count(token[1:-1]))
        elif factor == 1 and not is_group:
            is_group = token.lstrip().startswith("@")
    return min(_CEILING, total + factor * (biggest_group if is_group else 1))


def _range_count(body: str) -> int:
    # RangeSet's own grammar: "a", "a-b" or "a-b/step", comma-separated
    count = 0
    for item in body.split(","):
        base, _, step = item.partition("/")
        begin, _, end = base.partition("-")
        lo, hi, by = _int(begin), _int(end or begin), _int(step or "1")
        if lo is not None and hi is not None and by is not None and by > 0 and hi >= lo:
            count += (hi - lo) // by + 1
        else:
            count += 1
    return max(count, 1)


def _int(text: str) -> int | None:
    try:
        return int(text) if len(text) < 4000 else None   # int() refuses more digits anyway
    except ValueError:
        return None


def check_size(expr: str, limit: int | None = None,
               groups: Mapping[str, Sequence[str]] | None = None) -> None:
    """HostlistError when expr can hold more than limit names."""
    limit = default_limit() if limit is None else limit
    if len(expr) > MAX_TEXT:       # NodeSet parses ~40,000 names a second: fold them instead
        raise HostlistTooLarge(f"hostlist {_show(expr)} is {len(expr):,} characters long, more than "
                               f"{MAX_TEXT:,} (write ranges: n[1-500])")
    count = upper_bound(expr, {g: len(m) for g, m in (groups or {}).items()})
    if count > limit:
        raise HostlistTooLarge(too_many(expr, count, limit))


def expand(expr: str, *, limit: int | None = None,
           groups: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """`n[1-3],@g` -> names (sorted as NodeSet sorts them), refusing more than limit names.

    Groups resolve through `groups` only (name -> member names); without it `@x` is a name.
    """
    check_size(expr, limit, groups)
    if _PLAIN.fullmatch(expr):
        return [expr]
    from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet, NodeSetException
    from ClusterShell.RangeSet import RangeSetException
    try:
        fast = _with_groups(expr, groups) if groups else None
        if fast is not None:
            return fast
        resolver = _resolver(groups) if groups else RESOLVER_NOGROUP
        return list(NodeSet(expr, resolver=resolver))
    except (NodeSetException, RangeSetException, ValueError, AssertionError, RecursionError) as exc:
        raise HostlistError(f"bad hostlist {_show(expr)}: {_printable(exc)}") from None


_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")     # one name: nothing to expand


def _resolver(groups: Mapping[str, Sequence[str]]) -> GroupResolver:
    from ClusterShell.NodeUtils import GroupResolver, GroupSource
    return GroupResolver(GroupSource("roost", {g: ",".join(m) for g, m in groups.items()}))


_OPERATORS: dict[str, Callable[[set[str], set[str]], set[str]]] = {
    ",": set.union, "!": set.difference, "&": set.intersection, "^": set.symmetric_difference}


def _with_groups(expr: str, groups: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Left to right over the top-level operands, as NodeSet combines them, taking each @group's
    members as they are (NodeSet would re-parse the group's 100,000 names from one string).
    None when the expression needs NodeSet's own group syntax (@src:g, @g[1-2], ...)."""
    operands = _operands(expr)
    if operands is None or any(o.startswith("@") and o[1:] not in groups for _, o in operands):
        return None
    from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet
    names: set[str] = set()
    for op, operand in operands:
        if operand.startswith("@"):
            members = set(groups[operand[1:]])
        else:
            members = set(NodeSet(operand, resolver=RESOLVER_NOGROUP))
        names = _OPERATORS[op](names, members)
    return sorted(names, key=natural_key)


def _operands(expr: str) -> list[tuple[str, str]] | None:
    out, op, current = [], ",", ""
    for token in _TOKEN.findall(expr):
        if token in _OPERATORS:
            out.append((op, current.strip()))
            op, current = token, ""
        else:
            current += token
    out.append((op, current.strip()))
    for _, operand in out:
        if not operand or operand.startswith("@") and not _GROUP_NAME.fullmatch(operand[1:]):
            return None     # NodeSet gives the exact error (or resolves the fancier syntax)
    return out


_GROUP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def fold(names: Iterable[str]) -> str:
    """n1,n2,n3 -> n[1-3]; the names are taken literally (no group lookups)."""
    from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet
    names = list(names)
    return str(NodeSet.fromlist(names, resolver=RESOLVER_NOGROUP)) if names else ""


_DIGITS = re.compile(r"(\d+)")


@functools.lru_cache(maxsize=8192)
def natural_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key: n2 before n10, as sinfo and ClusterShell order nodes."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in _DIGITS.split(name))


# ---------------------------------------------------------------- Ansible host ranges

_ANSIBLE_RANGE = re.compile(r"\[([^\]]*)\]")


def expand_ansible(pattern: str, limit: int | None = None) -> list[str]:
    """Ansible host ranges: n[01:50], web[a:f], x[0:10:2]; several ranges multiply out.

    Counted before expanding: more than limit hosts is a HostlistError."""
    limit = default_limit() if limit is None else limit
    parts = _ANSIBLE_RANGE.split(pattern)
    ranges = [_AnsibleRange.parse(p) for p in parts[1::2]]
    count = 1
    for r in ranges:
        count = min(_CEILING, count * r.size())
    if count > limit:
        raise HostlistTooLarge(too_many(pattern, count, limit))
    choices = [[p] if i % 2 == 0 else list(ranges[i // 2]) for i, p in enumerate(parts)]
    return ["".join(combo) for combo in product(*choices)]


class _AnsibleRange:
    """One [start:end(:step)] of numbers or single letters, sized without expanding it."""

    def __init__(self, start: str, end: str, step: int):
        self.start, self.end, self.step = start, end, step

    @classmethod
    def parse(cls, spec: str) -> _AnsibleRange:
        bits = spec.split(":")
        if len(bits) not in (2, 3) or not all(bits[:2]):
            raise _bad_range(spec, "expected [start:end] or [start:end:step]")
        step_text = bits[2] if len(bits) == 3 and bits[2] else "1"
        step = _int(step_text)
        if step is None:
            raise _bad_range(spec, f"step {_show(step_text)} is not a number")
        if step < 1:
            raise _bad_range(spec, "step must be positive")
        r = cls(bits[0], bits[1], step)
        if r.numeric():
            if _int(r.start) is None or _int(r.end) is None or int(r.start) > int(r.end):
                raise _bad_range(spec, "start is after end")
        elif not (len(r.start) == len(r.end) == 1 and r.start.isalpha() and r.end.isalpha()
                  and r.start <= r.end):
            raise _bad_range(spec, "expected numbers or single letters")
        return r

    def numeric(self) -> bool:
        return all(t.isascii() and t.isdigit() for t in (self.start, self.end))

    def size(self) -> int:
        lo, hi = (int(self.start), int(self.end)) if self.numeric() else (ord(self.start), ord(self.end))
        return min(_CEILING, (hi - lo) // self.step + 1)

    def __iter__(self) -> Iterator[str]:
        if not self.numeric():
            return (chr(c) for c in range(ord(self.start), ord(self.end) + 1, self.step))
        # Ansible pads to the start's width when it has a leading zero.
        width = len(self.start) if self.start.startswith("0") and len(self.start) > 1 else 0
        return (str(n).zfill(width) for n in range(int(self.start), int(self.end) + 1, self.step))


def _bad_range(spec: str, why: str) -> HostlistError:
    return HostlistError(f"bad host range [{_show(spec)[1:-1]}]: {why}")
