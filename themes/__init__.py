"""Themes as data: every *.toml here becomes a textual Theme; roost.tcss is the layout.

Kept free of Textual at import time so the CLI can list theme names without a screen; load()
builds the Theme objects when the app starts.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAYOUT = HERE / "roost.tcss"
DEFAULT = "roost-dark"

# Roost's own colour roles, used by widgets that colour node data; every theme must define them.
ROLES = ("roost-up", "roost-down", "roost-stale", "roost-ok", "roost-warn", "roost-crit",
         "roost-mark", "heat-0", "heat-1", "heat-2", "heat-3", "heat-4")
THEME_KEYS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground",
              "background", "surface", "panel", "boost")


def read(path: Path) -> dict:
    data = tomllib.loads(path.read_text())
    missing = [r for r in ROLES if r not in data.get("variables", {})]
    if "name" not in data or "primary" not in data or missing:
        raise ValueError(f"{path}: theme needs name, primary and variables {missing}")
    return data


def names() -> list[str]:
    return sorted(read(p)["name"] for p in HERE.glob("*.toml"))


def load(extra_dirs: tuple[Path, ...] = ()) -> list:
    """Every theme file as a textual.theme.Theme (user dirs may add or override)."""
    from textual.theme import Theme
    out = {}
    for d in (HERE, *extra_dirs):
        for p in sorted(Path(d).glob("*.toml")):
            data = read(p)
            kw = {k: data[k] for k in THEME_KEYS if k in data}
            out[data["name"]] = Theme(name=data["name"], dark=bool(data.get("dark", True)),
                                      variables=dict(data["variables"]), **kw)
    return list(out.values())
