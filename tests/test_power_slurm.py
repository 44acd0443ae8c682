"""roost as Slurm's SuspendProgram/ResumeProgram: slurmctld powers a node down through
`roost power off` (OS shutdown over SSH, then the BMC cuts power) and back up through
`roost power on` when a job needs it; the node's slurmd starts with -b when it boots."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import need
from tests.lab.ipmi import IpmiBmc
from tests.lab.power_slurm import SlurmLab, available

pytestmark = [pytest.mark.peers, pytest.mark.slow]


@pytest.fixture
def cluster(ssh_lab, tmp_path):
    need(shutil.which("ipmi_sim") is not None, "ipmi_sim missing; install openipmi")
    need(available(), "Slurm or munge missing; install slurm-wlm munge")
    slurm = SlurmLab(None, node="s1")
    node, = ssh_lab.start(1)
    bmc = IpmiBmc.start(ssh_lab.dir, node, extra_boot=slurm.slurmd_boot_cmd,
                        extra_down=slurm.slurmd_stop_cmd)
    conf = tmp_path / "roost.toml"
    conf.write_text(f"""
[defaults]
user = "roostlab"
identity = ["{ssh_lab.client_key}"]
known_hosts = ["{ssh_lab.known_hosts}"]

[[nodes]]
names = "s1"
host = "{node.host}"
port = {node.port}
power = {{ driver = "ipmi", host = "127.0.0.1", port = {bmc.port}, user = "admin", password_file = "{bmc.password_file}", shutdown = "{bmc.os_halt_command}" }}
""")  # noqa: E501 - TOML inline tables are one line
    roost = str(Path(sys.executable).parent / "roost")
    slurm.write_conf(resume=slurm.wrapper("on", roost, conf), suspend=slurm.wrapper("off", roost, conf))
    slurm.start_ctld()
    bmc.chassis("set", "power", "1")           # boots slurmd -b beside the already running sshd
    try:
        yield slurm, bmc
    finally:
        slurm.stop()
        bmc.stop()
        shutil.rmtree(slurm.dir, ignore_errors=True)


def _logs(slurm) -> str:
    roost = slurm.dir / "log" / "roost-power.log"
    ctld = (slurm.dir / "log" / "slurmctld.log").read_text().splitlines()
    return (roost.read_text() if roost.exists() else "(roost never ran)") + "\n" + "\n".join(
        line for line in ctld if "power" in line.lower() or "suspend" in line.lower())[-2000:]


def test_slurm_suspends_and_resumes_a_node_through_roost(cluster):
    slurm, bmc = cluster
    assert slurm.wait_state(("idle",), 30) == "idle"
    slurm.run("scontrol", "update", "nodename=s1", "state=power_down")
    state = slurm.wait_state(("idle~",), 40)
    log = (slurm.dir / "log" / "roost-power.log")
    assert state == "idle~", (state, log.read_text() if log.exists() else "no roost log")
    assert not bmc.power(), _logs(slurm)
    steps = bmc.steps()
    assert steps[-2:] == ["halt", "set power 0"]            # OS first, then the cut

    out = slurm.dir / "out" / "job.out"
    slurm.run("sbatch", "-o", str(out), "--wrap", "echo ran on $SLURMD_NODENAME")
    assert slurm.wait_file(out, "ran on s1", 90), _logs(slurm)   # sbatch --wait polls slowly
    assert bmc.power()
    text = log.read_text()
    assert "s1: off: shut down, then power cut" in text and "s1: on: up, SSH answered after" in text
