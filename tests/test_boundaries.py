"""The data plane and the UI-free console modules never import textual, rich or plotext.

Modules are globbed, so a new file under collectors/, console/jobs, console/power, console/demo
or console/ray is covered the day it lands. Each group is imported in a fresh interpreter, and
sys.modules is checked.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UI = ("textual", "rich", "plotext")
CONSOLE_UI_FREE = ("config", "inventory", "sshconfig", "paths", "cli", "collect", "state",
                   "runcmd", "gcpolicy", "text", "toasts", "hostlist", "userfile", "run_cli",
                   "argparsing", "promfleet")
UI_USERS = ("console/history/chart.py",)   # roost history's plotext charts, imported by its CLI only


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ui_free_modules() -> list[str]:
    files = list((ROOT / "collectors").rglob("*.py"))
    files += [ROOT / "console" / f"{name}.py" for name in CONSOLE_UI_FREE]
    files += list((ROOT / "console" / "jobs").rglob("*.py"))
    files += list((ROOT / "console" / "power").rglob("*.py"))
    files += list((ROOT / "console" / "demo").rglob("*.py"))
    files += list((ROOT / "console" / "ray").rglob("*.py"))
    files += list((ROOT / "console" / "completion").rglob("*.py"))
    files += [f for f in (ROOT / "console" / "history").rglob("*.py")
              if str(f.relative_to(ROOT)) not in UI_USERS]
    return sorted({module_name(f) for f in files if f.exists()})


PROBE = """
import importlib, json, sys
UI = %r
report = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        error = None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    ui = sorted(m for m in sys.modules if m.split(".")[0] in UI)
    report[name] = {"error": error, "ui": ui}
    if ui:
        break  # the first module that pulls UI in is the culprit
print(json.dumps(report))
""" % (UI,)


def test_the_glob_finds_the_known_modules():
    names = ui_free_modules()
    for expected in ("collectors.model", "collectors.sinks.sqlite", "console.config", "console.cli"):
        assert expected in names


def test_ui_free_modules_import_without_ui_libraries():
    """One fresh interpreter imports them in turn; the first that loads a UI library is named."""
    modules = ui_free_modules()
    result = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    errors = {m: r["error"] for m, r in report.items() if r["error"]}
    assert errors == {}, errors
    culprits = {m: r["ui"] for m, r in report.items() if r["ui"]}
    assert culprits == {}, f"UI libraries imported by {culprits}"
    assert list(report) == modules


def test_building_the_cli_parser_pulls_no_ui():
    """`roost collect` on a headless box registers every subcommand (demo too) without Textual."""
    code = ("import sys; from console.cli import build_parser; build_parser(); "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({UI!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
