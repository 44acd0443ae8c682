"""The node screen: graphs over the last minutes, facts, and the node's recent events.

The layout follows the terminal: facts and events in a panel (a three-line strip when the
terminal is short), then as many graphs as fit at GRAPH_MIN rows each, in two columns from
WIDE columns up; the rest are a `]`/`[` page away, and a tab line says which are shown. At
80x24 that is one graph at a time with readable axes (the old fixed 2x3 grid left every graph
zero rows high). Every graph reads its series through series(): the live history in FleetState,
or, after `g`, the last hour or day from the history database (`roost serve` keeps it), read by
a thread worker (NodeHistory message) and again every HISTORY_EVERY seconds while shown. With a [ray]
head a Ray section (the node's tasks and actors, read every few seconds) sits over the graphs,
and the graphs make room for it.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.message import Message
from textual.widgets import Static

from collectors.health import power_draw, wear_level
from console.messages import NodeHistory
from console.screens.base import View
from console.screens.host import HistorySource, NodeHost
from console.state import FleetState, NodeData, history_node
from console.text import safe_line
from console.widgets.cells import age, si
from console.widgets.graph import Graph, Line, line, rgb
from console.widgets.key_footer import KeyFooter
from console.widgets.ray_panel import RayPanel

if TYPE_CHECKING:
    from console.history.service import NodeSeries
    from console.ray.view import NodeRay, RayView

GRAPH_MIN = 10        # rows a plotext graph needs for a title, a plot and readable axes
WIDE = 120            # columns from which graphs sit two abreast
TALL = 40             # rows from which the facts panel is shown in full
FULL_HEAD, SHORT_HEAD = 8, 3
EVENTS_SHOWN = 7
Heat = list[tuple[int, int, int] | str]   # the five heat colours as plotext takes them
SPANS = {"live": 0.0, "1h": 3600.0, "24h": 86400.0}
X_AXIS = {"live": (1.0, "seconds"), "1h": (60.0, "minutes (last 1h)"),
          "24h": (3600.0, "hours (last 24h)")}
HISTORY_EVERY = 30.0     # seconds between re-reads of a shown 1h/24h span


@dataclass
class NodeRaySeen(Message):
    """The head's view of this node."""
    info: NodeRay


@dataclass
class SourceHistory(Message):
    """A node's history read from the fleet's source."""
    data: NodeData


class GraphData(Protocol):
    """What the graphs draw from: FleetState's NodeData (live, or from the source's range
    queries) or a stored span's console.history.service.NodeSeries."""
    @property
    def times(self) -> Sequence[float]: ...
    @property
    def series(self) -> Mapping[str, Sequence[float | None]]: ...
    @property
    def clusters(self) -> tuple[tuple[str, ...], ...]: ...
    def series_of(self, prefix: str) -> dict[str, list[float | None]]: ...


@dataclass(frozen=True, slots=True)
class GraphSpec:
    gid: str
    tab: str
    title: str
    unit: str
    ylim: tuple[float, float] | None
    lines: Callable[[NodeScreen, GraphData, list[float], Heat], list[Line]]
    series: tuple[str, ...]      # NodeData.series keys (prefixes) it draws from

    def has_data(self, d: GraphData) -> bool:
        return any(k.startswith(self.series) for k in d.series)


@dataclass(frozen=True, slots=True)
class Layout:
    """How the node screen is arranged at a terminal size."""
    short: bool           # the facts panel as a short strip
    columns: int
    per_page: int

    def pages(self, graphs: int) -> int:
        return math.ceil(graphs / self.per_page)


def layout_for(width: int, height: int, graphs: int, taken: int = 0) -> Layout:
    """taken: rows other sections use (the Ray panel)."""
    short = height < TALL
    columns = 2 if width >= WIDE else 1
    room = height - (SHORT_HEAD if short else FULL_HEAD) - 2 - taken   # footer and tab line
    rows = max(1, room // GRAPH_MIN)
    return Layout(short, columns, max(1, min(graphs, rows * columns)))


class NodeScreen(View):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("right_square_bracket,right", "graph_page(1)", "Graphs →", id="graph_next"),
        Binding("left_square_bracket,left", "graph_page(-1)", "Graphs ←", id="graph_prev",
                show=False),
        Binding("t", "shell", "Shell", id="shell"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("g", "history_span", "History", id="history_span"),
    ]

    HISTORY_SECONDS = 900.0   # the window graphs show when the fleet is read from Prometheus

    def __init__(self, state: FleetState, node: str, host: NodeHost) -> None:
        super().__init__()
        self.state, self.node, self.host = state, node, host
        self.span = "live"
        self.stored: NodeSeries | None = None    # the stored span while not live
        self.stored_read = 0.0           # when the shown span was last asked for
        self.source_history: NodeData | None = None   # range-query history (Prometheus source)
        self._source_busy = self._ray_busy = False
        self.page = 0
        self.arrangement = Layout(False, 2, len(GRAPHS))
        self.graphs = GRAPHS     # the graphs this node has data for (no Fan graph without fans)

    def compose(self) -> ComposeResult:
        with Horizontal(id="node-head"):
            yield Static(id="facts")
            yield Static(id="storage")
            yield Static(id="node-events")
        yield RayPanel(id="node-ray")
        yield Static(id="graph-tabs")
        with Grid(id="graphs"):
            for g in GRAPHS:
                yield Graph(g.title, g.unit, g.ylim, id=g.gid)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(RayPanel).display = False
        ray, source = self.host.ray, self.host.source
        if ray is not None:
            self.set_interval(ray.EVERY, lambda: self.poll_ray(ray))
            self.poll_ray(ray)
        if isinstance(source, HistorySource):      # the fleet read from Prometheus
            self.set_interval(self.host.refresh_interval, lambda: self.poll_source(source))
            self.poll_source(source)
        self.fit_layout()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def on_resize(self) -> None:
        self.fit_layout()

    # ---- layout -------------------------------------------------------------------------------
    def fit_layout(self) -> None:
        """Fit the layout to the screen: facts panel height, graph columns, the page shown."""
        panel = self.query_one(RayPanel)
        taken = panel.outer_size.height if panel.display else 0
        new = layout_for(self.size.width, self.size.height, len(self.graphs), taken)
        changed = new != self.arrangement
        self.arrangement = new
        self.page = min(self.page, new.pages(len(self.graphs)) - 1)
        self.set_class(new.short, "-short")
        grid = self.query_one("#graphs", Grid)
        grid.set_class(new.columns == 2, "-two")
        shown = self.shown()
        for g in GRAPHS:
            widget = self.query_one(f"#{g.gid}", Graph)
            widget.display = g in shown
            widget.set_class(g is shown[-1] and len(shown) % new.columns == 1, "-span")
        self.query_one("#graph-tabs", Static).display = new.pages(len(self.graphs)) > 1
        if changed:
            self.refresh_bindings()
        self.refresh_view()

    def shown(self) -> tuple[GraphSpec, ...]:
        n = self.arrangement.per_page
        return self.graphs[self.page * n:(self.page + 1) * n]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "graph_page":     # paging keys only where graphs are a page away
            return self.arrangement.pages(len(self.graphs)) > 1
        return True

    def action_graph_page(self, step: int) -> None:
        self.page = (self.page + step) % self.arrangement.pages(len(self.graphs))
        self.fit_layout()

    # ---- Ray: the node's tasks and actors, when the app watches a Ray head -----------------
    def poll_ray(self, ray: RayView) -> None:
        if not self._ray_busy:
            self._ray_busy = True
            self.read_ray(ray)

    @work(group="node-ray", exit_on_error=False)
    async def read_ray(self, ray: RayView) -> None:
        try:
            info = await ray.node(self.node)
        finally:
            self._ray_busy = False
        self.post_message(NodeRaySeen(info))

    def on_node_ray_seen(self, msg: NodeRaySeen) -> None:
        panel = self.query_one(RayPanel)
        first = not panel.display
        panel.display = True
        panel.show(msg.info, self.pal)
        if first:                       # the graphs give up the rows the panel takes
            self.call_after_refresh(self.fit_layout)

    # ---- history from the fleet's source (Prometheus range queries) --------------------------
    def poll_source(self, source: HistorySource) -> None:
        if not self._source_busy:         # one read at a time: a slow Prometheus never piles up
            self._source_busy = True
            self.read_source(source)

    @work(group="node-source", exit_on_error=False)
    async def read_source(self, source: HistorySource) -> None:
        try:
            times, series = await source.history(self.node, self.HISTORY_SECONDS)
        except Exception:   # noqa: BLE001 - Prometheus down: the live minutes stay on screen
            return
        finally:
            self._source_busy = False
        self.post_message(SourceHistory(history_node(self.node, times, series)))

    def on_source_history(self, msg: SourceHistory) -> None:
        self.source_history = msg.data
        self.refresh_view()

    # ---- drawing ------------------------------------------------------------------------------
    def series(self) -> GraphData | None:
        """The history every graph draws from: FleetState's live minutes (or, when the fleet is
        read from Prometheus, the source's range queries over HISTORY_SECONDS), or the stored span."""
        if self.span != "live":
            return self.stored
        return self.source_history or self.state.node(self.node)

    def refresh_view(self, now: float | None = None) -> None:
        now = self.host.clock() if now is None else now
        data = self.state.node(self.node)
        short = self.arrangement.short
        self.query_one("#facts", Static).update(self.facts(data, now, short))
        storage = self.query_one("#storage", Static)
        storage.display = not short           # below TALL rows the graphs need the room
        if not short:
            storage.update(self.storage(data))
        self.query_one("#node-events", Static).update(self.events(2 if short else EVENTS_SHOWN))
        self.query_one("#graph-tabs", Static).update(self.tabs())
        if self.span != "live" and now - self.stored_read >= HISTORY_EVERY:
            self.read_history(now)
        source = self.series()
        if source is None:
            return
        have = tuple(g for g in GRAPHS if g.has_data(source)) if source.times else GRAPHS
        if have and have != self.graphs:     # a node without fans gets no empty Fan graph
            self.graphs = have
            self.fit_layout()
            return
        self.draw(source)

    def tabs(self) -> Text:
        shown = self.shown()
        t = Text(" graphs: ")
        for g in self.graphs:
            t.append(f" {g.tab} ", style="reverse bold" if g in shown else "dim")
        pages = self.arrangement.pages(len(self.graphs))
        t.append(f"  page {self.page + 1}/{pages} · ] next · [ previous · g {self.span}", style="dim")
        return t

    def facts(self, data: NodeData | None, now: float, short: bool = False) -> Text:
        t = Text(safe_line(self.node), style="bold")
        if data is None:
            return t + Text("  (unknown node)")
        row = self.state.row(data, now)
        t.append(f"  {row.state} {age(row.age)}" + ("  " if short else "\n"))
        f, s = data.facts, data.last
        uptime = f"{age(s.uptime)}" if s and s.uptime is not None else "–"
        clusters = " + ".join(f"{len(c)}×" for c in data.clusters) if len(data.clusters) > 1 else ""
        cores = f"{f.get('cores') or row.cores or '–'} {clusters}".strip()
        pairs = (("board", f.get("model")), ("kernel", f.get("kernel")),
                 ("cpu", f.get("cpu_model")), ("cores", cores), ("uptime", uptime),
                 ("groups", ",".join(data.groups) or "–"), ("power", data.power))
        for i, (label, value) in enumerate(pairs):
            text = safe_line(str(value if value is not None else "–"))
            if short:
                t.append(f"{label} ", style="bold")
                t.append(text + ("\n" if i in (1, 4) else "  "))
            else:
                t.append(f"{label:>7} ", style="bold")
                t.append(text + "\n")
        return t

    def storage(self, data: NodeData | None) -> Text:
        """Filesystems (fill, read-only), disk I/O, eMMC wear, I/O errors and power draw."""
        t = Text("storage and power\n", style="bold")
        if data is None or data.last is None:
            return t
        s = data.last
        for f in s.filesystems[:4]:
            style = self.pal["roost-crit"] if f.readonly and f.mountpoint in data.rw_mounts else ""
            use = "error" if f.size is None else f"{f.used_pct or 0:3.0f}% of {si(f.size, 'B', 1024.0)}"
            t.append(f"{safe_line(f.mountpoint)[:12]:<12} {use} {f.fstype}"
                     f"{' ro' if f.readonly else ''}\n", style=style)
        for dev, (r, w) in sorted(data.disk_rates.items())[:2]:
            t.append(f"{safe_line(dev)[:12]:<12} ↓{si(r, 'B')}/s ↑{si(w, 'B')}/s\n")
        for card in s.mmc:
            level = wear_level(card)
            life = "/".join(f"{min(10, v) * 10}%" if v <= 10 else "over" for v in card.life_time or ())
            t.append(f"{'eMMC ' + (card.block or card.card):<12} life {life or '–'} pre-EOL "
                     f"{card.pre_eol or '–'}\n", style=self.pal.get(f"roost-{level}", "") if level != "ok" else "")
        for dev, count in sorted(s.io_errors.items()):
            if count:
                t.append(f"{safe_line(dev)[:12]:<12} {count} I/O errors\n", style=self.pal["roost-warn"])
        watts = power_draw(s)
        if watts is not None:
            t.append(f"{'power':<12} {watts:.2f} W\n")
        return t

    def events(self, limit: int = EVENTS_SHOWN) -> Text:
        t = Text("recent events\n", style="bold")
        for e in reversed(self.state.node_events(self.node, limit)):
            style = {"crit": self.pal["roost-crit"], "warn": self.pal["roost-warn"]}.get(
                e.severity, "")
            stamp = time.strftime("%H:%M:%S", time.gmtime(e.ts))
            t.append(f"{stamp} {e.severity:<4} {safe_line(e.message)}\n", style=style)
        return t

    def draw(self, d: GraphData) -> None:
        """Redraw the graphs on screen (the others wait until their page is shown)."""
        scale, xlabel = X_AXIS[self.span]
        times = [t / scale for t in d.times]
        heat = [rgb(self.pal[f"heat-{i}"]) for i in range(5)]
        for g in self.shown():
            self.query_one(f"#{g.gid}", Graph).plot(g.lines(self, d, times, heat), xlabel=xlabel)

    def core_lines(self, d: GraphData, times: list[float], heat: Heat) -> list[Line]:
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

    def temp_lines(self, d: GraphData, times: list[float], heat: Heat) -> list[Line]:
        temps = d.series_of("temp:")
        return [line(k, times, v, heat[(i + 2) % 5]) for i, (k, v) in enumerate(temps.items())]

    def fan_lines(self, d: GraphData, times: list[float], heat: Heat) -> list[Line]:
        fan = [line(f"rpm {k}", times, v, heat[1]) for k, v in d.series_of("fan:").items()]
        return fan + [line(f"pwm% {k}", times, v, heat[3], "dot")
                      for k, v in d.series_of("pwm:").items()]

    def freq_lines(self, d: GraphData, times: list[float], heat: Heat) -> list[Line]:
        freqs = d.series_of("freq:")
        firsts = [c[0] for c in d.clusters] or list(freqs)[:1]
        return [line(f"cpu{c}", times, freqs[c], heat[4 - 4 * (i > 0)])
                for i, c in enumerate(firsts) if c in freqs]

    def net_lines(self, d: GraphData, times: list[float], heat: Heat) -> list[Line]:
        rx, tx = d.series.get("rx", ()), d.series.get("tx", ())

        def kb(vs: Sequence[float | None]) -> list[float | None]:
            return [None if v is None else v / 1e3 for v in vs]
        return [line("rx", times, kb(rx), heat[1]), line("tx", times, kb(tx), heat[3], "dot")]

    # ---- history from the database ---------------------------------------------------------
    def action_history_span(self) -> None:
        names = list(SPANS)
        self.span = names[(names.index(self.span) + 1) % len(names)]
        self.stored, self.stored_read = None, 0.0
        self.refresh_view()             # live now, or ask the database (refresh_view reads)

    def read_history(self, now: float) -> None:
        from console import paths
        config = self.host.config
        self.stored_read = now
        if config is None:
            self.post_message(NodeHistory(self.node, self.span, problem="no config: no history"))
            return
        self._read(paths.default_db(config.state_dir), self.node, self.span, now)

    @work(thread=True, exclusive=True, group="node-history", exit_on_error=False)
    def _read(self, db: Path, node: str, span: str, now: float) -> None:
        """In a thread: read the span, post it (or the one-line reason) back."""
        from console.history.service import node_series
        from console.history.store import HistoryError
        try:
            msg = NodeHistory(node, span, node_series(db, node, SPANS[span], now))
        except HistoryError as exc:
            msg = NodeHistory(node, span, problem=str(exc))
        self.post_message(msg)

    def on_node_history(self, msg: NodeHistory) -> None:
        if msg.node != self.node or msg.span != self.span:
            return      # an answer for a span no longer shown
        if msg.problem:
            self.notify(safe_line(msg.problem), severity="warning", markup=False)
            self.span = "live"
        else:
            self.stored = msg.series
        self.refresh_view()

    # ---- actions ------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_shell(self) -> None:
        self.host.open_shell(self.node)

    def action_mark(self) -> None:
        self.state.toggle_mark(self.node)


GRAPHS: tuple[GraphSpec, ...] = (
    GraphSpec("g-cpu", "CPU", "CPU per core", "%", (0, 100), NodeScreen.core_lines,
              ("core:", "cpu")),
    GraphSpec("g-temp", "Temp", "Temperatures", "°C", None, NodeScreen.temp_lines, ("temp:",)),
    GraphSpec("g-fan", "Fan", "Fan", "rpm / pwm %", None, NodeScreen.fan_lines,
              ("fan:", "pwm:")),
    GraphSpec("g-freq", "Freq", "Frequency", "MHz", None, NodeScreen.freq_lines, ("freq:",)),
    GraphSpec("g-net", "Net", "Network", "kB/s", None, NodeScreen.net_lines, ("rx", "tx")),
)
