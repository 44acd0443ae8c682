"""[ray] config, the checks before `roost ray up`, each node's `ray start` argv, and the node
scripts (run here by a real sh on stand-in commands: supervision, reaping, idempotence)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from console.config import ConfigError, RayConfig, RayNodeSettings, load_config
from console.ray import plan, remote
from console.ray.remote import Facts

NODES = """
[[nodes]]
names = "rk[1-3]"
host = "10.0.0.{index}"
groups = ["rk1s"]

[[nodes]]
names = "pi1"
host = "10.0.1.1"
groups = ["pis"]
"""


def load(tmp_path: Path, ray: str):
    path = tmp_path / "roost.toml"
    path.write_text(NODES + ray)
    (tmp_path / "ssh_config").write_text("")
    return load_config(path, ssh_config=tmp_path / "ssh_config", env={})


def error(tmp_path: Path, ray: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, ray)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_ray_table_with_board_class_overrides(tmp_path):
    config = load(tmp_path, """
[ray]
head = "rk1"
nodes = "rk[1-3],@pis"
python = "/opt/ray/bin/python"
object_store_mb = 2048

[ray.groups.pis]
python = "/home/pi/ray/bin/python"
object_store_mb = 256
num_cpus = 3
metrics_port = 26100
""")
    ray = config.ray
    assert ray.head == "rk1" and ray.port == 26379 and ray.temp_dir == "/tmp/ray"
    rk = ray.settings(config.node("rk2").groups)
    pi = ray.settings(config.node("pi1").groups)
    assert (rk.python, rk.object_store_mb, rk.num_cpus) == ("/opt/ray/bin/python", 2048, None)
    assert (pi.python, pi.object_store_mb, pi.num_cpus, pi.metrics_port) == \
        ("/home/pi/ray/bin/python", 256, 3, 26100)
    assert pi.node_manager_port == rk.node_manager_port      # not overridden: [ray]'s
    assert ray.where.endswith("roost.toml:12")


def test_jobs_on_ray_with_a_head(tmp_path):
    config = load(tmp_path, '[jobs]\nbackend = "ray"\n[ray]\nhead = "rk1"\n')
    assert config.jobs.uses_ray and not config.jobs.uses_slurm and config.ray.head == "rk1"


def test_no_ray_table_is_the_defaults(tmp_path):
    from dataclasses import replace
    assert replace(load(tmp_path, "").ray, where="") == RayConfig()


@pytest.mark.parametrize("ray,where,words", [
    ('[ray]\nhead = "nope"\n', ":12: ray.head:", "expected a configured node, got 'nope'"),
    ('[ray]\nheads = "rk1"\n', ":12: ray.heads:", "unknown key"),
    ('[ray]\nport = 40000\n', ":12: ray.port:", "ephemeral range 32768-60999"),
    ('[ray]\nmetrics_port = 26379\n', ":12: ray.metrics_port:", "(also port)"),
    ('[ray]\nworker_ports = "27000-26000"\n', ":12: ray.worker_ports:", "LOW <= HIGH"),
    ('[ray]\nworker_ports = 27000\n', ":12: ray.worker_ports:", "a port range"),
    ('[ray]\ndashboard_port = 27500\n', ":12: ray.dashboard_port:", "(also worker_ports)"),
    ('[ray]\ntemp_dir = "/tmp/a/very/long/ray/temporary/directory/path"\n', ":12: ray.temp_dir:",
     "at most 40 characters"),
    ('[ray]\npython = "python3; rm -rf ~"\n', ":12: ray.python:", "command name"),
    ('[ray]\nobject_store_mb = 10\n', ":12: ray.object_store_mb:", "at least 75"),
    ('[ray]\nnodes = "rk[1-9]"\n', ":12: ray.nodes:", "unknown node 'rk4'"),
    ('[ray]\n[ray.groups.gpus]\nnum_cpus = 2\n', ":12: ray.groups.gpus:", "got 'gpus'"),
    ('[ray.groups.pis]\nnode_manager_port = 26004\n', ":12: ray.groups.pis.node_manager_port:",
     "(also dashboard_agent_port)"),
    ('[ray.groups.pis]\nnum_cpus = -1\n', ":12: ray.groups.pis.num_cpus:", "at least 0"),
    ('[jobs]\nbackend = "ray"\n', ":12: jobs.backend:", "got no [ray] head"),
])
def test_bad_ray_tables_are_one_line_with_file_line_and_key(tmp_path, ray, where, words):
    text = error(tmp_path, ray)
    assert where in text and words in text, text


# ---- checks -----------------------------------------------------------------------------

GOOD = Facts(arch="aarch64", cores=4, mem_mb=3900, ip="10.0.0.1", python="3.11.2", bits=64,
             ray="2.60.0", dashboard=True)
PY = {n: RayNodeSettings(python="/opt/ray/bin/python") for n in ("rk1", "rk2", "pi1")}


def facts(**per_node: Facts) -> dict[str, Facts]:
    return {"rk1": GOOD, **per_node}


def test_matching_nodes_pass():
    assert plan.check(facts(rk2=GOOD), "rk1", PY) == plan.Checked()


@pytest.mark.parametrize("bad,words", [
    (Facts(arch="armv7l", bits=32), "armv7l with a 32-bit userland: Ray publishes no 32-bit ARM"),
    (Facts(arch="aarch64", bits=32, python="3.11.2", ray="2.60.0"), "32-bit userland"),
    (Facts(arch="x86_64", problem="missing"), "no python at '/opt/ray/bin/python'"),
    (Facts(arch="x86_64", python="3.11.2", bits=64), "(Python 3.11.2) has no ray"),
    (Facts(arch="x86_64", python="3.11.2", bits=64, ray="2.60.0"), "lacks the dashboard extras"),
    (Facts(arch="x86_64", python="3.11.2", bits=64, ray="2.59.0", dashboard=True),
     "pi1: Ray 2.59.0, Python 3.11.2 (/opt/ray/bin/python); the head rk1 has Ray 2.60.0"),
    (Facts(arch="x86_64", python="3.11.9", bits=64, ray="2.60.0", dashboard=True),
     "Python 3.11.9"),
])
def test_each_problem_is_one_line_naming_the_node(bad, words):
    found = plan.check(facts(rk2=GOOD, pi1=bad), "rk1", PY)
    assert len(found.errors) == 1 and found.errors[0].startswith("pi1: ")
    assert words in found.errors[0]


def test_a_small_head_is_a_warning_and_bad_label_names_are_mapped_by_address():
    small = Facts(**{**{f: getattr(GOOD, f) for f in GOOD.__slots__}, "mem_mb": 970})
    found = plan.check({"rk1": small, "n-": GOOD}, "rk1", {"rk1": PY["rk1"], "n-": PY["rk1"]})
    assert found.errors == []
    assert found.warnings[0].startswith("rk1: 970 MB RAM; a Ray head")
    assert found.warnings[1].startswith("n-: not a valid Ray label value")


def test_argv_of_head_and_worker():
    ray = RayConfig(head="rk1", temp_dir="/tmp/rr1")
    s = RayNodeSettings(python="/opt/ray/bin/python", object_store_mb=100)
    f = {"rk1": GOOD, "rk2": Facts(**{**{k: getattr(GOOD, k) for k in GOOD.__slots__},
                                      "ip": "10.0.0.2", "cores": 8})}
    head, worker = plan.plans(ray, "rk1", f, {"rk1": s, "rk2": RayNodeSettings(num_cpus=2)})
    assert head.argv[:5] == ("/opt/ray/bin/python", "-m", "ray.scripts.scripts", "start",
                             "--block")
    assert {"--head", "--port=26379", "--dashboard-host=127.0.0.1", "--num-cpus=4",
            "--node-name=rk1", "--labels=roost.node=rk1", "--disable-usage-stats",
            "--node-ip-address=10.0.0.1", f"--object-store-memory={100 << 20}",
            "--temp-dir=/tmp/rr1"} <= set(head.argv)
    assert "--address=10.0.0.1:26379" in worker.argv and "--num-cpus=2" in worker.argv
    assert not any(a.startswith(("--head", "--dashboard-host", "--dashboard-port",
                                 "--object-store")) for a in worker.argv)
    assert head.bin_dir == "/opt/ray/bin" and worker.bin_dir is None     # "python3": as found
    assert head.token != worker.token and head.env == {plan.DRAIN: "0"}


# ---- the node scripts ---------------------------------------------------------------------

def sh(script: str, home: Path, timeout: float = 30) -> str:
    done = subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True,
                          timeout=timeout, env={"HOME": str(home), "PATH": os.environ["PATH"]})
    return done.stdout


def token_pids(token: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                env = Path(entry.path, "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"ROOST_RAY={token}".encode() in env:
                stat = Path(entry.path, "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
    return found


def wait_gone(token: str, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while token_pids(token):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# a stand-in for `ray start --block`: says it runs, leaves a child in its own session (as a
# job driver does), and ignores nothing
STAND_IN = ["sh", "-c", f"echo '{remote.UP_MARK}'; setsid sleep 60 & exec sleep 60"]


def test_start_is_supervised_idempotent_and_stop_reaps_even_other_sessions(tmp_path):
    start = remote.start_script("n1", STAND_IN, "tokA1", {"X": "1"}, 10, "/opt/x y/bin")
    out = remote.parse_outcome(sh(start, tmp_path))
    assert out.word == "up" and out.pid
    assert os.getsid(out.pid) == out.pid                       # setsid: its own session
    assert Path(f"/proc/{out.pid}/status").read_text().count("Umask:\t0077") == 1
    env = Path(f"/proc/{out.pid}/environ").read_bytes().split(b"\0")
    assert b"X=1" in env and any(e.startswith(b"PATH=/opt/x y/bin:") for e in env)
    node_dir = tmp_path / remote.node_dir("n1")
    assert (node_dir.stat().st_mode & 0o777) == 0o700
    again = remote.parse_outcome(sh(remote.start_script("n1", STAND_IN, "tokB2", {}, 10), tmp_path))
    assert (again.word, again.pid) == ("running", out.pid)
    assert len(token_pids("tokA1")) == 2 and token_pids("tokB2") == []
    assert remote.parse_outcome(sh(remote.status_script("n1"), tmp_path)).pid == out.pid
    stopped = remote.parse_outcome(sh(remote.stop_script("n1", 5), tmp_path))
    assert (stopped.word, stopped.pid, stopped.leftovers) == ("stopped", out.pid, 1)
    assert wait_gone("tokA1")
    assert remote.parse_outcome(sh(remote.stop_script("n1", 5), tmp_path)).word == "none"
    assert remote.parse_outcome(sh(remote.status_script("n1"), tmp_path)).word == "stopped"
    assert remote.parse_outcome(sh(remote.status_script("n9"), tmp_path)).word == "none"


def test_a_start_that_never_comes_up_is_reaped_and_says_why(tmp_path):
    hang = ["sh", "-c", "echo 'Failed to connect to GCS at address 10.0.0.1:26379'; exec sleep 60"]
    out = remote.parse_outcome(sh(remote.start_script("n2", hang, "tokC3", {}, 0.5), tmp_path))
    assert out.word == "timeout" and "Failed to connect to GCS" in out.detail
    assert wait_gone("tokC3")


def test_a_start_that_dies_says_why_in_one_line(tmp_path):
    die = [sys.executable, "-c", "raise RuntimeError('Failed to start GCS. port 26379 in use')"]
    out = remote.parse_outcome(sh(remote.start_script("n3", die, "tokD4", {}, 10), tmp_path))
    assert out.word == "died"
    assert out.detail == "RuntimeError: Failed to start GCS. port 26379 in use"


def test_probe_on_this_host(tmp_path):
    found = remote.parse_facts(sh(remote.probe_script(sys.executable), tmp_path))
    assert found.arch == os.uname().machine and found.cores == os.cpu_count()
    assert found.python == "%d.%d.%d" % sys.version_info[:3] and found.bits == 64
    assert found.mem_mb and found.mem_mb > 100
    missing = remote.parse_facts(sh(remote.probe_script("/nonexistent/python"), tmp_path))
    assert missing.problem == "missing" and missing.python is None


# a real `ray start --head` whose GCS port was taken (the last lines roost shows)
GCS_TAKEN = """\
  File "/x/site-packages/ray/_private/node.py", line 1025, in _init_gcs_client
    raise RuntimeError(
RuntimeError: Failed to start GCS.  Last 1 lines of error files:
[2026-12-04 20:55:40,251 C 2069 2069] (gcs_server) grpc_server.cc:134:  An unexpected system \
state has occurred. Check failed: server_ Failed to start the grpc server. The specified port \
is 26379. This means that Ray's core components will not be able to function correctly.

.Please check /tmp/rzz/session_2026-12-04_20-55-40_152762_2057/logs/gcs_server.out for details. \
Last connection error: None"""
# a real worker pointed at a head that is not there (it retries forever)
NO_HEAD = """\
2026-12-04 20:56:29,116\tINFO scripts.py:1234 -- \x1b[37mLocal node IP\x1b[39m: \x1b[1m127.0.0.9\x1b[22m
[2026-12-04 20:56:34,124 W 5008 5008] rpc_client.h:153: Failed to connect to GCS at address \
127.0.0.2:26999 within 5 seconds.
[2026-12-04 20:57:09,137 W 5008 5008] gcs_client.cc:210: Failed to get cluster ID from GCS \
server: TimedOut: Timed out while waiting for GCS to become available."""


def test_telling_line_of_real_ray_start_failures():
    assert remote.telling_line(GCS_TAKEN.splitlines()).startswith(
        "RuntimeError: Failed to start GCS. Last 1 lines of error files: Check failed: server_ "
        "Failed to start the grpc server. The specified port is 26379.")
    assert remote.telling_line(NO_HEAD.splitlines()) == (
        "Failed to get cluster ID from GCS server: TimedOut: Timed out while waiting for GCS "
        "to become available.")


@given(st.text())
def test_facts_and_outcomes_parse_any_text(text):
    remote.parse_facts(text)
    out = remote.parse_outcome(text)
    assert "\n" not in out.detail
    assert "\n" not in remote.telling_line(text.splitlines())


@given(st.text(min_size=1, max_size=80))
def test_any_node_name_makes_one_safe_directory(name):
    d = remote.node_dir(name)
    assert d.startswith(".roost/ray/") and "/" not in d[len(".roost/ray/"):] and " " not in d


def test_roost_never_imports_ray():
    """roost drives Ray over SSH and REST only: the package works where ray is not installed."""
    code = ("import sys; import console.ray.cli, console.ray.cluster, console.ray.view, "
            "console.ray.jobs_cli, console.screens.ray; from console.cli import build_parser; "
            "build_parser(); print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
