"""Completion on TAB: the words typed so far, walked over the spec, give the candidates.

`roost __complete SPEC WORD... CURRENT` prints one candidate a line (or "@files"/"@dirs" for the
shell to complete paths itself). It never prints an error into the user's prompt.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from console.completion.spec import ROOT, Spec

GLOBAL_PATHS = {"--config": "config", "--inventory": "inventory", "--ssh-config": "ssh_config",
                "--state-dir": "state_dir"}
_SEPARATORS = ",!&^"      # hostlist operators: complete the name after the last one


@dataclass
class Position:
    """Where the cursor is: the command path, what it expects, and the global options seen."""
    path: str = ROOT
    expect: str | None = None         # the kind of value the previous flag wants
    positional: int = 0
    after_dashdash: bool = False
    given: dict[str, str] = field(default_factory=dict)
    _global: str | None = None        # the global option whose value comes next


def locate(spec: Spec, words: Sequence[str]) -> Position:
    at = Position()
    for word in words:
        _step(spec, at, word)
    return at


def _step(spec: Spec, at: Position, word: str) -> None:
    if at.expect is not None:
        if at._global:
            at.given[at._global] = word
        at.expect, at._global = None, None
    elif at.after_dashdash:
        at.positional += 1
    elif word == "--":
        at.after_dashdash = True
    elif word.startswith("-") and len(word) > 1:
        _flag(spec, at, word)
    elif word in spec.subs.get(at.path, ()):
        at.path, at.positional = word if at.path == ROOT else f"{at.path}.{word}", 0
    else:
        at.positional += 1


def _flag(spec: Spec, at: Position, word: str) -> None:
    flag, eq, value = word.partition("=")
    kind = spec.opts.get(at.path, {}).get(flag, "-")
    is_global = at.path == ROOT and flag in GLOBAL_PATHS
    if eq:
        if is_global:
            at.given[GLOBAL_PATHS[flag]] = value
    elif kind != "-":
        at.expect, at._global = kind, GLOBAL_PATHS[flag] if is_global else None


def candidates(spec: Spec, words: Sequence[str], current: str, source_for) -> list[str]:
    """What may replace `current`, given the words before it; source_for(given) -> Source."""
    at = locate(spec, words)
    if at.expect is not None:
        return values(at.expect, current, lambda: source_for(at.given))
    if current.startswith("-") and not at.after_dashdash:
        flags = [*spec.opts.get(at.path, {}), *(["--"] if _kinds(spec, at) == ["run"] else [])]
        return [f for f in flags if f.startswith(current)]
    if spec.subs.get(at.path):
        return [s for s in spec.subs[at.path] if s.startswith(current)]
    return values(_positional_kind(spec, at), current, lambda: source_for(at.given))


def _kinds(spec: Spec, at: Position) -> list[str]:
    return spec.pos.get(at.path, [])


def _positional_kind(spec: Spec, at: Position) -> str:
    kinds = _kinds(spec, at)
    if kinds == ["run"]:    # roost run [NODESET] -- CMD: a command runs remotely, nothing to offer
        return "nodes" if at.positional == 0 and not at.after_dashdash else "any"
    if at.positional < len(kinds):
        return kinds[at.positional]
    return kinds[-1] if kinds and kinds[-1].endswith("+") else "any"


def values(kind: str, current: str, source) -> list[str]:
    kind = kind.rstrip("+")
    if kind.startswith("choice="):
        return [c for c in kind.removeprefix("choice=").split(",") if c.startswith(current)]
    if kind in ("file", "dir"):
        return [f"@{kind}s"]
    if kind == "nodes":
        return _listed(current, source().nodes())
    if kind == "groups":
        return _listed(current, source().groups())
    if kind == "jobs":
        return _listed(current, source().jobs())
    return []


def _listed(current: str, names: Iterable[str]) -> list[str]:
    """Complete the last item of a list: `n1,n` offers `n1,n2`, `n1,n3` ... (hostlists, ids)."""
    cut = max(current.rfind(c) for c in _SEPARATORS) + 1
    head, tail = current[:cut], current[cut:]
    return [head + n for n in names if n.startswith(tail)]


def complete_main(argv: Sequence[str], out=None) -> int:
    """`roost __complete SPEC WORD... CURRENT`: candidates, one a line. A broken config
    completes nothing rather than printing into the user's command line."""
    from console.completion.sources import Source
    out = out or sys.stdout
    if not argv:
        return 2
    spec, words = Spec.parse(argv[0]), list(argv[1:]) or [""]
    try:
        found = candidates(spec, words[:-1], words[-1], Source)
    except Exception:  # noqa: BLE001 - completion must never print a traceback into a prompt
        return 1
    out.write("".join(f"{c}\n" for c in found if c.isprintable()))
    return 0
