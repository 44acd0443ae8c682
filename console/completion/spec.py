"""The completion spec: roost's argparse tree as a few lines any shell can hold in single quotes.

    sub PATH NAME...          subcommands under PATH ("." is the top level, "power", "boinc.tasks")
    opt PATH KIND FLAG...     flags of PATH; KIND is "-" (no value), nodes, groups, jobs, file,
                              dir, any, or choice=a,b
    pos PATH KIND...          positionals in order; a KIND ending in "+" repeats; "run" marks
                              `roost run`'s [NODESET] -- CMD words

What an argument takes is read from its metavar and dest (NODESET, GROUP, ID, PATH, DIR ...), so
subcommands need no completion-specific code; an action may still set `.complete = KIND`.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

ROOT = "."
_SAFE = re.compile(r"[A-Za-z0-9 _.:,|+=@/\n-]*")
_BY_NAME = ((("NODESET", "EXCLUDE", "NODELIST"), "nodes"), (("GROUP",), "groups"),
            (("ID", "JOB_ID", "IDS"), "jobs"), (("DIR",), "dir"),
            (("PATH", "FILE", "SCRIPT", "PATH|-"), "file"))
RUN_WORDS = "[NODESET] -- CMD"


def kind_of(action: argparse.Action) -> str:
    """What an argument takes, from its choices, metavar and dest (or an explicit .complete)."""
    explicit = getattr(action, "complete", None)
    if explicit:
        return str(explicit)
    if action.nargs == 0:
        return "-"
    if action.choices and not isinstance(action.choices, dict):
        return "choice=" + ",".join(str(c) for c in action.choices)
    if action.metavar == RUN_WORDS:
        return "run"
    kind = _kind_by_name({str(action.metavar or "").upper(), action.dest.upper()})
    return kind + "+" if kind != "any" and action.nargs in ("+", "*") else kind


def _kind_by_name(names: set[str]) -> str:
    for marks, kind in _BY_NAME:
        if names & set(marks):
            return kind
    return "any"


def build_spec(parser: argparse.ArgumentParser) -> str:
    lines: list[str] = []
    _describe(parser, ROOT, lines)
    text = "\n".join(lines)
    unsafe = sorted(set(_SAFE.sub("", text)) if not _SAFE.fullmatch(text) else ())
    if unsafe:
        raise ValueError(f"completion spec holds characters a shell would need escaped: {unsafe}")
    return text


def _describe(parser: argparse.ArgumentParser, path: str, lines: list[str]) -> None:
    flags: dict[str, list[str]] = {}
    positionals: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            lines.append(f"sub {path} " + " ".join(action.choices))
            for name, sub in action.choices.items():
                _describe(sub, name if path == ROOT else f"{path}.{name}", lines)
        elif action.option_strings:
            flags.setdefault(kind_of(action), []).extend(action.option_strings)
        else:
            positionals.append(kind_of(action))
    lines += [f"opt {path} {kind} {' '.join(names)}" for kind, names in flags.items()]
    if positionals:
        lines.append(f"pos {path} {' '.join(positionals)}")


@dataclass
class Spec:
    subs: dict[str, list[str]] = field(default_factory=dict)
    opts: dict[str, dict[str, str]] = field(default_factory=dict)
    pos: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Spec:
        spec = cls()
        for line in text.splitlines():
            what, path, *rest = line.split(" ") + [""]
            rest = [r for r in rest if r]
            if what == "sub":
                spec.subs[path] = rest
            elif what == "opt" and rest:
                spec.opts.setdefault(path, {}).update({flag: rest[0] for flag in rest[1:]})
            elif what == "pos":
                spec.pos[path] = rest
        return spec
