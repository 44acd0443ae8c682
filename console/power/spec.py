"""Validate a node's raw `power` table against its driver's field table.

Config keeps `power` raw (a dict from TOML); this module turns it into checked values or one
clear line: "node n3: power.pin: expected an integer 0-7 for xra1200, got 9". Each driver module
declares FIELDS (name -> Field) and the keys every driver shares are added here.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.power.base import PowerConfigError

_PLACEHOLDER = re.compile(r"\{(index0|index|name)\}")


@dataclass(frozen=True, slots=True)
class Field:
    kind: type                       # int, float, str, bool, list
    required: bool = False
    default: Any = None
    choices: tuple[object, ...] = ()
    lo: float | None = None
    hi: float | None = None
    doc: str = ""


COMMON = {
    "driver": Field(str, required=True, doc="which driver"),
    "via": Field(str, doc="controller node the driver acts through (SSH)"),
    "shared": Field(bool, default=False, doc="the output feeds several nodes (a plug, a PSU)"),
    "timeout": Field(float, default=10.0, lo=0.1, hi=600, doc="seconds per hardware request"),
    "shutdown": Field(str, doc="OS shutdown command run over SSH before power is cut"),
}

SECRET_KEYS = ("password", "token", "secret", "pass", "passwd")


class Spec:
    """A validated power table: spec["pin"] is the checked value; spec.node names the node."""

    def __init__(self, node: str, values: Mapping[str, Any]):
        self.node = node
        self.values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        return default if value is None else value

    def fail(self, key: str, what: str) -> PowerConfigError:
        return PowerConfigError(f"node {self.node}: power.{key}: {what}")


def substitute(raw: Mapping[str, Any], node: str, index: int | None) -> dict[str, Any]:
    """Fill {name}, {index} (1-based) and {index0} in string values; a whole-placeholder string
    such as pin = "{index0}" becomes the integer."""
    subs = {"name": node}
    if index is not None:
        subs.update(index=str(index), index0=str(index - 1))
    out = {}
    for key, value in raw.items():
        if isinstance(value, str) and _PLACEHOLDER.search(value):
            missing = [m for m in _PLACEHOLDER.findall(value) if m not in subs]
            if missing:
                raise PowerConfigError(
                    f"node {node}: power.{key}: {{{missing[0]}}} needs a node index (names = \"n[1-4]\")")
            value = _PLACEHOLDER.sub(lambda m: subs[m.group(1)], value)
        out[key] = value
    return out


def parse(node: str, raw: Mapping[str, Any], fields: Mapping[str, Field],
          index: int | None = None) -> Spec:
    """Check every key of raw against COMMON + fields; unknown or secret keys are errors."""
    if not isinstance(raw, Mapping):
        raise PowerConfigError(f"node {node}: power: expected a table, got {type(raw).__name__}")
    raw = substitute(raw, node, index)
    table = {**COMMON, **fields}
    for key in raw:
        if key not in table:
            raise PowerConfigError(_unknown_key(node, key, raw.get("driver"), table))
    values = {key: _value(node, key, raw.get(key), f) for key, f in table.items()}
    return Spec(node, values)


def _unknown_key(node: str, key: str, driver: Any, table: Mapping[str, Field]) -> str:
    if key.lower() in SECRET_KEYS:
        return (f"node {node}: power.{key}: secrets never go in the config; "
                f"use {key}_env (an environment variable) or {key}_file (a 0600 file)")
    known = ", ".join(sorted(table))
    return f"node {node}: power.{key}: unknown key for driver {driver!r} (known: {known})"


def _value(node: str, key: str, value: Any, f: Field) -> Any:
    where = f"node {node}: power.{key}"
    if value is None:
        if f.required:
            raise PowerConfigError(f"{where}: required ({f.doc})" if f.doc else f"{where}: required")
        return f.default
    value = _coerce(where, value, f.kind)
    if f.choices and value not in f.choices:
        raise PowerConfigError(f"{where}: expected one of {', '.join(map(str, f.choices))}, got {value!r}")
    if f.lo is not None and value < f.lo or f.hi is not None and value > f.hi:
        raise PowerConfigError(f"{where}: expected {_range(f)}, got {value!r}")
    return value


def _range(f: Field) -> str:
    wide = f.kind is int and (f.hi or 0) > 0xFF

    def fmt(bound: float | None) -> str:   # int fields' bounds are ints
        return hex(int(bound)) if wide and bound is not None else str(bound)
    return f"a value {fmt(f.lo)}-{fmt(f.hi)}"


def _coerce(where: str, value: Any, kind: type) -> Any:
    """TOML gives the right types; strings of numbers ("0x20", "3") come from templates."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value, 10) if value.isdigit() else int(value, 0)
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str) and value:
            return value
    elif kind is list:  # noqa: SIM102 - one branch per kind, as above
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
    raise PowerConfigError(f"{where}: expected {_kind_name(kind)}, got {value!r}")


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number",
            str: "a non-empty string", list: "a list of strings"}[kind]
