"""Batch scripts as Slurm users write them, for the differential test against a real slurmctld
(tests/test_jobs_slurm_diff.py). Each case: a script (or None for --wrap), the command-line flags
and the script's arguments. "{prev}" in a flag or script is the id of a job submitted just
before (each system's own). The lab cluster has nodes n1..n3 of 2 CPUs and 100 MB each and a
partition "main"; "logs/" exists in the submit directory, "nologs/" does not.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    script: str | None
    flags: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


def script(*lines: str, shell: str = "/bin/bash") -> str:
    return "\n".join([f"#!{shell}", *lines]) + "\n"


BODY = ("module load gcc/12 2>/dev/null || true", "srun ./simulate --steps 1000")

CASES = [
    Case("hello", script("#SBATCH --job-name=hello", "#SBATCH --output=hello_%j.out",
                         "#SBATCH --time=00:05:00", "echo hello from $(hostname)")),
    Case("serial_mem", script("#SBATCH -J serial", "#SBATCH --mem=50", "#SBATCH -t 10",
                              "#SBATCH -c 1", *BODY)),
    Case("mem_units", script("#SBATCH --mem=64M", "#SBATCH --time=1:00:00", *BODY)),
    Case("mem_per_cpu", script("#SBATCH --mem-per-cpu=20", "#SBATCH -c 2", *BODY)),
    Case("mem_both", script("#SBATCH --mem=50", "#SBATCH --mem-per-cpu=20", *BODY)),
    Case("mem_too_big", script("#SBATCH --mem=4G", *BODY)),
    Case("mem_whole_node", script("#SBATCH --mem=0", *BODY)),
    Case("cpus_too_many", script("#SBATCH --cpus-per-task=8", *BODY)),
    Case("array_basic", script("#SBATCH --array=1-10", "#SBATCH -o array_%A_%a.out",
                               'echo "task $SLURM_ARRAY_TASK_ID"')),
    Case("array_throttle", script("#SBATCH --array=0-15:5%2", "#SBATCH -J sweep", *BODY)),
    Case("array_list", script("#SBATCH -a 1,3,7", "#SBATCH --output=logs/%x_%A_%a.log",
                              'python3 analyse.py "input_${SLURM_ARRAY_TASK_ID}.csv"')),
    Case("mpi_per_node", script("#SBATCH -J mpi", "#SBATCH -N 2", "#SBATCH --ntasks-per-node=2",
                                "#SBATCH -t 30", "mpirun ./hello")),
    Case("mpi_ntasks", script("#SBATCH -n 4", "#SBATCH --time=0-01:00", "mpirun ./hello")),
    Case("mpi_ntasks_cpus", script("#SBATCH -n 2", "#SBATCH -c 2", "mpirun ./hybrid")),
    Case("nodes_range", script("#SBATCH --nodes=2-3", "mpirun ./hello")),
    Case("nodes_only", script("#SBATCH --nodes=3", "srun hostname")),
    Case("ntasks_below_nodes", script("#SBATCH -N 3", "#SBATCH -n 2", "srun hostname")),
    Case("nodelist_two", script("#SBATCH -w n[1-2]", "srun hostname")),
    Case("nodelist_one", script("#SBATCH --nodelist=n2", *BODY)),
    Case("exclude", script("#SBATCH --exclude=n3", *BODY)),
    Case("exclusive", script("#SBATCH --exclusive", "#SBATCH -N 1", *BODY)),
    Case("time_seconds", script("#SBATCH --time=0:30", "sleep 20")),
    Case("time_min_sec", script("#SBATCH --time=1:30", *BODY)),
    Case("time_days", script("#SBATCH --time=2-00:00", *BODY)),
    Case("time_minutes", script("#SBATCH -t 90", *BODY)),
    Case("time_zero", script("#SBATCH --time=0", *BODY)),
    Case("begin_later", script("#SBATCH --begin=now+3600", *BODY)),
    Case("nice", script("#SBATCH --nice=10", *BODY)),
    Case("dep_afterok", script("#SBATCH -J post", *BODY), ("--dependency=afterok:{prev}",)),
    Case("dep_afterany", script(*BODY), ("-d", "afterany:{prev}")),
    Case("dep_singleton", script("#SBATCH --job-name=nightly", "#SBATCH -d singleton", *BODY)),
    Case("requeue_off", script("#SBATCH --no-requeue", *BODY)),
    Case("requeue_on", script("#SBATCH --requeue", *BODY)),
    Case("chdir_relative", script("#SBATCH -D logs", "#SBATCH -o run_%j.out", *BODY)),
    Case("out_err", script("#SBATCH -o out_%j.log", "#SBATCH -e err_%j.log", *BODY)),
    Case("out_name_user", script("#SBATCH -J named", "#SBATCH -o logs/%x-%u-%j.out", *BODY)),
    Case("out_missing_dir", script("#SBATCH -o nologs/%j.out", *BODY)),
    Case("out_pct_a_plain", script("#SBATCH -o plain_%a.out", *BODY)),
    Case("export_all", script("#SBATCH --export=ALL,FOO=bar", 'echo "$FOO"')),
    Case("export_none", script("#SBATCH --export=NONE", "/bin/env")),
    Case("open_mode", script("#SBATCH --open-mode=append", "#SBATCH -o append.log", *BODY)),
    Case("indented", script("#SBATCH -J outer", "  #SBATCH -J inner", "  #SBATCH --time=7",
                            *BODY)),
    Case("after_command", script("#SBATCH -J early", "echo start", "#SBATCH -J late", *BODY)),
    Case("comments_first", script("# my simulation", "", "## settings:", "#SBATCH -J commented",
                                  "#SBATCH -t 15", *BODY)),
    Case("no_space", script("#SBATCH--job-name=tight", *BODY)),
    Case("quoted_name", script('#SBATCH --job-name="my sim"', *BODY)),
    Case("multi_per_line", script("#SBATCH -N 1 -c 2 --mem=40   # one line", *BODY)),
    Case("cli_overrides", script("#SBATCH -c 1", "#SBATCH -J fromscript", *BODY),
         ("-c", "2", "-J", "fromcli")),
    Case("crlf", script("#SBATCH -J dos", "echo hi").replace("\n", "\r\n")),
    Case("no_shebang", "#SBATCH -J bare\necho hi\n"),
    Case("arguments", script("#SBATCH -J withargs", 'echo "$1" "$2"'), args=("in.dat", "42")),
    Case("sh_shell", script("#SBATCH -J posix", "set -eu", *BODY, shell="/bin/sh")),
    Case("wrap", None, ("--wrap", "hostname; sleep 1", "-J", "wrapped")),
    Case("partition_main", script("#SBATCH -p main", *BODY)),
    Case("mail", script("#SBATCH --mail-type=END,FAIL", "#SBATCH --mail-user=me@example.org",
                        *BODY)),
    Case("gres_gpu", script("#SBATCH --gres=gpu:1", *BODY)),
    Case("unknown_option", script("#SBATCH --frobnicate=3", *BODY)),
    Case("stray_word", script("#SBATCH foo", *BODY)),
    Case("lsf_array_name", script("#SBATCH -J primes[2-100]", 'echo "$SLURM_ARRAY_TASK_ID"')),
]
