"""A one-node Slurm 22.05 cluster for power tests: munged + slurmctld on free ports, the node's
slurmd started by whatever powers the node (an ipmi_sim chassis here), and roost as
ResumeProgram/SuspendProgram through two wrappers that redirect stdio (slurmctld closes fds 0-2).

    slurm = SlurmLab(dir, node="s1")
    slurm.write_conf(resume=..., suspend=...); slurm.start_ctld()
    slurm.slurmd_boot_cmd  # shell that starts `slurmd -b -N s1` (for the chassis)
    slurm.run("sinfo", "-h", "-o", "%T")
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab.peers import starting
from tests.lab.slurm import COMMON, free_port

CONF = "ClusterName=roostpower\n" + COMMON + """\
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
SuspendProgram={suspend}
ResumeProgram={resume}
SuspendTime=3600
SuspendTimeout=4
ResumeTimeout=60
SuspendRate=0
ResumeRate=0
NodeName={node} NodeHostname=localhost NodeAddr=127.0.0.1 Port={node_port} CPUs=1 RealMemory=100 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""

WRAPPER = """#!/bin/sh
# slurmctld runs this with fds 0-2 closed: give roost its own stdio.
exec {roost} --config {config} power {action} --yes --grace 0 --boot-timeout 30 --shutdown-timeout 10 "$1" \\
    </dev/null >>{log} 2>&1
"""


def available() -> bool:
    return all(shutil.which(p) for p in ("slurmctld", "slurmd", "munged", "mungekey", "sbatch"))


class SlurmLab:
    def __init__(self, base: Path, node: str = "s1"):
        # munged wants every directory above its socket world-executable: no 0700 pytest dirs
        self.dir, self.node = Path(tempfile.mkdtemp(prefix="roost-slurm-", dir=base)), node
        self.dir.chmod(0o755)
        for sub in ("munge", "state", "spool", "log", "out", "bin"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "munge").chmod(0o755)
        self.env = {**os.environ, "SLURM_CONF": str(self.dir / "slurm.conf")}
        self.ctld_port, self.slurmd_port, self.node_port = free_port(), free_port(), free_port()
        self.procs: list[subprocess.Popen] = []

    def wrapper(self, action: str, roost: str, config: Path) -> str:
        path = self.dir / "bin" / f"roost-{action}"
        path.write_text(WRAPPER.format(roost=roost, config=config, action=action,
                                       log=self.dir / "log" / "roost-power.log"))
        path.chmod(0o755)
        return str(path)

    def write_conf(self, resume: str, suspend: str) -> None:
        (self.dir / "slurm.conf").write_text(CONF.format(
            dir=self.dir, ctld_port=self.ctld_port, slurmd_port=self.slurmd_port,
            node_port=self.node_port, node=self.node, resume=resume, suspend=suspend))

    @property
    def slurmd_boot_cmd(self) -> str:
        """What the node runs when it boots: slurmd -b (registers as freshly booted)."""
        return (f"SLURM_CONF={self.dir}/slurm.conf /usr/sbin/slurmd -b -N {self.node} "
                f"</dev/null >/dev/null 2>&1")

    @property
    def slurmd_stop_cmd(self) -> str:
        pid = self.dir / f"slurmd-{self.node}.pid"
        return f"[ -f {pid} ] && kill -KILL \"$(cat {pid})\" 2>/dev/null; rm -f {pid}"

    def start_ctld(self) -> None:
        starting("slurmctld")
        key = self.dir / "munge" / "munge.key"
        subprocess.run(["mungekey", "--create", "--keyfile", str(key), "--bits", "1024"], check=True,
                       capture_output=True)
        m = self.dir / "munge"
        subprocess.run(["munged", f"--socket={m}/sock", f"--key-file={key}", f"--log-file={m}/log",
                        f"--pid-file={m}/pid", f"--seed-file={m}/seed"], check=True, capture_output=True)
        subprocess.run(["slurmctld", "-c"], env=self.env, check=True, capture_output=True)

    def run(self, *argv: str, check: bool = True) -> str:
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True, check=check).stdout

    def state(self) -> str:
        return self.run("sinfo", "-h", "-N", "-o", "%T", check=False).strip()

    def wait_state(self, wanted: tuple[str, ...], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state in wanted:
                return state
            time.sleep(0.2)
        return self.state()

    def wait_file(self, path: Path, text: str, timeout: float) -> bool:
        """Until path holds text (a job's output), polling every 0.2 s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip() == text:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        for pidfile in ("slurmctld.pid", f"slurmd-{self.node}.pid", "munge/pid"):
            path = self.dir / pidfile
            if path.exists():
                try:
                    os.kill(int(path.read_text().strip()), 9)
                except (ValueError, ProcessLookupError):
                    pass
