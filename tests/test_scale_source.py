"""The Prometheus source's parts: naming, assembling Samples from query results, [source] and
[serve] config, secrets, and the client against a real Prometheus behind basic auth, a dead
port, a server that never answers, and a token-checking front (as sites put before Mimir).
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, strategies as st

from collectors.promql import Credentials, PromClient, PromError, Series
from collectors.promsource import FAMILIES, NodeNames, PromSource, assemble, queries, strip_port
from console.config import ConfigError, load_config
from console.promfleet import credentials, open_prom_source, stale_after, target_of
from console.state import DOWN, UP, FleetState
from tests.conftest import need

PROMETHEUS = "/usr/bin/prometheus"


# ---------------------------------------------------------------- naming

@given(st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True), st.integers(1, 65535))
def test_strip_port_gives_the_host_back(host, port):
    assert strip_port(f"{host}:{port}") == host
    assert strip_port(host) == host


@given(st.from_regex(r"[0-9a-f]{1,4}(:[0-9a-f]{0,4}){2,7}", fullmatch=True), st.integers(1, 65535))
def test_strip_port_keeps_ipv6_whole(addr, port):
    assert strip_port(f"[{addr}]:{port}") == addr
    assert strip_port(addr) == addr          # a bare IPv6 address has no port to strip


def test_node_names_match_configured_names_then_hosts():
    names = NodeNames(hosts={"10.0.0.5": "pi5", "ctl.lan": "ctl"}, names={"pi5", "ctl", "n1"})
    assert names.of({"instance": "10.0.0.5:9100"}) == "pi5"
    assert names.of({"instance": "ctl.lan:9100"}) == "ctl"
    assert names.of({"instance": "n1"}) == "n1"
    assert names.of({"instance": "other:9100"}) == "other"
    assert names.of({"job": "x"}) is None
    keep = NodeNames(strip_port=False)
    assert keep.of({"instance": "a:9100"}) == "a:9100"
    by_label = NodeNames(label="nodename")
    assert by_label.of({"instance": "1.2.3.4:9100", "nodename": "rk1-3"}) == "rk1-3"


# ---------------------------------------------------------------- queries and assembly

def test_one_query_per_family_each_carrying_the_selector():
    qs = queries('job="node",rack=~"r[12]"', "instance", 60)
    assert list(qs) == list(FAMILIES) and len(qs) == 12
    for family, q in qs.items():
        assert q.count("{") >= 1 and 'job="node",rack=~"r[12]"' in q, family
        assert "{}" not in q and ",," not in q and "{," not in q, q
    assert "[60s]" in qs["cpu"] and "sum by (instance)" in qs["cpu"] and "count by" in qs["cores"]
    # a tick reads two of a core's eight modes, the fastest core's frequency, not its maximum
    assert 'mode=~"idle|iowait"' in qs["cpu"] and "max_hertz" not in qs["freq"]
    bare = queries("", "host", 4)
    assert bare["up"] == "max by (host, job, groups) (up{})"
    assert "by (host, dir)" in bare["net"] and "[4s]" in bare["net"]


def S(value, **labels) -> Series:
    return Series(labels, value)


def test_assemble_builds_a_sample_per_up_node_with_ready_made_rates():
    res = {
        "up": [S(1, instance="n1", job="roost", groups=",rack1,pis,"), S(0, instance="n2", job="roost"),
               S(1, instance="10.0.0.9:9100", job="node")],
        "cpu": [S(0.75, instance="n1"), S(float("nan"), instance="n2")],
        "cores": [S(2, instance="n1")],
        "load": [S(1.5, instance="n1", __name__="node_load1"), S(1.0, instance="n1", __name__="node_load5")],
        "memory": [S(4e9, instance="n1", __name__="node_memory_MemTotal_bytes"),
                   S(1e9, instance="n1", __name__="node_memory_MemAvailable_bytes")],
        "temps": [S(55.0, instance="n1", __name__="node_thermal_zone_temp", type="cpu-thermal", zone="0"),
                  S(48.0, instance="n1", __name__="node_hwmon_temp_celsius", chip="rk_tsadc", sensor="temp1")],
        "fans": [S(3000, instance="n1", __name__="node_hwmon_fan_rpm", chip="pwmfan", sensor="fan1"),
                 S(128, instance="n1", __name__="node_hwmon_pwm", chip="pwmfan", sensor="pwm1")],
        "freq": [S(1.5e9, instance="n1")],
        "maxfreq": [S(1.8e9, instance="n1")],
        "net": [S(100.0, instance="n1", dir="rx"), S(50.0, instance="n1", dir="tx")],
        "disk": [S(80 / 90, instance="n1", mountpoint="/", fstype="ext4", what="used"),
                 S(0.2, instance="n1", mountpoint="/boot", fstype="vfat", what="used"),
                 S(1, instance="n1", mountpoint="/boot", fstype="vfat", what="ro")],
        "uname": [S(1, instance="n1", nodename="pi-n1", release="6.6.31")],
    }
    snap = assemble(res, NodeNames(names={"n1", "n2"}), ts=100.0)
    assert snap.up == {"n1": True, "n2": False, "10.0.0.9": True}
    assert set(snap.samples) == {"n1", "10.0.0.9"}              # nothing for a node that is down
    assert snap.groups == {"n1": ("rack1", "pis")}
    s = snap.samples["n1"]
    assert s.rates.cpu == pytest.approx(62.5) and s.rates.cores == 2
    assert (s.rates.rx_bps, s.rates.tx_bps) == (100.0, 50.0)
    assert s.load.load1 == 1.5 and s.memory.total == 4e9 and s.memory.available == 1e9
    assert s.cpufreq[0].cur_hz == 1.5e9 and s.cpufreq[0].max_hz == 1.8e9
    assert s.filesystems[0].used_pct == pytest.approx(100 * 80 / 90)
    assert not s.filesystems[0].readonly and s.filesystems[1].readonly
    assert s.facts.hostname == "pi-n1"
    # the same through FleetState: the row a user sees, and the alerts
    state = FleetState(["n1"])
    state.apply(s)
    row = state.rows(now=100.5)[0]
    assert row.state == UP and row.cpu == pytest.approx(62.5) and row.cores == 2
    assert row.temp == 55.0 and row.fan_rpm == 3000 and row.mem_pct == pytest.approx(75.0)
    assert row.freq_hz == 1.5e9 and row.freq_max_hz == 1.8e9
    assert row.rx_bps == 100.0 and row.disk_pct == pytest.approx(88.9, abs=0.1)
    assert ("n1", "fs_full") not in state.alerts
    assert state.summary(now=100.5).cores == 2


def test_per_core_rows_give_per_core_shares():
    res = {"up": [S(1, instance="n1")],
           "cpu": [S(0.5, instance="n1", cpu="0"), S(0.25, instance="n1", cpu="1")]}
    s = assemble(res, NodeNames(), ts=1.0).samples["n1"]
    assert s.rates.per_core == {"0": 50.0, "1": 75.0} and s.rates.cpu == pytest.approx(62.5)
    assert s.rates.cores == 2


def test_assemble_is_linear_in_the_fleet():
    """10,000 nodes' results assemble in well under a second (the console does it per tick)."""
    res = {"up": [S(1, instance=f"n{i}") for i in range(10_000)],
           "cpu": [S(0.3, instance=f"n{i}", cpu=str(c)) for i in range(10_000) for c in range(4)],
           "load": [S(0.5, instance=f"n{i}", __name__="node_load1") for i in range(10_000)]}
    t0 = time.process_time()
    snap = assemble(res, NodeNames(), ts=1.0)
    assert len(snap.samples) == 10_000 and time.process_time() - t0 < 1.0


# ---------------------------------------------------------------- config and secrets

@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("ROOST_CONFIG", raising=False)

    def load(text: str):
        path = tmp_path / "roost.toml"
        path.write_text(text)
        return load_config(path, state_dir=tmp_path / "state")
    return load


@pytest.mark.parametrize("body, where, says", [
    ('[source]\nprometheus = "ftp://x"\n', "roost.toml:2: source.prometheus", "http:// or https://"),
    ('[source]\nprometheus = "http://p:9090"\nselector = "{job=\\"x\\"}"\n', "roost.toml:3: source.selector",
     "without braces"),
    ('[source]\nprometheus = "http://p:9090"\ninterval = 2\nbudget = 3\n', "roost.toml:4: source.budget",
     "at most the interval (2 s)"),
    ('[source]\nprometheus = "http://p:9090"\nuser = "u"\npassword_env = "P"\nbearer_token_env = "T"\n',
     "roost.toml:", "expected one secret"),
    ('[source]\nprometheus = "http://p:9090"\npassword_env = "P"\n', "roost.toml:3: source.password_env",
     "user"),
    ('[source]\nselector = "job=\\"x\\""\n', "roost.toml:1: source", "prometheus ="),
    ('[source]\nprometheus = "http://p:9090"\nnode_label = "in stance"\n', "roost.toml:3: source.node_label",
     "label name"),
    ('[source]\nprometheus = "http://p:9090"\nssh_cap = 0\n', "roost.toml:3: source.ssh_cap", "1-10000"),
    ('[[nodes]]\nnames = "n[1-2]"\n[serve]\nnodes = "n[3-4]"\n', "roost.toml:4: serve.nodes", "unknown node"),
    ('[serve]\nlisten = "9856"\n', "roost.toml:2: serve.listen", "HOST:PORT"),
    ('[source]\nprometheus = "http://p:9090"\nbearer_token_file = "/nonexistent/t"\n',
     "roost.toml:3: source.bearer_token_file", "No such file"),
    ('[source]\nprometheus = "http://p:9090"\ninterval = 5\nbudget = 4\ntimeout = 2\n',
     "roost.toml:5: source.timeout", "at least the budget (4 s)"),
    ('[source]\nprometheus = "http://p:9090"\nparallel = 0\n', "roost.toml:3: source.parallel", "1-64"),
    ('[source]\nprometheus = "http://p:9090"\n[source.queries]\ncpus = "x"\n',
     "roost.toml:4: source.queries.cpus", "unknown family (expected one of: up, cpu, cores"),
    ('[source]\nprometheus = "http://p:9090"\n[source.queries]\ncpu = "x{$selecter}"\n',
     "roost.toml:4: source.queries.cpu", "expected only $selector, $node_label, $window"),
    ('[source]\nprometheus = "http://p:9090"\n[source.queries]\nnet = "sum(rate(x[1m])"\n',
     "roost.toml:4: source.queries.net", "unbalanced brackets"),
    ('[source]\nprometheus = "http://p:9090"\n[source.queries]\ndisk = ""\n',
     "roost.toml:4: source.queries.disk", "expected a PromQL expression"),
])
def test_bad_source_and_serve_config_is_one_line_naming_file_line_key(cfg, body, where, says):
    with pytest.raises(ConfigError) as info:
        cfg(body)
    text = str(info.value)
    assert "\n" not in text and where in text and says in text, text


def test_a_group_readable_token_file_is_refused_and_the_secret_never_shown(cfg, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    token.chmod(0o640)
    with pytest.raises(ConfigError) as info:
        cfg(f'[source]\nprometheus = "http://p:9090"\nbearer_token_file = "{token}"\n')
    assert "readable by others (mode 0640); chmod 600" in str(info.value)
    assert "s3cret" not in str(info.value)
    token.chmod(0o600)
    config = cfg(f'[source]\nprometheus = "http://p:9090"\nbearer_token_file = "{token}"\n')
    creds = credentials(config.source)
    assert "s3cret" not in repr(creds) and "s3cret" not in repr(config)
    assert creds.apply({})["headers"]["Authorization"] == "Bearer s3cret-token"
    token.chmod(0o644)       # loosened after the config was read: refused when read
    with pytest.raises(ConfigError, match="readable by its owner only"):
        credentials(config.source)


def test_a_missing_env_secret_names_the_variable_not_a_value(cfg, monkeypatch):
    monkeypatch.delenv("ROOST_PROM_PW", raising=False)
    config = cfg('[source]\nprometheus = "http://p:9090"\nuser = "grafana"\n'
                 'password_env = "ROOST_PROM_PW"\n')
    with pytest.raises(ConfigError, match=r"roost.toml:1: source.password_env: environment "
                                          r"variable ROOST_PROM_PW is not set"):
        credentials(config.source)


def test_a_family_override_is_its_text_with_the_placeholders_filled(cfg):
    config = cfg('[source]\nprometheus = "http://p:9090"\nselector = \'job="node"\'\n'
                 '[source.queries]\ncpu = \'sum by ($node_label) (inst:idle:rate1m{$selector})\'\n'
                 'disk = \'{${selector}__name__=~"a|b"} * $$1 [$window]\'\n')
    source = open_prom_source(config)
    assert source.queries["cpu"] == 'sum by (instance) (inst:idle:rate1m{job="node",})'
    assert source.queries["disk"] == '{job="node",__name__=~"a|b"} * $1 [60s]'
    assert source.queries["up"] == queries('job="node"')["up"]      # the others as shipped
    bare = queries("", "host", 30, {"cpu": "x{$selector}"})
    assert bare["cpu"] == "x{}"
    asyncio.run(source.client.aclose())


def test_source_defaults_and_serve_shard_selection(cfg):
    config = cfg('[[nodes]]\nnames = "n[1-6]"\nhost = "10.9.0.{index}"\ngroups = ["r1"]\n'
                 '[groups]\nr2 = "n[4-6]"\n[serve]\nnodes = "@r2"\nlisten = "0.0.0.0:9900"\n'
                 '[source]\nprometheus = "https://prom.lan:9090/"\ninterval = 10\n')
    assert config.source.prometheus == "https://prom.lan:9090"
    assert config.source.query_budget == 8.0 and config.source.rate_window == 60.0
    assert stale_after(config) == 28.0
    assert [t.name for t in config.targets(config.serve.nodes)] == ["n4", "n5", "n6"]
    assert config.serve.listen == ("0.0.0.0", 9900)
    known = {s.name: s for s in config.nodes}
    assert target_of(config, known, "n2").host == "10.9.0.2"
    assert target_of(config, known, "found-by-prom").host == "found-by-prom"
    source = open_prom_source(config)
    assert source.names.of({"instance": "10.9.0.3:9100"}) == "n3"   # node_exporter by host
    asyncio.run(source.client.aclose())


# ---------------------------------------------------------------- the client against peers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def guarded_prometheus(tmp_path_factory):
    """A real Prometheus whose API needs basic auth (its own --web.config.file)."""
    need(os.path.exists(PROMETHEUS), "prometheus (Debian package prometheus) missing")
    import bcrypt
    d = tmp_path_factory.mktemp("prom-auth")
    hashed = bcrypt.hashpw(b"pw-for-roost", bcrypt.gensalt(rounds=4)).decode()
    (d / "web.yml").write_text(f"basic_auth_users:\n  roost: '{hashed}'\n")
    port = free_port()
    (d / "prom.yml").write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n"
        f"    basic_auth: {{username: roost, password: pw-for-roost}}\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    with open(d / "prom.log", "wb") as log:
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={d / 'prom.yml'}",
                                 f"--web.config.file={d / 'web.yml'}",
                                 f"--storage.tsdb.path={d / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        client = PromClient(url, credentials=Credentials(basic=("roost", "pw-for-roost")))
        try:
            return bool(await client.instant('up{job="self"} == 1', timeout=2))
        except PromError:
            return False
        finally:
            await client.aclose()
    deadline = time.monotonic() + 30
    while not asyncio.run(ready()):
        assert proc.poll() is None and time.monotonic() < deadline, (d / "prom.log").read_text()[-500:]
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.peers
async def test_basic_auth_reaches_a_guarded_prometheus_and_a_wrong_password_is_one_line(guarded_prometheus):
    good = PromClient(guarded_prometheus, credentials=Credentials(basic=("roost", "pw-for-roost")))
    bad = PromClient(guarded_prometheus, credentials=Credentials(basic=("roost", "nope-secret")))
    try:
        (row,) = await good.instant('up{job="self"}')
        assert row.value == 1.0 and row.labels["job"] == "self"
        matrix = await good.range('up{job="self"}', time.time() - 3, time.time(), 1)
        assert matrix and all(v == 1.0 for _, v in matrix[0].points)
        with pytest.raises(PromError) as info:
            await bad.instant("up")
        text = str(info.value)
        assert "HTTP 401" in text and "nope-secret" not in text and "\n" not in text
    finally:
        await good.aclose()
        await bad.aclose()


class _TokenFront(BaseHTTPRequestHandler):
    """An auth front: answers the API with an empty vector when the bearer token is right."""
    seen: list = []

    def do_POST(self):  # noqa: N802
        self.seen.append(self.headers.get("Authorization"))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ok = self.headers.get("Authorization") == "Bearer tok-123"
        body = (b'{"status":"success","data":{"resultType":"vector","result":[]}}' if ok else
                b'{"status":"error","errorType":"unauthorized","error":"bad token"}')
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


async def test_a_bearer_token_goes_in_the_authorization_header():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenFront)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    client = PromClient(url, credentials=Credentials(token="tok-123"))
    try:
        assert await client.instant("up") == []
        assert _TokenFront.seen[-1] == "Bearer tok-123"
    finally:
        await client.aclose()
        server.shutdown()


class _FleetFront(BaseHTTPRequestHandler):
    """Answers every instant query with one series per node of a 3,000-node fleet (what
    Prometheus sends a tick: megabytes of JSON), so the console side's threads can be watched."""
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"instance": f"n{i}:9100", "job": "node"}, "value": [0, "1"]}
        for i in range(1, 3001)]}}).encode()

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *a):
        pass


async def test_a_3000_node_tick_is_decoded_and_assembled_in_one_worker_thread(monkeypatch):
    """Off the event loop, and in one thread: each Python thread that computes takes turns with
    the loop for the GIL, and three decodes at once (asyncio.to_thread's pool) doubled what a
    key waited at 3,000 nodes."""
    import collectors.promql as promql
    import collectors.promsource as promsource
    ran: list[str] = []

    def watched(fn):
        def run(*a):
            ran.append(threading.current_thread().name)
            return fn(*a)
        return run
    monkeypatch.setattr(promql, "_vector", watched(promql._vector))
    monkeypatch.setattr(promsource, "assemble", watched(promsource.assemble))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FleetFront)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    source = PromSource(PromClient(f"http://127.0.0.1:{server.server_port}"), NodeNames(),
                        interval=5, budget=30)
    try:
        assert await source.tick()
    finally:
        await source.client.aclose()
        server.shutdown()
    assert len(source.up) == 3000 and len(ran) == len(FAMILIES) + 1    # each reply, then the fleet
    assert len(set(ran)) == 1 and ran[0] != threading.main_thread().name, ran


async def test_prometheus_unreachable_fails_the_tick_and_backs_off():
    port = free_port()          # nothing listens there
    source = PromSource(PromClient(f"http://127.0.0.1:{port}"), NodeNames(), interval=0.1)
    await source.start()
    try:
        deadline = time.monotonic() + 5
        while source.failures < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await source.stop()
    fails = list(source.ticks)
    assert source.failures >= 4 and all(t.error for t in fails)
    gaps = [b.at - a.at for a, b in zip(fails, fails[1:])]
    assert gaps[2] > 1.5 * gaps[0], gaps                 # 0.1, 0.2, 0.4 ... not every 0.1 s
    text, level = source.status()
    assert level == "crit" and "prometheus DOWN" in text and "no data yet" in text


async def test_a_silent_prometheus_is_cancelled_at_the_budget_and_ticks_never_overlap():
    """A server that accepts and never answers: each tick ends at its budget, and at most one
    tick's queries are open at a time (open connections never exceed one tick's families)."""
    open_now, most = 0, 0
    held = []

    async def silent(reader, writer):
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        held.append(writer)
        try:
            await reader.read()          # until the client gives up and closes
        finally:
            open_now -= 1
    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = PromSource(PromClient(f"http://127.0.0.1:{port}"), NodeNames(), interval=0.3, budget=0.2)
    t0 = time.monotonic()
    ok = await source.tick()
    took = time.monotonic() - t0
    # cut at the 0.2 s budget, not left waiting on a server that never answers (slack for load)
    assert not ok and took < 1.5 and "budget" in source.ticks[-1].error
    await source.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(source.ticks) < 4 and loop.time() < deadline:   # a few more budget-cut ticks
        await asyncio.sleep(0.05)
    await source.stop()
    assert len(source.ticks) >= 4
    server.close()
    for w in held:
        w.close()
    assert most <= len(FAMILIES), most


def test_down_and_up_events_follow_up_and_the_state_follows_them():
    source = PromSource(PromClient("http://127.0.0.1:1"), NodeNames(), interval=1)
    state = FleetState()
    for up in (1, 0, 0, 1):
        snap = assemble({"up": [S(up, instance="n1:9100", job="node")],
                         "load": [S(0.1, instance="n1:9100", __name__="node_load1")]},
                        source.names, ts=time.time())
        source._emit(snap, time.time())
        while not source._queue.empty():
            state.apply(source._queue.get_nowait())
        assert state.node("n1").state == (UP if up else DOWN)
    downs = [e for e in state.events if e.kind == "down" and not e.cleared]
    assert len(downs) == 1 and "up == 0 for node/n1:9100" in downs[0].message
    asyncio.run(source.client.aclose())
