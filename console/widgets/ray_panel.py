"""The node screen's Ray section: the Ray node this fleet node is, its tasks and live actors."""
from __future__ import annotations

from collections import Counter

from rich.text import Text
from textual.widgets import Static

from console.text import safe_line

SHOWN = 6           # task kinds and actors listed before "+N more"


class RayPanel(Static):
    DEFAULT_CSS = """
    RayPanel { height: auto; max-height: 8; padding: 0 1; background: $panel; }
    """

    def show(self, info, pal: dict[str, str]) -> None:
        """info: a console.ray.view.NodeRay."""
        self.update(ray_text(info, pal))


def ray_text(info, pal: dict[str, str]) -> Text:
    t = Text("ray ", style="bold")
    if info.error:
        return t.append(safe_line(info.error), style=pal.get("roost-warn", ""))
    node, cell = info.node, info.cell
    style = pal.get("roost-ok", "") if node.alive else pal.get("roost-crit", "")
    t.append(node.state, style=style)
    if cell is not None and node.alive:
        t.append(f"  {cell.text} CPUs in use")
    t.append(f"  {safe_line(node.ip)}  node {node.node_id[:12]}" + ("  head" if node.is_head else ""))
    t.append("\ntasks  ", style="bold")
    kinds = Counter((task.name, task.state) for task in info.tasks)
    t.append(_listed([f"{safe_line(n)} {s}" + (f" ×{c}" if c > 1 else "")
                      for (n, s), c in kinds.most_common()]) or "none")
    t.append("\nactors ", style="bold")
    t.append(_listed([f"{safe_line(a.class_name)}" + (f" pid {a.pid}" if a.pid else "")
                      + ("" if a.state == "ALIVE" else f" {a.state}") for a in info.actors])
             or "none")
    return t


def _listed(items: list[str]) -> str:
    more = f" · +{len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return " · ".join(items[:SHOWN]) + more
