"""console/power/TABLES.md is generated from the drivers' FIELDS so it cannot drift:
`python -m console.power.docs > console/power/TABLES.md` (a test compares the two)."""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from console.power.registry import DRIVERS
from console.power.spec import COMMON, Field

HEAD = """# Power tables

Each node's `power = { driver = "...", ... }` table is checked against its driver's keys
(`console/power/<driver>.py`, `FIELDS`); a wrong key or value is one line naming the node and key.
Secrets never go in the table: `password_env` names an environment variable, `password_file` a
file of mode 0600. `{name}`, `{index}` and `{index0}` are filled in from the node's name.

Keys every driver takes:
"""


def _row(key: str, f: Field) -> str:
    need = "required" if f.required else (f"default {f.default!r}" if f.default is not None else "optional")
    return f"- `{key}` ({need}): {f.doc}"


def _summary(module: ModuleType) -> str:
    first = (module.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in first.splitlines())


def tables_markdown() -> str:
    lines = [HEAD] + [_row(k, f) for k, f in COMMON.items()]
    for name, (path, _) in DRIVERS.items():
        module = importlib.import_module(path)
        lines += ["", f"## {name}", "", _summary(module), ""]
        lines += [_row(k, f) for k, f in module.FIELDS.items()] or ["- no keys of its own"]
    examples = Path(__file__).with_name("EXAMPLES.md").read_text()
    return "\n".join(lines) + "\n\n" + examples


if __name__ == "__main__":
    print(tables_markdown(), end="")
