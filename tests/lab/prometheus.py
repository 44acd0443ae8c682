"""A real Prometheus scraping roost's per-node targets and node_exporter on the same host.

    def test_x(prom_lab):                       # session-scoped PromLab, data flowing
        prom_lab.query("up")                    # Prometheus HTTP API
        prom_lab.roost_instances                # ["n1", "n2"]: one target per lab node

Started once per test session: two OpenSSH lab nodes on loopback, each in its own UTS namespace
with its own hostname (same kernel, /proc and /sys as this host, distinct nodenames, so mixing
two nodes in one instance would show); `roost collect --prometheus` on them; the real
prometheus-node-exporter (its defaults) on this host; and Prometheus (Debian's package) with
its own config and TSDB in a temp dir on 127.0.0.1, scraping every second. Prometheus finds
roost's targets through the scrape config the README documents (the yaml block holding
"http_sd_configs"), so the README is what is tested. The node-mixin's recording rules are loaded
once per job (their selector job="node-exporter" rewritten), as a user of the mixin configures
it. Missing binaries skip (fail under ROOST_REQUIRE_PEERS=1). Everything stops at session end.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, need
from tests.lab.peers import starting
from tests.lab.sshd import SSHD, LabError, LabNode, SshLab, ensure_user

PROMETHEUS = "/usr/bin/prometheus"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
ROOST = ROOT / ".venv" / "bin" / "roost"
FIXTURES = ROOT / "tests" / "fixtures"
README = ROOT / "README.md"
NE_JOB, ROOST_JOB = "node", "roost"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NamedNode(LabNode):
    """An sshd lab node in its own UTS namespace: its sessions see hostname `roost-lab-<name>`."""

    def sshd_argv(self) -> list[str]:
        script = f'hostname "$1" && exec {SSHD} -D -f "$2" -E "$3"'
        return ["unshare", "--uts", "sh", "-c", script, "sh", self.hostname, str(self.conf_path),
                str(self.log_path)]

    @property
    def hostname(self) -> str:
        return f"roost-lab-{self.name}"


class NamedLab(SshLab):
    def _start_one(self, *args, **kwargs) -> LabNode:
        node = super()._start_one(*args, **kwargs)
        node.kill()                                  # relaunch the same node in its namespace
        named = NamedNode(**{k: getattr(node, k) for k in
                             ("name", "host", "port", "lab", "host_key_path", "extra_env",
                              "extra_config", "listed")})
        named.launch()
        self.nodes[-1] = named
        return named


def documented_scrape_config(address: str) -> str:
    """The README's Prometheus scrape config for roost, pointed at address."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    block = next(b for b in blocks if "http_sd_configs" in b)
    block = block.replace("scrape_configs:\n", "", 1)  # appended to the lab's own list
    return re.sub(r"http://[^/\s]+/sd", f"http://{address}/sd", block)


def mixin_rules(job: str) -> dict:
    import yaml
    rules = yaml.safe_load((FIXTURES / "dashboards" / "node-mixin-rules.yaml").read_text())
    text = json.dumps(rules).replace('job=\\"node-exporter\\"', f'job=\\"{job}\\"')
    groups = json.loads(text)["groups"]
    for g in groups:
        g["name"] = f"{g['name']}-{job}"
    return {"groups": groups}


@dataclass
class PromLab:
    dir: Path
    ssh: NamedLab
    nodes: list[NamedNode] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    prom_port: int = 0
    ne_port: int = 0
    roost_port: int = 0
    started: float = 0.0
    extra_jobs: list[str] = field(default_factory=list)   # scrape configs added by tests
    extra_rules: list[Path] = field(default_factory=list)  # rule files added by tests

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    @property
    def ne_instance(self) -> str:
        return f"127.0.0.1:{self.ne_port}"

    @property
    def roost_instances(self) -> list[str]:
        return [n.name for n in self.nodes]

    def start(self) -> None:
        self.nodes = self.ssh.start(2)
        self.ne_port, self.roost_port, self.prom_port = free_port(), free_port(), free_port()
        self._spawn("node_exporter", [NODE_EXPORTER, f"--web.listen-address={self.ne_instance}"])
        self._spawn("roost", [str(ROOST), "--config", str(self._roost_config()), "collect",
                              "--interval", "1", "--prometheus", f"127.0.0.1:{self.roost_port}"],
                    env={**os.environ, "ROOST_STATE_DIR": str(self.dir / "state"),
                         "HOME": str(self.dir)})
        # Prometheus asks /sd at start, then every refresh_interval (60 s): roost listens first
        self.wait(lambda: self._answers(f"http://127.0.0.1:{self.roost_port}/sd"), 30, "roost /sd")
        self._spawn("prometheus", [PROMETHEUS, f"--config.file={self._prom_config()}",
                                   f"--storage.tsdb.path={self.dir / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{self.prom_port}"])
        self.started = time.time()
        self.wait(self._ready, 30, "Prometheus ready")
        self.wait(self._all_up, 60, "every target up")

    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        starting(name)
        with open(self.dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        return proc

    def spawn_roost(self, name: str, args: list[str], state: Path) -> subprocess.Popen:
        """Another roost process beside the lab's (a serve shard), stopped with the lab."""
        return self._spawn(name, [str(ROOST), *args],
                           env={**os.environ, "ROOST_STATE_DIR": str(state), "HOME": str(self.dir)})

    def stop_roost(self, proc: subprocess.Popen) -> None:
        """Stop a process spawn_roost started (TERM, then KILL after 10 s), before the lab."""
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self.procs.remove(proc)

    def _roost_config(self) -> Path:
        body = [f'[defaults]\nuser = "roostlab"\nidentity = "{self.ssh.client_key}"\n'
                f'known_hosts = "{self.ssh.known_hosts}"\nconnect_timeout = 5\n']
        body += [f'[[nodes]]\nnames = "{n.name}"\nhost = "{n.host}"\nport = {n.port}\n'
                 f'groups = ["shelf"]\n' for n in self.nodes]
        path = self.dir / "roost.toml"
        path.write_text("".join(body))
        return path

    def _prom_config(self) -> Path:
        import yaml
        for job in (NE_JOB, ROOST_JOB):
            (self.dir / f"rules-{job}.yaml").write_text(yaml.safe_dump(mixin_rules(job)))
        head = (f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                f"rule_files: [{self.dir}/rules-{NE_JOB}.yaml, {self.dir}/rules-{ROOST_JOB}.yaml"
                + "".join(f", {p}" for p in self.extra_rules) + "]\n"
                f"scrape_configs:\n  - job_name: {NE_JOB}\n    static_configs:\n"
                f"      - targets: ['{self.ne_instance}']\n")
        roost = documented_scrape_config(f"127.0.0.1:{self.roost_port}")
        path = self.dir / "prometheus.yml"
        path.write_text(head + roost + "".join(self.extra_jobs))
        return path

    def add_jobs(self, yaml_block: str, wanted: set[tuple[str, str]], timeout: float = 60) -> None:
        """Scrape more (yaml_block: list items under scrape_configs, indented two spaces),
        without restarting: the config is rewritten and Prometheus reloads it on SIGHUP. Returns
        once every (job, instance) in wanted is up."""
        self.extra_jobs.append(yaml_block)
        self.reload()
        self.wait(lambda: wanted <= self._up_targets(), timeout, f"targets {sorted(wanted)} up")

    def reload(self) -> None:
        """Rewrite the config (after extra_jobs or extra_rules changed) and have Prometheus
        reload it (SIGHUP), without a restart."""
        self._prom_config()
        prom = next(p for p in self.procs if p.args[0] == PROMETHEUS)
        prom.send_signal(signal.SIGHUP)

    def add_rules(self, path: Path, timeout: float = 60) -> None:
        """Load one more rule file (once), by a reload; returns when its groups have been
        evaluated once, healthy (raises LabError with the rule's error otherwise)."""
        if path not in self.extra_rules:
            self.extra_rules.append(path)
            self.reload()
        self.wait(lambda: self._evaluated(path), timeout, f"rules {path.name} evaluated")

    def _evaluated(self, path: Path) -> bool:
        groups = [g for g in self.api("/api/v1/rules")["groups"] if g["file"] == str(path)]
        bad = [r for g in groups for r in g["rules"] if r["health"] == "err"]
        if bad:
            raise LabError(f"rule {bad[0]['name']}: {bad[0].get('lastError')}")
        return bool(groups) and all(r["health"] == "ok" for g in groups for r in g["rules"])

    def up_targets(self) -> set[tuple[str, str]]:
        """(job, instance) of every target whose last scrape succeeded."""
        return self._up_targets()

    def _up_targets(self) -> set[tuple[str, str]]:
        active = self.api("/api/v1/targets")["activeTargets"]
        return {(t["labels"]["job"], t["labels"]["instance"]) for t in active if t["health"] == "up"}

    def wait(self, cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            for p in self.procs:
                if p.poll() is not None:
                    raise LabError(f"{p.args[0]} exited {p.returncode}: {self.logs()}")
            if time.monotonic() > deadline:
                raise LabError(f"timed out waiting for {what}: {self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        logs = [f"{f.name}: {f.read_text(errors='replace')[-400:]}" for f in sorted(self.dir.glob("*.log"))]
        if self.prom_port and self._ready():
            logs += [f"target {t['labels'].get('instance')}: {t['health']} {t['lastError']}"
                     for t in self.api("/api/v1/targets")["activeTargets"]]
        return " | ".join(logs)

    def _ready(self) -> bool:
        return self._answers(f"{self.url}/-/ready")

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def _all_up(self) -> bool:
        wanted = {(NE_JOB, self.ne_instance)} | {(ROOST_JOB, i) for i in self.roost_instances}
        return wanted <= self._up_targets()

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as r:
            return json.loads(r.read())["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("/api/v1/query", query=expr)["result"]

    def wait_for_data(self, seconds: float) -> None:
        """Until Prometheus holds `seconds` of scrapes (rate() windows need a few)."""
        self.wait(lambda: time.time() - self.started >= seconds, seconds + 5, "data")

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.ssh.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def prom_lab():
    for path, what in ((PROMETHEUS, "prometheus (Debian package prometheus)"),
                       (NODE_EXPORTER, "prometheus-node-exporter"), (SSHD, "openssh-server"),
                       (shutil.which("unshare") or "/nonexistent", "unshare (util-linux)")):
        need(os.path.exists(path), f"{what} missing")
    need(os.geteuid() == 0, "the lab needs root (sshd, UTS namespaces, a test user)")
    need(ROOST.exists(), f"{ROOST} missing: run ./dev setup")
    ensure_user()
    lab = PromLab(Path(tempfile.mkdtemp(prefix="roost-prom-")), NamedLab())
    try:
        lab.start()
        yield lab
    finally:
        lab.close()
