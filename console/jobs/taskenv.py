"""What a task sees of its job: Slurm's and LSF's variables, an allocation's hostfile, and the
cores it is pinned to. Pure: values in, dicts and text out.

An allocation (several tasks or nodes) runs its batch script on its first node, as sbatch does,
with SLURM_JOB_NODELIST, SLURM_NNODES, SLURM_NTASKS, SLURM_TASKS_PER_NODE (Slurm's compressed
"2(x3),1"), LSB_HOSTS/LSB_MCPU_HOSTS, and $ROOST_HOSTFILE: one line per task slot naming the
node's address, which OpenMPI (`--hostfile`) and MPICH (`-f`) both read as slots.
"""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from ClusterShell.RangeSet import RangeSet

from console.jobs.model import JobSpec
from console.jobs.spec import format_hostlist


def compress_counts(counts: Sequence[int]) -> str:
    """Slurm's SLURM_TASKS_PER_NODE form: [2, 2, 2, 1] -> "2(x3),1"."""
    parts, i = [], 0
    while i < len(counts):
        j = i
        while j + 1 < len(counts) and counts[j + 1] == counts[i]:
            j += 1
        run = j - i + 1
        parts.append(str(counts[i]) if run == 1 else f"{counts[i]}(x{run})")
        i = j + 1
    return ",".join(parts)


def job_env(spec: JobSpec, job_id: int, node: str, host: str, array_count: int | None,
            lsf_name: str | None = None) -> dict[str, str]:
    """The variables every task of the job has on `node` (its wrapper's exports). Values the
    user passed (--export) come last and win, as under sbatch. lsf_name: LSB_JOBNAME, an
    array's "name[1-100]" (default: the name)."""
    env = {"SLURM_JOB_NAME": spec.name, "SLURM_CPUS_PER_TASK": str(spec.cpus),
           "SLURM_SUBMIT_DIR": spec.submit_dir, "SLURMD_NODENAME": node,
           "SLURM_JOB_NUM_NODES": "1", "SLURM_NNODES": "1", "SLURM_NTASKS": "1",
           "SLURM_NPROCS": "1", "SLURM_JOB_NODELIST": node, "SLURM_NODELIST": node,
           "SLURM_TASKS_PER_NODE": "1", "SLURM_CPUS_ON_NODE": str(spec.cpus),
           "SLURM_JOB_CPUS_PER_NODE": str(spec.cpus), "SLURM_NODEID": "0",
           "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_JOB_USER": spec.user,
           "ROOST_JOB_ID": str(job_id), "LSB_JOBID": str(job_id), "LSB_JOBNAME": lsf_name or spec.name,
           "LSB_HOSTS": host, "LSB_MCPU_HOSTS": f"{host} {spec.cpus}", "LSB_DJOB_NUMPROC": "1"}
    if spec.mem_mb:
        env["SLURM_MEM_PER_NODE"] = str(spec.mem_mb)
    if spec.mem_per_cpu:
        env["SLURM_MEM_PER_CPU"] = str(spec.mem_per_cpu)
    if array_count is not None:
        env.update(SLURM_ARRAY_JOB_ID=str(job_id), SLURM_ARRAY_TASK_COUNT=str(array_count))
    env.update(dict(spec.export.inherited))     # --export=ALL: the submitting environment,
    env.update(dict(spec.export.values))        # then what the user listed
    return env


def alloc_env(spec: JobSpec, alloc: Sequence[tuple[str, int]], hosts: Mapping[str, str],
              node_cores: Mapping[str, int], hostfile: str) -> tuple[dict[str, str], str]:
    """(variables, hostfile text) of one allocation; node_cores: the cores each node gives
    (an exclusive job's whole nodes)."""
    names = [n for n, _ in alloc]
    counts = [c for _, c in alloc]
    cpus = [node_cores.get(n, spec.cpus * c) for n, c in alloc]
    slots = [hosts.get(n, n) for n, c in alloc for _ in range(c)]
    env = {"SLURM_JOB_NODELIST": format_hostlist(names), "SLURM_NODELIST": format_hostlist(names),
           "SLURM_NNODES": str(len(names)), "SLURM_JOB_NUM_NODES": str(len(names)),
           "SLURM_NTASKS": str(sum(counts)), "SLURM_NPROCS": str(sum(counts)),
           "SLURM_TASKS_PER_NODE": compress_counts(counts),
           "SLURM_JOB_CPUS_PER_NODE": compress_counts(cpus), "SLURM_CPUS_ON_NODE": str(cpus[0]),
           "LSB_HOSTS": " ".join(slots), "LSB_DJOB_NUMPROC": str(sum(counts)),
           "LSB_MCPU_HOSTS": " ".join(f"{hosts.get(n, n)} {c}" for n, c in alloc),
           "ROOST_HOSTFILE": hostfile, "LSB_DJOB_HOSTFILE": hostfile}
    if spec.tasks_per_node:
        env["SLURM_NTASKS_PER_NODE"] = str(spec.tasks_per_node)
    mine = {k for k, _ in spec.export.values}
    env.update({k: v.format(hostfile=hostfile) for k, v in MPI_LAUNCH.items() if k not in mine})
    return env, "".join(f"{h}\n" for h in slots)


# OpenMPI and MPICH see SLURM_JOB_ID and would launch their daemons with srun: inside roost's
# allocation they launch over ssh, onto the allocation's hostfile, so a bare `mpirun ./app`
# runs where roost placed the job (a value the user passed with --export wins).
MPI_LAUNCH = {"OMPI_MCA_plm": "^slurm", "OMPI_MCA_ras": "^slurm",
              "OMPI_MCA_orte_default_hostfile": "{hostfile}", "HYDRA_LAUNCHER": "ssh",
              "HYDRA_HOST_FILE": "{hostfile}"}


def env_file(env: Mapping[str, str]) -> str:
    """KEY.env: sh lines exporting env (the wrapper sources it)."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def parse_cpuset(text: str | None) -> set[int]:
    return {int(i) for i in RangeSet(text)} if text else set()


def pick_cores(real_cores: int, busy: set[int], want: int) -> str | None:
    """The first `want` cores of 0..real_cores-1 not pinned to another task ("0-1,3"), None
    when there are not enough (a [jobs] cores override above the real count: not pinned)."""
    free = [i for i in range(real_cores) if i not in busy]
    if want < 1 or len(free) < want:
        return None
    return str(RangeSet.fromlist([str(i) for i in free[:want]]))
