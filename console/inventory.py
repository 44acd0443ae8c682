"""Ansible inventory import (INI and YAML): hosts, groups, children, group vars, host ranges.

Only what roost needs is read: ansible_host, ansible_port, ansible_user,
ansible_ssh_private_key_file, and group membership. Group vars apply parent-first, so a child
group's value beats its parent's and a host's own value beats every group's (Ansible's order).
Errors are one line: "FILE:LINE: what".

Bounded: host ranges are counted before they are expanded (console.hostlist), the inventory
holds at most `limit` hosts and 10 x `limit` group memberships, groups resolve without
recursion (a chain of 10,000 child groups is fine, a loop is an error naming it) and each
(group, YAML node) is visited once (aliases cannot multiply the work).
"""
from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, Protocol

import yaml

from console.errors import RoostError
from console.hostlist import DEFAULT_LIMIT, HostlistError, expand_ansible
from console.userfile import MiB, UserFileError, read_text

MAX_INVENTORY_BYTES = 1 * MiB   # ~20,000 hosts; PyYAML reads ~1 MB/s
MAX_LINE = 64 * 1024          # an INI line longer than this is not a host line
MEMBERSHIPS_PER_HOST = 10     # group memberships in all, per allowed host
MAX_YAML_DEPTH = 64           # PyYAML composes recursively (and scans deep flow collections in
                              # quadratic time): deeper documents are refused before parsing


class InventoryError(RoostError):
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
    group_lines: Mapping[str, int] = field(default_factory=dict)   # group -> first line seen


Vars = dict[str, object]    # host or group variables: INI's str/int, YAML's values


class _Loader(Protocol):
    """PyYAML's (C)SafeLoader as the YAML reader uses it."""

    def get_single_node(self) -> yaml.Node | None: ...
    def construct_object(self, node: yaml.Node, deep: bool = False) -> object: ...
    def dispose(self) -> None: ...


@dataclass
class _Group:
    hosts: dict[str, Vars] = field(default_factory=dict)   # host -> its own vars
    children: list[str] = field(default_factory=list)
    vars: Vars = field(default_factory=dict)


@dataclass
class _Builder:
    path: Path
    limit: int = DEFAULT_LIMIT
    groups: dict[str, _Group] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)     # host -> first line seen
    group_lines: dict[str, int] = field(default_factory=dict)
    visited: set[tuple[str, int]] = field(default_factory=set)   # (group, id(YAML node)) done

    def group(self, name: str, line: int = 0) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group()
            self.group_lines[name] = line
        return self.groups[name]

    def fail(self, line: int, msg: str) -> NoReturn:
        raise InventoryError(f"{self.path}:{line}: {msg}")


# ---------------------------------------------------------------- INI

_SECTION = re.compile(r"^\[([^\]:]+)(?::(\w+))?\]\s*$")


def _parse_ini(b: _Builder, text: str) -> None:
    group, kind = "ungrouped", "hosts"
    for lineno, raw in enumerate(text.split("\n"), 1):
        if len(raw) > MAX_LINE:
            b.fail(lineno, f"line is {len(raw):,} characters long, more than {MAX_LINE:,}")
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
        b.fail(lineno, f"bad section header {_show(line)}: expected [group], [group:vars] or [group:children]")
    kind = m.group(2) or "hosts"
    if kind not in ("hosts", "vars", "children"):
        b.fail(lineno, f"unknown section kind {_show(kind)}: expected vars or children")
    b.group(m.group(1).strip(), lineno)
    return m.group(1).strip(), kind


def _ini_line(b: _Builder, group: str, kind: str, line: str, lineno: int) -> None:
    g = b.group(group, lineno)
    if kind == "children":
        g.children.append(line.split()[0])
        b.group(line.split()[0], lineno)
    elif kind == "vars":
        key, eq, value = line.partition("=")
        if not eq:
            b.fail(lineno, f"expected key=value in [{_name(group)}:vars], got {_show(line)}")
        g.vars[key.strip()] = _ini_value(value.strip())
    else:
        _ini_host(b, g, line, lineno)


def _ini_host(b: _Builder, g: _Group, line: str, lineno: int) -> None:
    try:
        words = shlex.split(line, comments=True)
    except ValueError as exc:
        b.fail(lineno, f"cannot split host line: {exc}")
    pattern = words[0]
    hostvars: Vars = {}
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if not eq:
            b.fail(lineno, f"expected key=value after host, got {_show(word)}")
        hostvars[key] = _ini_value(value)
    _add_hosts(b, g, pattern, hostvars, lineno)


def _ini_value(text: str) -> int | str:
    # isascii: "²".isdigit() is true, but int("²") fails
    return int(text) if text.isascii() and text.isdigit() and len(text) < 100 else text.strip("'\"")


def _add_hosts(b: _Builder, g: _Group, pattern: str, hostvars: Vars, lineno: int) -> None:
    pattern, hostvars = _split_port(b, pattern, dict(hostvars), lineno)
    try:
        names = expand_ansible(pattern, limit=b.limit)
    except HostlistError as exc:
        b.fail(lineno, str(exc))
    for name in names:
        g.hosts.setdefault(name, {}).update(hostvars)
        b.lines.setdefault(name, lineno)
    if len(b.lines) > b.limit:
        b.fail(lineno, f"the inventory now holds {len(b.lines):,} hosts, more than max_hostlist ({b.limit:,})")


def _split_port(b: _Builder, pattern: str, hostvars: Vars, lineno: int) -> tuple[str, Vars]:
    # "host:2222" or "n[1:3]:2222"; a bare IPv6 address (several colons) has no port.
    tail = pattern[pattern.rfind("]") + 1:]
    if tail.count(":") != 1:
        return pattern, hostvars
    head, _, port = pattern.rpartition(":")
    if not (port.isascii() and port.isdigit() and len(port) < 100):
        b.fail(lineno, f"bad port in {_show(pattern)}: expected a number")
    hostvars.setdefault("ansible_port", int(port))
    return head, hostvars


# ---------------------------------------------------------------- YAML

def _parse_yaml(b: _Builder, text: str) -> None:
    deep = _deep_line(text)
    if deep:
        b.fail(deep, f"YAML nested more than {MAX_YAML_DEPTH} levels deep")
    loader: _Loader | None = None
    try:
        loader = _LOADER(text)      # the reader refuses NUL and other control characters here
        root = loader.get_single_node()
        if root is not None:
            for key, value in _mapping(b, root, "inventory top level"):
                _yaml_group(b, loader, _scalar(b, key), value)
    except yaml.YAMLError as exc:
        b.fail(_yaml_line(exc, text), f"YAML syntax: {_one_line(getattr(exc, 'problem', None) or exc)}")
    except RecursionError:          # a safety net: _deep_line should have said so first
        b.fail(1, "YAML nested too deeply")
    finally:
        if loader is not None:
            loader.dispose()


# libyaml's parser when present (twice as fast); safe at any size since depth is checked first
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_line(exc: yaml.YAMLError, text: str) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    position = getattr(exc, "position", None)      # ReaderError: a character YAML refuses
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else 1


def _deep_line(text: str, limit: int = MAX_YAML_DEPTH) -> int | None:
    """The first line nesting deeper than limit: block levels (distinct indents, "- - -") plus
    open flow brackets. Brackets inside quotes count too: a hint, erring towards refusing."""
    indents, flow = [-1], 0
    for lineno, line in enumerate(text.split("\n"), 1):
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        while indents[-1] >= indent:
            indents.pop()
        indents.append(indent)
        block = len(indents) - 1 + (len(body) - len(body.lstrip("- "))) // 2
        for ch in body if "[" in body or "{" in body or flow else ():
            flow += (ch in "[{") - (ch in "]}")
            if block + flow > limit:
                return lineno
        if block + max(flow, 0) > limit:
            return lineno
    return None


def _one_line(text: object, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _mapping(b: _Builder, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return []
    if not isinstance(node, yaml.MappingNode):
        b.fail(node.start_mark.line + 1, f"{what}: expected a mapping, got {_kind(node)}")
    pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
    return pairs


def _kind(node: yaml.Node) -> str:
    """PyYAML's word for the node: scalar, sequence or mapping."""
    if isinstance(node, (yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode)):
        return node.id
    return type(node).__name__


def _scalar(b: _Builder, node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        b.fail(node.start_mark.line + 1, f"expected a name, got a {_kind(node)}")
    text: str = node.value
    return text


def _yaml_group(b: _Builder, loader: _Loader, name: str, node: yaml.Node) -> None:
    if (name, id(node)) in b.visited:   # an alias met again: its content is already in
        return
    b.visited.add((name, id(node)))
    g = b.group(name, node.start_mark.line + 1)
    for key, value in _mapping(b, node, f"group {_name(name)}"):
        section = _scalar(b, key)
        if section == "hosts":
            for hkey, hval in _mapping(b, value, f"{_name(name)}.hosts"):
                hv = dict(_construct(b, loader, hval, f"{_name(name)}.hosts") or {})
                _add_hosts(b, g, _scalar(b, hkey), hv, hkey.start_mark.line + 1)
        elif section == "children":
            for ckey, cval in _mapping(b, value, f"{_name(name)}.children"):
                g.children.append(_scalar(b, ckey))
                _yaml_group(b, loader, _scalar(b, ckey), cval)
        elif section == "vars":
            g.vars.update(_construct(b, loader, value, f"{_name(name)}.vars") or {})
        else:
            b.fail(key.start_mark.line + 1, f"group {_name(name)}: unknown key {_show(section)}: "
                   "expected hosts, children or vars")


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)     # hostile text (newlines, escapes) stays on one line
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _name(name: str) -> str:
    return name if name.isidentifier() else _show(name)


def _construct(b: _Builder, loader: _Loader, node: yaml.Node, what: str) -> Vars | None:
    value = loader.construct_object(node, deep=True)
    if value is not None and not isinstance(value, dict):
        b.fail(node.start_mark.line + 1, f"{what}: expected a mapping of variables, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------- resolve

def load_inventory(path: str | os.PathLike[str], *, limit: int = DEFAULT_LIMIT) -> Inventory:
    """Read an INI or YAML inventory; at most `limit` hosts (max_hostlist)."""
    p = Path(path).expanduser()
    try:
        text = read_text(p, "inventory", MAX_INVENTORY_BYTES)
    except UserFileError as exc:
        raise InventoryError(str(exc)) from None
    b = _Builder(p, limit)
    if _looks_yaml(p, text):
        _parse_yaml(b, text)
    else:
        _parse_ini(b, text)
    return _resolve(b)


def _looks_yaml(path: Path, text: str) -> bool:
    if path.suffix in (".yml", ".yaml"):
        return True
    first = next((ln.strip() for ln in text.split("\n") if _strip_comment(ln).strip()), "")
    return first == "---" or (first.endswith(":") and not first.startswith("["))


def _resolve(b: _Builder) -> Inventory:
    members, parents_first = _all_members(b)
    depth = _depths(b, parents_first)
    order = {name: pos for pos, name in enumerate(b.lines)}
    of: dict[str, list[str]] = {}
    for g in sorted(members, key=lambda g: (depth[g], g)):
        for host in members[g]:
            of.setdefault(host, []).append(g)
    hosts = [_host(b, name, ["all"] + [g for g in of.get(name, ()) if g != "all"]) for name in b.lines]
    groups = {g: tuple(sorted(m, key=order.__getitem__)) for g, m in members.items()
              if m and g not in ("all", "ungrouped")}
    return Inventory(b.path, tuple(hosts), groups, dict(b.group_lines))


def _all_members(b: _Builder) -> tuple[dict[str, frozenset[str]], list[str]]:
    """Each group's hosts, its children's included, without recursion; and the groups parents
    first. A group that is its own child is an error naming the loop."""
    done: dict[str, frozenset[str]] = {}
    post: list[str] = []        # children before parents
    budget = MEMBERSHIPS_PER_HOST * b.limit
    for root in list(b.groups):
        stack, on_path = [(root, iter(b.groups[root].children))], {root}
        while stack:
            group, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(group)
                if group not in done:
                    done[group] = _union(b, group, done)
                    post.append(group)
                    budget -= len(done[group])
                    if budget < 0:
                        _too_many_memberships(b)
            elif child in on_path:
                raise _loop_error(b, [g for g, _ in stack], child)
            elif child not in done:
                stack.append((child, iter(b.group(child).children)))
                on_path.add(child)
    return done, post[::-1]


def _loop_error(b: _Builder, chain: list[str], child: str) -> InventoryError:
    loop = chain[chain.index(child):] + [child]
    line = b.group_lines.get(child) or 0
    where = f"{b.path}:{line}" if line else str(b.path)
    return InventoryError(f"{where}: group {_show(child)} is its own child ({_one_line(' > '.join(loop))})")


def _union(b: _Builder, group: str, done: Mapping[str, frozenset[str]]) -> frozenset[str]:
    g = b.groups.get(group, _Group())
    out = set(g.hosts)
    for child in g.children:
        out |= done[child]
    return frozenset(out)


def _too_many_memberships(b: _Builder) -> None:
    raise InventoryError(f"{b.path}: the groups hold more than {MEMBERSHIPS_PER_HOST * b.limit:,} "
                         f"host memberships in all ({MEMBERSHIPS_PER_HOST} x max_hostlist)")


def _depths(b: _Builder, parents_first: list[str]) -> dict[str, int]:
    # 1 + the deepest parent's depth (a group without parents: 1), as Ansible orders group vars
    depth = dict.fromkeys(parents_first, 1)
    for group in parents_first:
        for child in b.groups.get(group, _Group()).children:
            depth[child] = max(depth.get(child, 1), depth[group] + 1)
    return depth


def _host(b: _Builder, name: str, chain: list[str]) -> InventoryHost:
    merged: Vars = {}
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


def _opt_str(merged: Vars, key: str) -> str | None:
    value = merged.get(key)
    return None if value is None else str(value)


def _opt_port(b: _Builder, merged: Vars, line: int) -> int | None:
    value = merged.get("ansible_port")
    if value is None:
        return None
    port = value if isinstance(value, int) and not isinstance(value, bool) else _port_text(value)
    if not 0 < port < 65536:
        b.fail(line, f"ansible_port: expected a port number 1-65535, got {_show(value)}")
    return port


def _port_text(value: object) -> int:
    if isinstance(value, float) and value.is_integer():      # YAML 2222.0
        return int(value)
    text = value.strip() if isinstance(value, str) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else -1
