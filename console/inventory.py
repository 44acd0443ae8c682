"""Ansible inventory import (INI and YAML): hosts, groups, children, group vars, host ranges.

Only what roost needs is read: ansible_host, ansible_port, ansible_user,
ansible_ssh_private_key_file, and group membership. Group vars apply parent-first, so a child
group's value beats its parent's and a host's own value beats every group's (Ansible's order).
Errors are one line: "FILE:LINE: what".
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Mapping

import yaml


class InventoryError(Exception):
    """One line: FILE:LINE: message."""


@dataclass(frozen=True, slots=True)
class InventoryHost:
    name: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    identity: str | None = None
    groups: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class Inventory:
    path: Path
    hosts: tuple[InventoryHost, ...]
    groups: Mapping[str, tuple[str, ...]]   # group -> host names (children included)


@dataclass
class _Group:
    hosts: dict[str, dict] = field(default_factory=dict)   # host -> its own vars
    children: list[str] = field(default_factory=list)
    vars: dict = field(default_factory=dict)


@dataclass
class _Builder:
    path: Path
    groups: dict[str, _Group] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)     # host -> first line seen

    def group(self, name: str) -> _Group:
        return self.groups.setdefault(name, _Group())

    def fail(self, line: int, msg: str):
        raise InventoryError(f"{self.path}:{line}: {msg}")


# ---------------------------------------------------------------- host ranges

_RANGE = re.compile(r"\[([^\]]*)\]")


def expand_hosts(pattern: str) -> list[str]:
    """Ansible host ranges: n[01:50], web[a:f], x[0:10:2]; several ranges multiply out."""
    parts = _RANGE.split(pattern)
    choices = [[p] if i % 2 == 0 else _expand_range(p) for i, p in enumerate(parts)]
    return ["".join(combo) for combo in product(*choices)]


def _expand_range(spec: str) -> list[str]:
    bits = spec.split(":")
    if len(bits) not in (2, 3) or not all(bits[:2]):
        raise ValueError(f"bad host range [{spec}]: expected [start:end] or [start:end:step]")
    start, end = bits[0], bits[1]
    step = _int(bits[2], spec) if len(bits) == 3 and bits[2] else 1
    if step < 1:
        raise ValueError(f"bad host range [{spec}]: step must be positive")
    if start.isdigit() and end.isdigit():
        return _numeric(start, end, step, spec)
    if len(start) == len(end) == 1 and start.isalpha() and end.isalpha() and start <= end:
        return [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    raise ValueError(f"bad host range [{spec}]: expected numbers or single letters")


def _numeric(start: str, end: str, step: int, spec: str) -> list[str]:
    lo, hi = int(start), int(end)
    if lo > hi:
        raise ValueError(f"bad host range [{spec}]: start is after end")
    # Ansible pads to the start's width when it has a leading zero.
    width = len(start) if start.startswith("0") and len(start) > 1 else 0
    return [str(n).zfill(width) for n in range(lo, hi + 1, step)]


def _int(text: str, spec: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"bad host range [{spec}]: step {text!r} is not a number") from None


# ---------------------------------------------------------------- INI

_SECTION = re.compile(r"^\[([^\]:]+)(?::(\w+))?\]\s*$")


def _parse_ini(b: _Builder, text: str) -> None:
    group, kind = "ungrouped", "hosts"
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if line.startswith("["):
            group, kind = _ini_section(b, line, lineno)
            continue
        _ini_line(b, group, kind, line, lineno)


def _strip_comment(line: str) -> str:
    s = line.lstrip()
    return "" if s.startswith(("#", ";")) else line


def _ini_section(b: _Builder, line: str, lineno: int) -> tuple[str, str]:
    m = _SECTION.match(line)
    if not m:
        b.fail(lineno, f"bad section header {line!r}: expected [group], [group:vars] or [group:children]")
    kind = m.group(2) or "hosts"
    if kind not in ("hosts", "vars", "children"):
        b.fail(lineno, f"unknown section kind {kind!r}: expected vars or children")
    b.group(m.group(1).strip())
    return m.group(1).strip(), kind


def _ini_line(b: _Builder, group: str, kind: str, line: str, lineno: int) -> None:
    g = b.group(group)
    if kind == "children":
        g.children.append(line.split()[0])
        b.group(line.split()[0])
    elif kind == "vars":
        key, eq, value = line.partition("=")
        if not eq:
            b.fail(lineno, f"expected key=value in [{group}:vars], got {line!r}")
        g.vars[key.strip()] = _ini_value(value.strip())
    else:
        _ini_host(b, g, line, lineno)


def _ini_host(b: _Builder, g: _Group, line: str, lineno: int) -> None:
    try:
        words = shlex.split(line, comments=True)
    except ValueError as exc:
        b.fail(lineno, f"cannot split host line: {exc}")
    pattern, hostvars = words[0], {}
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if not eq:
            b.fail(lineno, f"expected key=value after host, got {word!r}")
        hostvars[key] = _ini_value(value)
    _add_hosts(b, g, pattern, hostvars, lineno)


def _ini_value(text: str):
    return int(text) if text.isdigit() else text.strip("'\"")


def _add_hosts(b: _Builder, g: _Group, pattern: str, hostvars: dict, lineno: int) -> None:
    pattern, hostvars = _split_port(b, pattern, dict(hostvars), lineno)
    try:
        names = expand_hosts(pattern)
    except ValueError as exc:
        b.fail(lineno, str(exc))
    for name in names:
        g.hosts.setdefault(name, {}).update(hostvars)
        b.lines.setdefault(name, lineno)


def _split_port(b: _Builder, pattern: str, hostvars: dict, lineno: int) -> tuple[str, dict]:
    # "host:2222" or "n[1:3]:2222"; a bare IPv6 address (several colons) has no port.
    tail = pattern[pattern.rfind("]") + 1:]
    if tail.count(":") != 1:
        return pattern, hostvars
    head, _, port = pattern.rpartition(":")
    if not port.isdigit():
        b.fail(lineno, f"bad port in {pattern!r}: expected a number")
    hostvars.setdefault("ansible_port", int(port))
    return head, hostvars


# ---------------------------------------------------------------- YAML

def _parse_yaml(b: _Builder, text: str) -> None:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        b.fail(line, f"YAML syntax: {getattr(exc, 'problem', None) or exc}")
    finally:
        loader.dispose()
    if root is None:
        return
    top = _mapping(b, root, "inventory top level")
    for key, value in top:
        _yaml_group(b, loader, _scalar(b, key), value)


def _mapping(b: _Builder, node, what: str) -> list:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return []
    if not isinstance(node, yaml.MappingNode):
        b.fail(node.start_mark.line + 1, f"{what}: expected a mapping, got {node.id}")
    return node.value


def _scalar(b: _Builder, node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        b.fail(node.start_mark.line + 1, f"expected a name, got a {node.id}")
    return node.value


def _yaml_group(b: _Builder, loader, name: str, node) -> None:
    g = b.group(name)
    for key, value in _mapping(b, node, f"group {name}"):
        section = _scalar(b, key)
        if section == "hosts":
            for hkey, hval in _mapping(b, value, f"{name}.hosts"):
                hv = dict(_construct(b, loader, hval, f"{name}.hosts") or {})
                _add_hosts(b, g, _scalar(b, hkey), hv, hkey.start_mark.line + 1)
        elif section == "children":
            for ckey, cval in _mapping(b, value, f"{name}.children"):
                g.children.append(_scalar(b, ckey))
                _yaml_group(b, loader, _scalar(b, ckey), cval)
        elif section == "vars":
            g.vars.update(_construct(b, loader, value, f"{name}.vars") or {})
        else:
            b.fail(key.start_mark.line + 1, f"group {name}: unknown key {section!r}: expected hosts, children or vars")


def _construct(b: _Builder, loader, node, what: str):
    value = loader.construct_object(node, deep=True)
    if value is not None and not isinstance(value, dict):
        b.fail(node.start_mark.line + 1, f"{what}: expected a mapping of variables, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------- resolve

def load_inventory(path: str | os.PathLike) -> Inventory:
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{p}: cannot read inventory: {exc.strerror or exc}") from None
    b = _Builder(p)
    if _looks_yaml(p, text):
        _parse_yaml(b, text)
    else:
        _parse_ini(b, text)
    return _resolve(b)


def _looks_yaml(path: Path, text: str) -> bool:
    if path.suffix in (".yml", ".yaml"):
        return True
    first = next((ln.strip() for ln in text.splitlines() if _strip_comment(ln).strip()), "")
    return first == "---" or (first.endswith(":") and not first.startswith("["))


def _resolve(b: _Builder) -> Inventory:
    _check_cycles(b)
    members = {g: _members(b, g, ()) for g in b.groups}
    hosts = [_host(b, name, members) for name in _host_order(b)]
    groups = {g: tuple(sorted(m, key=_host_order(b).index)) for g, m in members.items()
              if m and g not in ("all", "ungrouped")}
    return Inventory(b.path, tuple(hosts), groups)


def _check_cycles(b: _Builder) -> None:
    for g in b.groups:
        _members(b, g, ())


def _members(b: _Builder, group: str, seen: tuple[str, ...]) -> set[str]:
    if group in seen:
        raise InventoryError(f"{b.path}: group {group!r} is its own child ({' > '.join(seen + (group,))})")
    g = b.groups.get(group, _Group())
    out = set(g.hosts)
    for child in g.children:
        out |= _members(b, child, seen + (group,))
    return out


def _host_order(b: _Builder) -> list[str]:
    return list(b.lines)


def _ancestry(b: _Builder, host: str, members: Mapping[str, set]) -> list[str]:
    # parents before children, so a child group's vars override its parent's
    groups = [g for g, m in members.items() if host in m and g != "all"]
    return ["all"] + sorted(groups, key=lambda g: (_depth(b, g, ()), g))


def _depth(b: _Builder, group: str, seen: tuple[str, ...]) -> int:
    parents = [p for p, g in b.groups.items() if group in g.children and p not in seen]
    return 1 + max((_depth(b, p, seen + (group,)) for p in parents), default=0)


def _host(b: _Builder, name: str, members: Mapping[str, set]) -> InventoryHost:
    merged: dict = {}
    chain = _ancestry(b, name, members)
    for g in chain:
        merged.update(b.groups.get(g, _Group()).vars)
    for g in chain:
        merged.update(b.groups.get(g, _Group()).hosts.get(name, {}))
    line = b.lines[name]
    groups = tuple(g for g in chain if g not in ("all", "ungrouped"))
    return InventoryHost(name=name, host=_opt_str(merged, "ansible_host"),
                         port=_opt_port(b, merged, line), user=_opt_str(merged, "ansible_user"),
                         identity=_opt_str(merged, "ansible_ssh_private_key_file"),
                         groups=groups, line=line)


def _opt_str(merged: dict, key: str) -> str | None:
    value = merged.get(key)
    return None if value is None else str(value)


def _opt_port(b: _Builder, merged: dict, line: int) -> int | None:
    value = merged.get("ansible_port")
    if value is None:
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 0 < port < 65536:
        b.fail(line, f"ansible_port: expected a port number 1-65535, got {value!r}")
    return port
