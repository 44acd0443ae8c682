"""A Ray lab: two real sshd lab nodes (127.0.0.x, user roostlab, /bin/sh) that `roost ray up`
turns into a real Ray 2.60 cluster (PyPI's ray[default], the `ray` extra of pyproject.toml).

    lab = RayLab.create(ssh_lab)      # nodes, a roostlab-runnable python, config files
    lab.roost("ray", "up")            # (exit status, stdout, stderr) of roost's CLI, in-process
    lab.ray_pids("ray-w1")            # processes of that node's sshd sessions (Ray's included)
    lab.close()                       # kill every process the nodes' sessions left, rm dirs

The python: Ray must run as roostlab, who cannot always read the project's venv base (here a
pyenv under /root, mode 700). When roostlab can import ray with the test's own interpreter,
that is used; otherwise the lab makes a venv from a system python of the same version
(`--without-pip`, a second) whose .pth points at the project venv's site-packages, so the
one PyPI install serves both. Both Ray nodes share one short --temp-dir (/tmp/rrXXXX). Ports
come from 26000-29999 (outside the ephemeral range), a block per lab checked free first.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import need
from tests.lab.sshd import USER, LabNode, SshLab

RAY_VERSION = "2.60.0"
NAMES = ("ray-head", "ray-w1")
PORT_BLOCKS = range(26000, 29900, 100)   # each lab takes one free block of 100


def ray_installed() -> str | None:
    """The installed ray version (without importing ray), None when absent."""
    try:
        from importlib.metadata import version
        return version("ray")
    except Exception:
        return None


FINDS_RAY = "import importlib.util, sys; sys.exit(importlib.util.find_spec('ray') is None)"


def runs_as_lab_user(python: str, code: str = FINDS_RAY) -> bool:
    try:
        done = subprocess.run([python, "-c", code], user=USER, capture_output=True,
                              timeout=60, cwd="/")
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def lab_python(root: Path) -> str | None:
    """A python that roostlab can run and that imports the project venv's ray."""
    if runs_as_lab_user(sys.executable):
        return sys.executable
    want = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for base in (f"/usr/bin/{want}", f"/usr/local/bin/{want}"):
        if os.path.exists(base) and runs_as_lab_user(base, "pass"):
            venv = root / "venv"
            subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True,
                           capture_output=True)
            site = next((venv / "lib").glob("python3*/site-packages"))
            (site / "roost-project.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
            python = str(venv / "bin" / "python")
            if runs_as_lab_user(python):
                return python
    return None


def fake_ray_python(root: Path, version: str) -> str:
    """A venv whose installed-ray metadata says `version` (a board with another Ray): the
    dashboard extras come from the project venv, so only the version differs."""
    venv = root / f"venv-ray-{version}"
    subprocess.run([_base_python(), "-m", "venv", "--without-pip",
                    str(venv)], check=True, capture_output=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    meta = site / f"ray-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ray\nVersion: {version}\n")
    (site / "roost-project.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return str(venv / "bin" / "python")


def _base_python() -> str:
    want = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    return want if os.path.exists(want) else sys.executable


def free_block() -> int:
    """The first block of 100 ports in 26000-29999 where every port binds (0.0.0.0)."""
    for base in PORT_BLOCKS:
        if all(_free(p) for p in range(base, base + 100, 1)):
            return base
    raise RuntimeError("no free block of 100 ports in 26000-29999")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


CONFIG = """\
[defaults]
user = "{user}"
identity = "{key}"
known_hosts = "{known_hosts}"
connect_timeout = 5

[[nodes]]
names = "ray-head"            # host and port from the ssh_config alias
groups = ["ray_a"]

[[nodes]]
names = "ray-w1"
host = "{w1_host}"
port = {w1_port}
groups = ["ray_b"]

[jobs]
backend = "ray"

[ray]
head = "ray-head"
python = "{python}"
temp_dir = "{temp_dir}"
port = {b}
dashboard_port = {b1}
client_port = {b2}
object_store_mb = 100
start_timeout = 45
worker_ports = "{wa}"
node_manager_port = {b10}
object_manager_port = {b11}
dashboard_agent_port = {b12}
dashboard_agent_grpc_port = {b13}
runtime_env_agent_port = {b14}
metrics_port = {b15}

[ray.groups.ray_b]            # a second Ray node on the same host needs its own ports
worker_ports = "{wb}"
node_manager_port = {b20}
object_manager_port = {b21}
dashboard_agent_port = {b22}
dashboard_agent_grpc_port = {b23}
runtime_env_agent_port = {b24}
metrics_port = {b25}
{extra}"""


@dataclass
class RayLab:
    ssh: SshLab
    nodes: dict[str, LabNode]
    python: str
    root: Path
    temp_dir: Path
    base: int
    config: Path = Path()
    ssh_config: Path = Path()
    state_dir: Path = Path()
    up_output: str = ""               # what the first `roost ray up` printed

    @classmethod
    def create(cls, ssh: SshLab) -> RayLab | None:
        """None when no python that roostlab can run imports the project's ray."""
        root = Path(tempfile.mkdtemp(prefix="roost-raylab-"))
        root.chmod(0o755)
        python = lab_python(root)
        if python is None:
            shutil.rmtree(root, ignore_errors=True)
            return None
        temp_dir = Path(tempfile.mkdtemp(prefix="rr", dir="/tmp"))
        shutil.chown(temp_dir, USER, USER)
        head, w1 = ssh.start(2)
        lab = cls(ssh, dict(zip(NAMES, (head, w1))), python, root, temp_dir, free_block())
        lab.config = lab.write_config()
        lab.ssh_config = root / "ssh_config"
        lab.ssh_config.write_text(f"Host ray-head\n    HostName {head.host}\n"
                                  f"    Port {head.port}\n")
        lab.state_dir = root / "state"
        return lab

    def write_config(self, name: str = "roost.toml", *, w1_python: str | None = None) -> Path:
        """The lab's roost.toml (w1_python: another python for ray-w1, e.g. without ray)."""
        b, w1 = self.base, self.nodes["ray-w1"]
        extra = f'python = "{w1_python}"\n' if w1_python else ""
        ports = {f"b{i}": b + i for i in range(1, 26)}
        text = CONFIG.format(user=USER, key=self.ssh.client_key, known_hosts=self.ssh.known_hosts,
                             w1_host=w1.host, w1_port=w1.port, python=self.python,
                             temp_dir=self.temp_dir, b=b, extra=extra,
                             wa=f"{b + 50}-{b + 69}", wb=f"{b + 70}-{b + 89}", **ports)
        path = self.root / name
        path.write_text(text)
        return path

    def argv(self, *words: str, config: Path | None = None, ssh_config: Path | None = None
             ) -> list[str]:
        return ["--config", str(config or self.config), "--ssh-config",
                str(ssh_config or self.ssh_config), "--state-dir", str(self.state_dir), *words]

    def roost(self, *words: str, **files: Path) -> tuple[int, str, str]:
        """roost's CLI in this process: (exit status, stdout, stderr)."""
        from console.cli import main
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(self.argv(*words, **files))
        return code, out.getvalue(), err.getvalue()

    def ray_pids(self, name: str) -> list[int]:
        """Every live process the node's sessions started (Ray's inherit the session's env)."""
        return [p for p in self.nodes[name].session_pids() if _alive(p)]

    def supervised_pid(self, name: str) -> int | None:
        home = Path(os.path.expanduser(f"~{USER}"))
        pid = home / ".roost" / "ray" / name / "pid"
        return int(pid.read_text()) if pid.exists() else None

    def close(self) -> None:
        for node in self.nodes.values():
            node.kill()                       # sshd and every process of its sessions (Ray's)
        home = Path(os.path.expanduser(f"~{USER}"))
        for name in NAMES:
            shutil.rmtree(home / ".roost" / "ray" / name, ignore_errors=True)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate, timeout: float, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@pytest.fixture(scope="session")
def ray_lab(ssh_lab):
    """Two sshd lab nodes and the files for a Ray cluster on them (not started)."""
    have = ray_installed()
    need(have == RAY_VERSION, f"ray[default]=={RAY_VERSION} is not installed (have {have}): "
         f"pip install -e '.[ray]' (./dev test does)")
    lab = RayLab.create(ssh_lab)
    need(lab is not None, "no python the lab user can run imports the project's ray")
    try:
        yield lab
    finally:
        lab.roost("ray", "down")
        lab.close()


@pytest.fixture
def ray_cluster(ray_lab):
    """The lab's Ray cluster, up: started with `roost ray up` when roost's Ray processes are
    not running (the first start's output is kept on the lab)."""
    if all(ray_lab.supervised_pid(n) and _alive(ray_lab.supervised_pid(n)) for n in NAMES):
        return ray_lab
    code, out, err = ray_lab.roost("ray", "up")
    assert code == 0, f"roost ray up failed: {out} {err}"
    ray_lab.up_output = ray_lab.up_output or out
    return ray_lab
