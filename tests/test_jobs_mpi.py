"""The Pi-cluster tutorial's last step: a real OpenMPI hello world across three lab sshd nodes
(reached by hostname), launched by `mpirun` from the batch script of a roost allocation
(`roost submit -N 3 --ntasks-per-node 2`), as the nodes' login user.

mpirun finds its hosts in $ROOST_HOSTFILE and reaches them with ssh (the allocation's
environment steers OpenMPI away from srun); its ssh uses a client config of the user's, as on a
real cluster (here: the lab's key, ports and known_hosts, in a file the node user owns)."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from console.jobs.model import State
from tests.conftest import need
from tests.helpers.batch import run_jobs, submit
from tests.lab.named import named
from tests.lab.sshd import USER

pytestmark = [pytest.mark.peers]

HELLO = r"""
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    int rank, size, one = 1, sum = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    const char *node = getenv("ROOST_LAB_NODE");   /* set by the sshd the rank came through */
    printf("rank %d of %d sum %d on %s\n", rank, size, sum, node ? node : "?");
    MPI_Finalize();
    return 0;
}
"""

BATCH = """#!/bin/sh
#SBATCH -J mpihello
#SBATCH -N 3
#SBATCH --ntasks-per-node=2
#SBATCH -t 2
cd {work}
mpirun --mca plm_rsh_agent "ssh -F {work}/ssh_config" --mca btl tcp,self \\
    --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo -np "$SLURM_NTASKS" ./hello
"""


@pytest.fixture(scope="module")
def mpi_lab(ssh_lab, etc_hosts_module):
    need(shutil.which("mpicc") and shutil.which("mpirun"),
         "OpenMPI missing (openmpi-bin libopenmpi-dev)")
    nodes = named(ssh_lab, etc_hosts_module, ssh_lab.start(3))
    work = Path(tempfile.mkdtemp(prefix="roost-mpi-"))
    work.chmod(0o755)
    subprocess.run(["mpicc", "-o", str(work / "hello"), "-x", "c", "-"], input=HELLO,
                   text=True, check=True, capture_output=True)
    user = pwd.getpwnam(USER)
    key = work / "id_ed25519"                     # the node user's own key, as on a cluster
    shutil.copy(ssh_lab.client_key, key)
    hosts = work / "known_hosts"
    shutil.copy(nodes[0].known_hosts, hosts)
    (work / "ssh_config").write_text("".join(
        f"Host {n.hostname}\n  Port {n.port}\n  User {USER}\n  IdentityFile {key}\n"
        f"  UserKnownHostsFile {hosts}\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
        for n in nodes))
    for path in (work, key, hosts, work / "ssh_config", work / "hello"):
        os.chown(path, user.pw_uid, user.pw_gid)
    key.chmod(0o600)
    yield nodes, work
    ssh_lab.stop(nodes)
    shutil.rmtree(work, ignore_errors=True)


async def test_openmpi_hello_world_across_three_nodes(tmp_path, mpi_lab):
    nodes, work = mpi_lab
    from console.jobs.store import Store
    store = Store(tmp_path / "q.db")
    out = work / "mpi.out"
    job = submit(store, "-o", str(out), script=BATCH.format(work=work), cwd=str(work))
    t0 = time.monotonic()
    await run_jobs(store, nodes, job, cores={n.name: 2 for n in nodes})
    wall = time.monotonic() - t0
    task, = store.tasks(job)
    text = out.read_text()
    assert task.state is State.COMPLETED, text
    ranks = sorted(line.split() for line in text.splitlines() if line.startswith("rank "))
    assert [r[1] for r in ranks] == [str(i) for i in range(6)]
    assert {(r[3], r[5]) for r in ranks} == {("6", "6")}       # 6 ranks, Allreduce saw all
    per_node: dict[str, int] = {}
    for r in ranks:
        per_node[r[7]] = per_node.get(r[7], 0) + 1
    assert per_node == {n.token: 2 for n in nodes}              # two ranks through each sshd
    print(f"\nMPI: 6 ranks on 3 nodes ({', '.join(n.hostname for n in nodes)}), "
          f"job {task.elapsed(time.time()):.1f} s, submit to end {wall:.1f} s")
