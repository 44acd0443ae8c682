"""A real Slurm 22.05 cluster for the Slurm backend tests: munged, slurmctld and three slurmd
(-N n1..n3) on loopback, each daemon on its own free port, all state in one temp dir.

    cluster = SlurmCluster.start()     # ready (every node idle) when it returns, ~1-2 s
    cluster.conf                       # the slurm.conf path (SLURM_CONF for clients)
    cluster.run("squeue", "-h")        # a client command as root on this host
    cluster.stop()                     # SIGKILL every daemon it started, wait, remove the dir

As a pytest plugin (tests/conftest.py) it gives the fixtures `slurm` (the session's cluster) and
`controller` (a lab sshd node the backend drives Slurm through, and a dir jobs can write).

The dir is mode 755 under /tmp (not pytest's 0700 dirs): munged wants its socket's parents
world-searchable, and the lab sshd's login user must read slurm.conf and reach the socket.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from console.config import load_config
from tests.conftest import need
from tests.lab.peers import starting

NODES = ("n1", "n2", "n3")
PLUGIN_DIR = Path("/usr/lib/x86_64-linux-gnu/slurm-wlm")   # Debian's slurm-wlm
PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")

# What every lab cluster shares (the jobs lab here, the power-saving lab in power_slurm.py).
COMMON = """\
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge/sock
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool/%n
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd-%n.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/filetxt
JobCompLoc={dir}/log/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
"""

CONF = "ClusterName=roostjobs\n" + COMMON + """\
MaxArraySize=1001
MinJobAge=300
# without these a small array takes tens of seconds (LAB.md)
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0,default_queue_depth=1000
{nodes}
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=debug Nodes=n1 MaxTime=10:00 State=UP
"""
NODE_LINE = ("NodeName={name} NodeHostname=localhost NodeAddr=127.0.0.1 Port={port} CPUs=2 "
             "RealMemory=100 State=UNKNOWN")


def available() -> bool:
    return all(shutil.which(p) for p in PROGRAMS) and os.geteuid() == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="roost-slurmjobs-"))
        self.dir.chmod(0o755)
        for sub in ("munge", "state", "spool", "log"):
            (self.dir / sub).mkdir(mode=0o755)
        self.conf = self.dir / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    @classmethod
    def start(cls, timeout: float = 20.0) -> SlurmCluster:
        starting("slurmctld")
        cluster = cls()
        try:
            cluster.write_conf()
            cluster.start_munge()
            cluster.start_daemons()
            cluster.wait_idle(timeout)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def write_conf(self) -> None:
        nodes = "\n".join(NODE_LINE.format(name=n, port=free_port()) for n in NODES)
        self.conf.write_text(CONF.format(dir=self.dir, ctld_port=free_port(),
                                         slurmd_port=free_port(), nodes=nodes))
        self.conf.chmod(0o644)

    def start_munge(self) -> None:
        m = self.dir / "munge"
        key = m / "munge.key"
        self._check(["mungekey", "--create", "--keyfile", str(key), "--bits", "1024"])
        self._check(["munged", f"--socket={m}/sock", f"--key-file={key}",
                     f"--log-file={m}/log", f"--pid-file={m}/pid", f"--seed-file={m}/seed"])

    def start_daemons(self) -> None:
        # -c: no saved state (a fresh cluster); each daemon forks and writes its pid file
        self._check(["slurmctld", "-c"])
        for name in NODES:
            self._check(["slurmd", "-N", name])

    def conf_without_json(self) -> Path:
        """A client slurm.conf for this cluster whose PluginDir lacks serializer/json and the
        openapi plugins: its squeue has no --json, as on installs without them."""
        plugins = self.dir / "plugins-nojson"
        if not plugins.exists():
            plugins.mkdir(mode=0o755)
            for entry in PLUGIN_DIR.iterdir():
                if entry.suffix == ".so" and not entry.name.startswith(("serializer_json",
                                                                          "openapi")):
                    (plugins / entry.name).symlink_to(entry)
        conf = self.dir / "client-nojson.conf"
        conf.write_text(self.conf.read_text() + f"PluginDir={plugins}\n")
        conf.chmod(0o644)
        return conf

    def _check(self, argv: list[str]) -> None:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {(done.stderr or done.stdout).strip()} "
                               f"(logs in {self.dir / 'log'})")

    def run(self, *argv: str, check: bool = True) -> str:
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True,
                              check=check).stdout

    def node_states(self) -> dict[str, str]:
        out = self.run("sinfo", "-h", "-N", "-o", "%N %T", check=False)
        return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(self.node_states().values()) == {"idle"} and len(self.node_states()) == 3:
                return
            time.sleep(0.05)
        raise RuntimeError(f"Slurm nodes not idle after {timeout:g} s: {self.node_states()} "
                           f"(logs in {self.dir / 'log'})")

    def pids(self) -> list[int]:
        files = ["slurmctld.pid", "munge/pid"] + [f"slurmd-{n}.pid" for n in NODES]
        found = []
        for name in files:
            try:
                found.append(int((self.dir / name).read_text().strip()))
            except (OSError, ValueError):
                continue
        return found

    def stop(self) -> None:
        """SIGKILL the daemons and wait for them; job steps (slurmstepd) go with their node."""
        pids = self.pids() + self._stepds()
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _stepds(self) -> list[int]:
        """slurmstepd and job processes of this cluster: they inherit our SLURM_CONF."""
        marker = f"SLURM_CONF={self.conf}".encode()
        found = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    env = Path(entry.path, "environ").read_bytes()
                except OSError:
                    continue
                if marker in env.split(b"\0"):
                    found.append(int(entry.name))
        return [p for p in found if p != os.getpid()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="session")
def slurm():
    need(available(), "Slurm or munge missing (or not root); install slurm-wlm munge")
    cluster = SlurmCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def controller(ssh_lab, slurm):
    node, = ssh_lab.start(1)
    out = slurm.dir / "out"
    out.mkdir(mode=0o777, exist_ok=True)
    out.chmod(0o777)   # jobs run as the lab's login user
    yield node, out
    slurm.run("scancel", "--full", "-u", "roostlab", check=False)
    node.stop()


def write_config(tmp_path: Path, ssh_lab, node, jobs: str) -> object:
    """A loaded Config with one node "ctl" (the lab node) and the given [jobs] body."""
    toml = tmp_path / "roost.toml"
    toml.write_text(
        f'[defaults]\nuser = "roostlab"\nidentity = ["{ssh_lab.client_key}"]\n'
        f'known_hosts = ["{ssh_lab.known_hosts}"]\n\n[jobs]\n{jobs}\n\n'
        f'[[nodes]]\nnames = "ctl"\nhost = "{node.host}"\nport = {node.port}\n')
    (tmp_path / "ssh_config").write_text("")
    return load_config(toml, ssh_config=tmp_path / "ssh_config", state_dir=tmp_path / "st",
                       env={})
