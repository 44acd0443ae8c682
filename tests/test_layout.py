"""Layout rules of the tree, checked on the source (ast), so a new file is covered the day it lands:
test modules never import each other (shared fixtures live in tests/conftest.py and the
tests/lab/ plugins, helpers in tests/helpers/), and the product never imports tests/."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def offenders(files: list[Path], forbidden) -> dict[str, list[str]]:
    bad = {str(f.relative_to(ROOT)): sorted(m for m in imported_modules(f) if forbidden(m))
           for f in files}
    return {f: mods for f, mods in bad.items() if mods}


def is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "tests" and len(parts) > 1 and parts[1].startswith("test_")


def test_no_test_module_imports_another():
    files = sorted((ROOT / "tests").rglob("*.py"))
    assert any(f.name == "test_layout.py" for f in files)
    assert offenders(files, is_test_module) == {}


def test_the_product_never_imports_tests():
    files = sorted((ROOT / "console").rglob("*.py")) + sorted((ROOT / "collectors").rglob("*.py"))
    assert len(files) > 50
    assert offenders(files, lambda m: m == "tests" or m.startswith("tests.")) == {}


def test_the_check_sees_an_offender(tmp_path):
    bad = tmp_path / "test_x.py"
    bad.write_text("def f():\n    from tests.test_cli import roost\n")
    assert imported_modules(bad) >= {"tests.test_cli", "tests.test_cli.roost"}
