"""The recording rules roost ships (examples/prometheus/roost-rules.yml) and the [source.queries]
block its header tells a site to write (the rules test and bench/bench_scale.py read both)."""
from __future__ import annotations

from pathlib import Path

RULES = Path(__file__).resolve().parents[2] / "examples" / "prometheus" / "roost-rules.yml"


def documented_queries(rules: Path = RULES) -> str:
    """The [source.queries] block in the rules file's header, as a site copies it."""
    lines = rules.read_text().splitlines()
    start = next(i for i, text in enumerate(lines) if text.strip("# ") == "[source.queries]")
    block = []
    for text in lines[start:]:
        if not text.startswith("#    ") or not text.strip("# "):
            break
        block.append(text.lstrip("# "))
    return "\n".join(block) + "\n"
