"""One node's rendered exposition sections, kept while what they read is unchanged.

Most of a board's node_exporter sections read files that never or rarely change (uname,
os-release, interface properties, cpufreq limits, hwmon labels, sockets): a scrape replays their
series instead of building them again. Each cached section has a key: the inputs it reads, as raw
file texts (compared by value) or as the parsed objects a node's snapshot Memo hands back
unchanged (compared by identity: the Memo gives the same object while the file's text is the
same). A key that matches gives exactly the series a fresh run would, in the same order.
"""
from __future__ import annotations

from collections.abc import Callable
from operator import is_

from ..model import Sample
from .writer import Families, Layout, Record, Recorder

Section = Callable[[Families, Sample], None]
# (raw file texts or None, compared by value; parsed objects, compared by identity)
# texts: file texts, names, or (name, ((file, text), ...)) groups, all compared by value
Inputs = tuple[tuple[object, ...], tuple[object, ...]]
Key = Callable[[Sample], Inputs]
SEP = object()      # between two runs of objects in one key (a thermal zone list and a cooling one)
SECTIONS_CAP = 64   # more keyed sections than roost has: a bound, not a tuning knob


def same(a: Inputs, b: Inputs) -> bool:
    """a and b render alike: equal texts (a tuple of str compares exactly) and the very same
    parsed objects (immutable, and equal objects of different field types might not)."""
    return a[0] == b[0] and len(a[1]) == len(b[1]) and all(map(is_, a[1], b[1]))


def objects_key(*fields: str) -> Key:
    """The key of a section that reads only these Sample fields (parsed objects, or tuples of
    them): the fields' objects in order, SEP after each field's."""
    def inputs(s: Sample) -> Inputs:
        objects: list[object] = []
        for name in fields:
            value = getattr(s, name)
            if type(value) is tuple:
                objects += value
            else:
                objects.append(value)
            objects.append(SEP)
        return (), tuple(objects)
    return inputs


class SectionCache:
    """A node's sections as last rendered, by section, with the key they were rendered from.
    Keep one per node. Scrape threads may share it: an entry is replaced whole, never changed,
    so a race renders a section twice and keeps one of two equal results."""

    __slots__ = ("entries", "layout")

    def __init__(self) -> None:
        self.entries: dict[Section, tuple[Inputs, tuple[Record, ...]]] = {}
        self.layout = Layout()   # where the node's recorded series go in its text

    def render(self, f: Recorder, s: Sample, section: Section, key: Key) -> None:
        """section's series recorded into f: replayed when its key matches the last render's."""
        inputs = key(s)
        hit = self.entries.get(section)
        if hit is None or not same(hit[0], inputs):
            part = Recorder()
            section(part, s)   # type: ignore[arg-type]  # a Recorder has Families' add/put
            if len(self.entries) >= SECTIONS_CAP:
                self.entries.clear()
            hit = self.entries[section] = (inputs, part.frozen())
        f.merge(hit[1])
