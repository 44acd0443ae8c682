"""The console on a Prometheus source: two `roost serve` shards and a node_exporter, one real
Prometheus scraping them all (tests/lab/prometheus.py, its config extended by a reload), and the
console (Pilot) reading the fleet from PromQL only.

Shard A collects `[serve] nodes` (n3, n4) on `[serve] listen`; shard B collects the NODESET
given on its command line (n5, n6); Prometheus finds both through their /sd. The node_exporter
target (instance 127.0.0.1:PORT) is matched to the configured node `ne` by its host. The done
test of issue 13: every node shows, a shard's node stopped turns down within two scrape
intervals (plus one console tick), and `run` (the on-demand SSH pool: one connection, to the
node asked) and `t` (the shell's ssh line) still reach the nodes.
"""
from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time

import pytest

from collectors.promsource import FAMILIES
from console.app import console_app
from console.config import load_config
from console.promfleet import open_prom_source, with_source_thresholds
from console.screens.run import RunScreen
from console.state import DOWN, STALE, UP
from tests.helpers.pilot import until
from tests.lab.prometheus import NE_JOB, free_port

pytestmark = pytest.mark.peers
SCRAPE = 1.0          # the lab's scrape interval
TICK = 1.0            # the console's [source] interval (and query budget)


def write_config(path, lab, nodes, listen: int, prom_url: str) -> None:
    ssh = lab.ssh
    body = [f'[defaults]\nuser = "roostlab"\nidentity = "{ssh.client_key}"\n'
            f'known_hosts = "{ssh.known_hosts}"\nconnect_timeout = 5\n\n'
            f'[serve]\nnodes = "@rackA"\nlisten = "127.0.0.1:{listen}"\n\n'
            f'[source]\nprometheus = "{prom_url}"\nselector = \'job=~"{NE_JOB}|shards"\'\n'
            f'interval = {TICK}\nscrape_interval = {SCRAPE}\nssh_idle = 30\n\n'
            '[[nodes]]\nnames = "ne"\nhost = "127.0.0.1"\n\n']
    for i, n in enumerate(nodes):
        rack = "rackA" if i < 2 else "rackB"
        body.append(f'[[nodes]]\nnames = "{n.name}"\nhost = "{n.host}"\nport = {n.port}\n'
                    f'groups = ["{rack}"]\n\n')
    path.write_text("".join(body))


@pytest.fixture(scope="module")
def shards(prom_lab, tmp_path_factory):
    """Two roost serve shards over four more lab nodes, scraped by the lab's Prometheus."""
    nodes = prom_lab.ssh.start(4)
    d = tmp_path_factory.mktemp("shards")
    port_a, port_b = free_port(), free_port()
    config = d / "roost.toml"
    write_config(config, prom_lab, nodes, port_a, prom_lab.url)
    procs = [prom_lab.spawn_roost("shard-a", ["--config", str(config), "serve", "--interval", "1"],
                                  d / "state-a"),
             prom_lab.spawn_roost("shard-b", ["--config", str(config), "serve", "n[5-6]",
                                              "--interval", "1", "--prometheus",
                                              f"127.0.0.1:{port_b}"], d / "state-b")]
    try:
        for port in (port_a, port_b):
            prom_lab.wait(lambda port=port: prom_lab._answers(f"http://127.0.0.1:{port}/sd"), 30, "shard /sd")
        block = ("  - job_name: shards\n    http_sd_configs:\n"
                 f"      - url: http://127.0.0.1:{port_a}/sd\n"
                 f"      - url: http://127.0.0.1:{port_b}/sd\n")
        prom_lab.add_jobs(block, {("shards", n.name) for n in nodes})
        yield config, nodes
    finally:
        for p in procs:
            prom_lab.stop_roost(p)
        for n in nodes:
            n.kill()


@pytest.fixture
def console(shards, tmp_path):
    path, nodes = shards
    config = with_source_thresholds(load_config(path, state_dir=tmp_path / "state"))
    source = open_prom_source(config)
    return console_app(config, source, refresh=TICK), source, nodes


def all_up(app, names) -> bool:
    rows = {r.name: r for r in app.state.rows()}
    return all(n in rows and rows[n].state == UP and rows[n].cpu is not None for n in names)


async def test_the_console_reads_two_shards_and_node_exporter_from_prometheus(console, prom_lab):
    app, source, nodes = console
    names = [n.name for n in nodes] + ["ne"]
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: all_up(app, names) and all(   # families land one by one
            r.mem_pct is not None and r.disk_pct is not None and r.load1 is not None
            for r in app.state.rows() if r.name in names), what="every node up with cpu %")
        app.refresh_screen()
        await pilot.pause()
        assert set(names) <= set(app.screen.table._order)
        rows = {r.name: r for r in app.state.rows()}
        assert rows["n3"].groups == ("rackA",) and rows["n5"].groups == ("rackB",)
        assert rows["ne"].mem_total and rows["ne"].load1 is not None   # node_exporter's
        assert all(rows[n].mem_pct is not None and rows[n].disk_pct is not None for n in names)
        assert not source.ticks[-1].error     # one query per family: every family was asked
        assert set().union(*(t.families for t in source.ticks)) == set(FAMILIES)
        await until(pilot, lambda: "prometheus 12 queries" in app.state.summary().source,
                    what="query time on the summary line")
        assert source.pool.held() == []           # nothing connected to watch the fleet


async def test_a_shard_node_stopped_turns_down_within_two_scrape_intervals(console):
    app, source, nodes = console
    names = [n.name for n in nodes]
    victim = nodes[2]                              # n5, on shard B
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: all_up(app, names), what="every node up")
        t0 = time.monotonic()
        victim.kill()
        await until(pilot, lambda: app.state.node(victim.name).state == DOWN, 15, "n5 down")
        took = time.monotonic() - t0
        print(f"\nn5 killed -> down in the console after {took:.2f} s "
              f"(scrape {SCRAPE:g} s, console tick {TICK:g} s)")
        assert took <= 2 * SCRAPE + TICK, took
        alert = app.state.alerts[(victim.name, "down")]
        assert "up == 0" in alert.message and "shards/n5" in alert.message
        assert all(app.state.node(n).state == UP for n in names if n != victim.name)
        victim.restart()
        await until(pilot, lambda: app.state.node(victim.name).state == UP, 20, "n5 up again")


async def test_run_and_shell_reach_nodes_on_demand_over_ssh(console):
    app, source, nodes = console
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: all_up(app, ["n3", "n4"]), what="nodes up")
        app.state.toggle_mark("n4")
        app.action_run("hostname")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
        scr = app.screen
        await until(pilot, lambda: "n4" in scr.results, what="run result")
        assert scr.results["n4"] == (0, "roost-lab-n4\n", "")
        assert source.pool.held() == ["n4"] and source.pool.opened == 1   # only the node asked
    argv = app.ssh_argv("n3")
    out = subprocess.run([*argv[:-1], "-o", "BatchMode=yes", argv[-1], "hostname"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and out.stdout == "roost-lab-n3\n", out.stderr


class Cut:
    """A TCP forwarder to Prometheus that the test can cut and mend (Prometheus down, as the
    console sees it: connection refused), then up again on the same port."""

    def __init__(self, upstream_port: int):
        self.upstream, self.port, self.server = upstream_port, free_port(), None
        self.writers: set = set()
        self.hold: bytes | None = None    # a request holding this is delayed (a slow query)

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def cut(self) -> None:
        self.server.close()
        for w in list(self.writers):      # kept-alive connections die too
            w.close()
        await self.server.wait_closed()

    async def _pipe(self, reader, writer) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        self.writers |= {writer, up_w}

        async def copy(src, dst):
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    if dst is up_w and self.hold and self.hold in data:
                        await asyncio.sleep(3 * TICK)     # past the console's budget
                    dst.write(data)
                    await dst.drain()
            dst.close()
        await asyncio.gather(copy(reader, up_w), copy(up_r, writer))


async def behind_a_proxy(shards, prom_lab, tmp_path, source_lines: str = ""):
    """The shards' console reading Prometheus through a Cut proxy the test controls."""
    path, _nodes = shards
    cut = Cut(prom_lab.prom_port)
    await cut.open()
    text = path.read_text().replace(prom_lab.url, f"http://127.0.0.1:{cut.port}")
    text = text.replace("ssh_idle = 30\n", "ssh_idle = 30\n" + source_lines)
    (tmp_path / "roost.toml").write_text(text)
    config = with_source_thresholds(load_config(tmp_path / "roost.toml", state_dir=tmp_path / "s"))
    source = open_prom_source(config)
    return cut, source, console_app(config, source, refresh=TICK)


async def test_prometheus_down_is_said_data_kept_stale_and_it_recovers(shards, prom_lab, tmp_path):
    cut, source, app = await behind_a_proxy(shards, prom_lab, tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: all_up(app, ["n3", "n4"]), what="nodes up")
        await cut.cut()
        await until(pilot, lambda: "DOWN" in app.state.summary().source, 10, "source down shown")
        before = app.state.node("n3").last     # (a tick in flight at the cut may still land)
        bar = str(app.screen.query_one("#summary").render())
        assert "prometheus DOWN" in bar
        await until(pilot, lambda: app.state.node("n3").state == STALE, 15, "n3 stale")
        assert app.state.node("n3").last is before          # the last data is kept
        assert source.failures >= 1
        fails = [t for t in source.ticks if t.error]
        gaps = [b.at - a.at for a, b in zip(fails, fails[1:])]
        assert all(g >= TICK * 0.9 for g in gaps) and (len(gaps) < 2 or gaps[-1] > gaps[0])
        await cut.open()
        await until(pilot, lambda: app.state.node("n3").state == UP, 70, "n3 up again")
        await until(pilot, lambda: "DOWN" not in app.state.summary().source, 5, "source ok")
        assert app.state.summary().source_level in ("ok", "warn")
    await cut.cut()


async def test_the_node_screen_graphs_read_prometheus_range_queries(console):
    app, source, nodes = console
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: all_up(app, ["n3"]), what="n3 up")
        app.open_node("n3")
        scr = app.screen
        await until(pilot, lambda: scr.source_history is not None and any(
            v is not None for v in scr.source_history.series.get("cpu", ())), what="range history")
        h = scr.series()
        assert h is scr.source_history                       # the graphs draw from Prometheus' window
        assert h.times[-1] - h.times[0] == pytest.approx(scr.HISTORY_SECONDS, abs=10)
        assert any(k.startswith("core:") for k in h.series) and {"rx", "tx"} <= set(h.series)
        assert all(len(v) == len(h.times) for v in h.series.values())   # aligned, gaps None
        before = len(source.ticks)
        await until(pilot, lambda: len(source.ticks) > before, what="ticks go on")


async def test_a_family_over_its_budget_keeps_its_last_values(shards, prom_lab, tmp_path):
    """One slow family (temperatures, held by the proxy past the budget) is cancelled, its
    last reply reused and named on the summary line; the others stay fresh, nodes stay up."""
    cut, source, app = await behind_a_proxy(shards, prom_lab, tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: all_up(app, ["n3", "n4"]), what="nodes up")
        cut.hold = b"topk"                                 # only the temps family uses topk
        await until(pilot, lambda: source.ticks[-1].late == ("temps",), 10, "temps late")
        tick = source.ticks[-1]
        assert not tick.error and tick.seconds < 2 * TICK  # cut at the budget, not waited for
        before = app.state.node("n3").last
        await until(pilot, lambda: app.state.node("n3").last is not before, 5, "fresh samples")
        await until(pilot, lambda: "temps late" in app.state.summary().source, 5, "said so")
        assert app.state.summary().source_level == "warn"
        assert all(app.state.node(n).state == UP for n in ("n3", "n4"))
        cut.hold = None
        await until(pilot, lambda: source.ticks[-1].late == (), 10, "temps fresh again")
    await cut.cut()



async def test_a_slow_prometheus_shows_what_came_and_says_slow_not_down(shards, prom_lab, tmp_path):
    """From the first tick, the cpu query held past the budget (as on a busy Prometheus at
    3,000 nodes): the nodes show as soon as `up` answers, their CPU as soon as its reply lands
    (never re-sent while it runs), and the summary says slow with the query times, never DOWN."""
    cut, source, app = await behind_a_proxy(shards, prom_lab, tmp_path, "timeout = 10\n")
    cut.hold = b"iowait"                               # only the cpu family reads iowait
    said: set[str] = set()

    def seen(cond):
        def check() -> bool:
            said.add(app.state.summary().source)
            return cond()
        return check
    async with app.run_test(size=(160, 40)) as pilot:
        n3 = lambda: app.state.node("n3")            # noqa: E731
        await until(pilot, seen(lambda: "n3" in app.state.nodes and n3().state == UP), 15, "n3 up")
        assert n3().cpu is None and "cpu" in source.ticks[-1].late   # up came, cpu is on its way
        t0 = time.monotonic()
        await until(pilot, seen(lambda: n3().cpu is not None), 15, "n3 cpu")
        assert time.monotonic() - t0 < 3 * TICK + 3       # the held reply, shown when it landed
        await until(pilot, seen(lambda: "slowest" in app.state.summary().source), 10, "times")
        text = app.state.summary().source
        assert text.startswith("prometheus slow:") and "late (last values kept)" in text, text
        ok = [t for t in source.ticks if not t.error]
        assert sum("cpu" in t.late for t in ok) >= len(ok) / 2     # held 3 ticks of every 3-4
        assert app.state.summary().source_level == "warn"
        assert not [t for t in source.ticks if t.error and not t.slow]
        sent = [t for t in source.ticks if "cpu" in t.families]
        assert len(sent) <= len(source.ticks) / 2 + 1     # a running query is not sent again
    assert not [s for s in said if "DOWN" in s], said
    await cut.cut()
