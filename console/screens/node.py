"""The node screen: graphs over the last minutes, facts, the node's recent events, and with a
[ray] head its Ray section (the node's tasks and actors, read from the head every few seconds)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.message import Message
from textual.widgets import Footer, Static

from console.screens.base import View
from console.state import FleetState, NodeData
from console.text import safe_line
from console.widgets.cells import age
from console.widgets.graph import Graph, line, rgb
from console.widgets.ray_panel import RayPanel


@dataclass
class NodeRaySeen(Message):
    """The head's view of this node (a console.ray.view.NodeRay)."""
    info: Any


class NodeScreen(View):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("t", "shell", "Shell", id="shell"),
        Binding("space", "mark", "Mark", id="mark"),
    ]

    def __init__(self, state: FleetState, node: str) -> None:
        super().__init__()
        self.state, self.node = state, node

    def compose(self) -> ComposeResult:
        with Horizontal(id="node-head"):
            yield Static(id="facts")
            yield Static(id="node-events")
        yield RayPanel(id="node-ray")
        with Grid(id="graphs"):
            yield Graph("CPU per core", "%", (0, 100), id="g-cpu")
            yield Graph("Temperatures", "°C", id="g-temp")
            yield Graph("Fan", "rpm / pwm %", id="g-fan")
            yield Graph("Frequency", "MHz", id="g-freq")
            yield Graph("Network", "kB/s", id="g-net")
        yield Footer()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    # ---- Ray: the node's tasks and actors, when the app watches a Ray head -----------------
    def on_mount(self) -> None:
        panel = self.query_one(RayPanel)
        panel.display = False
        ray = getattr(self.app, "ray", None)
        if ray is not None:
            self._ray_busy = False
            self.set_interval(ray.EVERY, self.poll_ray)
            self.poll_ray()

    def poll_ray(self) -> None:
        if not self._ray_busy:
            self._ray_busy = True
            self.read_ray()

    @work(group="node-ray", exit_on_error=False)
    async def read_ray(self) -> None:
        try:
            info = await self.app.ray.node(self.node)
        finally:
            self._ray_busy = False
        self.post_message(NodeRaySeen(info))

    def on_node_ray_seen(self, msg: NodeRaySeen) -> None:
        panel = self.query_one(RayPanel)
        panel.display = True
        panel.show(msg.info, self.pal)

    def refresh_view(self, now: float | None = None) -> None:
        now = self.app.clock() if now is None else now
        data = self.state.node(self.node)
        self.query_one("#facts", Static).update(self.facts(data, now))
        self.query_one("#node-events", Static).update(self.events())
        if data is not None:
            self.draw(data)

    def facts(self, data: NodeData | None, now: float) -> Text:
        t = Text(safe_line(self.node), style="bold")
        if data is None:
            return t + Text("  (unknown node)")
        row = self.state.row(data, now)
        t.append(f"  {row.state} {age(row.age)}\n")
        f, s = data.facts, data.last
        uptime = f"{age(s.uptime)}" if s and s.uptime is not None else "–"
        clusters = " + ".join(f"{len(c)}×" for c in data.clusters) if len(data.clusters) > 1 else ""
        for label, value in (("board", f.get("model")), ("kernel", f.get("kernel")),
                             ("cpu", f.get("cpu_model")),
                             ("cores", f"{f.get('cores') or row.cores or '–'} {clusters}".strip()),
                             ("uptime", uptime), ("groups", ",".join(data.groups) or "–"),
                             ("power", data.power)):
            t.append(f"{label:>7} ", style="bold")
            t.append(safe_line(str(value if value is not None else "–")) + "\n")
        return t

    def events(self) -> Text:
        t = Text("recent events\n", style="bold")
        for e in reversed(self.state.node_events(self.node, 8)):
            style = {"crit": self.pal["roost-crit"], "warn": self.pal["roost-warn"]}.get(
                e.severity, "")
            stamp = time.strftime("%H:%M:%S", time.gmtime(e.ts))
            t.append(f"{stamp} {e.severity:<4} {safe_line(e.message)}\n", style=style)
        return t

    def draw(self, d: NodeData) -> None:
        times = list(d.times)
        heat = [rgb(self.pal[f"heat-{i}"]) for i in range(5)]
        self.query_one("#g-cpu", Graph).plot(self.core_lines(d, times, heat))
        temps = d.series_of("temp:")
        self.query_one("#g-temp", Graph).plot(
            [line(k, times, v, heat[(i + 2) % 5]) for i, (k, v) in enumerate(temps.items())])
        fan = [line(f"rpm {k}", times, v, heat[1]) for k, v in d.series_of("fan:").items()]
        fan += [line(f"pwm% {k}", times, v, heat[3], "dot") for k, v in d.series_of("pwm:").items()]
        self.query_one("#g-fan", Graph).plot(fan)
        self.query_one("#g-freq", Graph).plot(self.freq_lines(d, times, heat))
        rx, tx = d.series.get("rx", ()), d.series.get("tx", ())
        kb = lambda vs: [None if v is None else v / 1e3 for v in vs]  # noqa: E731
        self.query_one("#g-net", Graph).plot([line("rx", times, kb(rx), heat[1]),
                                              line("tx", times, kb(tx), heat[3], "dot")])

    def core_lines(self, d: NodeData, times, heat) -> list:
        # big cores in warm colours and solid braille, LITTLE cores in cool colours and dots.
        cores = d.series_of("core:")
        clusters = d.clusters or (tuple(cores),)
        out = []
        for ci, cluster in enumerate(clusters):
            kind = "big" if ci == 0 and len(clusters) > 1 else "LITTLE" if ci else "cpu"
            shades, marker = ((heat[4], heat[3], heat[2]), "braille") if ci == 0 else (
                (heat[0], heat[1]), "dot")
            for i, core in enumerate(c for c in cluster if c in cores):
                out.append(line(f"{kind} {core}", times, cores[core], shades[i % len(shades)],
                                marker))
        return out

    def freq_lines(self, d: NodeData, times, heat) -> list:
        freqs = d.series_of("freq:")
        firsts = [c[0] for c in d.clusters] or list(freqs)[:1]
        return [line(f"cpu{c}", times, freqs[c], heat[4 - 4 * (i > 0)])
                for i, c in enumerate(firsts) if c in freqs]

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_shell(self) -> None:
        self.app.open_shell(self.node)

    def action_mark(self) -> None:
        self.state.toggle_mark(self.node)
