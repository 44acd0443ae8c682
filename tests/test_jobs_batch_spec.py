"""Issue 15's pure parts: --begin and -N parsers, LSF's options and #BSUB lines, script
directives as sbatch reads them, the environment --export=ALL passes, allocation placement,
task variables and hostfiles, squeue/sacct formats, the limits' shell lines. Property tests
where a model or a round trip exists."""
from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given, strategies as st

from console.jobs import directives as d, lsf
from console.jobs.limits import Limits, command_lines, parse_probe, watch_start
from console.jobs.model import JobSpec, State, Task
from console.jobs.placement import Demand, NodeRoom, allocate, place
from console.jobs.reports import acct_columns, acct_lines, exit_code, parse_when, squeue_format, state_names
from console.jobs.spec import (
    SpecError,
    parse_begin,
    parse_dependency,
    parse_nodes,
    parse_target,
    passed_env,
    signal_name,
)
from console.jobs.taskenv import alloc_env, compress_counts, job_env, pick_cores

NOW = datetime.datetime(2026, 3, 14, 15, 9, 26).timestamp()


# ---- --begin ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("now", NOW), ("now+60", NOW + 60), ("now+2hours", NOW + 7200), ("now+1weeks", NOW + 604800),
    ("16:00", datetime.datetime(2026, 3, 14, 16).timestamp()),
    ("15:00", datetime.datetime(2026, 3, 15, 15).timestamp()),          # passed: tomorrow
    ("4:30 PM", datetime.datetime(2026, 3, 14, 16, 30).timestamp()),
    ("teatime", datetime.datetime(2026, 3, 14, 16).timestamp()),
    ("midnight", datetime.datetime(2026, 3, 15).timestamp()),
    ("tomorrow", datetime.datetime(2026, 3, 15).timestamp()),
    ("2026-04-01", datetime.datetime(2026, 4, 1).timestamp()),
    ("2026-04-01T08:15:30", datetime.datetime(2026, 4, 1, 8, 15, 30).timestamp()),
    ("12/24", datetime.datetime(2026, 12, 24).timestamp()),
    ("12/24/27", datetime.datetime(2027, 12, 24).timestamp())])
def test_begin_forms(text, expected):
    assert parse_begin(text, NOW) == expected


@pytest.mark.parametrize("bad", ["", "later", "25:00", "13:00 PM", "2026-13-01", "now-5",
                                 "now+3fortnights"])
def test_begin_rejects(bad):
    with pytest.raises(SpecError, match="Invalid time specification"):
        parse_begin(bad, NOW)


@given(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_a_clock_time_is_the_next_one_within_a_day(h, m, s):
    when = parse_begin(f"{h}:{m:02d}:{s:02d}", NOW)
    assert NOW < when <= NOW + 86400
    assert datetime.datetime.fromtimestamp(when).time() == datetime.time(h, m, s)


@given(st.integers(0, 10 ** 6), st.sampled_from([("seconds", 1), ("minutes", 60),
                                                 ("hours", 3600), ("days", 86400)]))
def test_now_plus_counts_in_its_unit(n, unit):
    assert parse_begin(f"now+{n}{unit[0]}", NOW) == NOW + n * unit[1]


def test_nodes_and_targets_and_signals():
    assert parse_nodes("3") == (3, None) and parse_nodes("2-4") == (2, 4)
    for bad in ("0", "4-2", "x", "1-"):
        with pytest.raises(SpecError):
            parse_nodes(bad)
    assert parse_target("12_[1-3]") == (12, [1, 2, 3])
    assert signal_name("sigusr1") == signal_name("10") == "USR1"
    with pytest.raises(SpecError, match="Invalid signal"):
        signal_name("BOGUS")


# ---- directives as sbatch reads them ---------------------------------------------------------

def spec(script: str, *argv, args=(), where="job.sh", env=None) -> JobSpec:
    return d.build_spec(d.parse_submit_argv(list(argv)), script, where, submit_dir="/w",
                        args=args, env=env or {}, now=NOW)


def test_script_arguments_and_command():
    s = spec("#!/bin/sh\n", args=("in.dat", "a b"))
    assert s.args == ("in.dat", "a b") and s.script_path == "/w/job.sh"
    assert JobSpec.from_json(s.to_json()) == s


def test_dos_line_ends_are_refused(tmp_path):
    path = tmp_path / "dos.sh"
    path.write_bytes(b"#!/bin/sh\r\necho hi\r\n")
    with pytest.raises(SpecError, match=r"DOS line breaks"):
        d.read_script(str(path))


def test_sbatch_block_rules():
    text = ("#!/bin/sh\n# comment\n\n  #SBATCH -J indented\n#SBATCH-c 2\n#SBATCH --nodes 2 "
            "--ntasks-per-node=2 --exclusive\necho go\n#SBATCH -J late\n")
    s = spec(text)
    assert (s.name, s.cpus, s.nodes, s.tasks_per_node, s.exclusive) == ("job.sh", 2, 2, 2, True)
    assert s.total_tasks == 4 and s.allocation
    assert s.warnings == ("job.sh:4: ignoring the indented #SBATCH line (only lines starting "
                          "with it count, as in sbatch)",)


def test_nodelist_sets_the_node_count_and_mem_options():
    assert spec("#!/bin/sh\n", "-w", "n[1-3]").node_count == 3
    assert spec("#!/bin/sh\n", "--mem-per-cpu", "1G", "-c", "2").mem_per_cpu == 1024
    with pytest.raises(SpecError, match="mutually exclusive"):
        spec("#!/bin/sh\n", "--mem", "1G", "--mem-per-cpu", "1G")
    assert spec("#!/bin/sh\n", "-N", "3", "-n", "2").nodes == 2     # as sbatch: no idle node
    wide = spec("#!/bin/sh\n", "-N", "2-4")
    assert (wide.nodes, wide.nodes_max) == (2, 4) and "allocates the minimum" in wide.warnings[0]


def test_defaults_match_sbatch():
    s = spec("#!/bin/sh\n", env={"FOO": "1", "HOME": "/root", "SSH_TTY": "/dev/pts/1"})
    assert s.requeue is None and s.export.all and s.export.inherited == (("FOO", "1"),)
    assert s.export.values == ()          # nothing listed: only the inherited environment
    assert spec("#!/bin/sh\n", "--no-requeue").requeue is False


def test_lsf_name_array_from_the_sbatch_side_warns():
    s = spec("#!/bin/sh\n", "-J", "primes[1-10:3]%2")
    assert (s.name, s.array, s.array_limit) == ("primes", (1, 4, 7, 10), 2)
    assert "LSF array syntax" in s.warnings[0]
    assert spec("#!/bin/sh\n", "-J", "plain[x]").name == "plain[x]"      # not an index list


ENV_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


@given(st.dictionaries(ENV_NAMES | st.sampled_from(["HOME", "SSH_AUTH_SOCK", "SLURM_JOB_ID",
                                                     "BASH_FUNC_x%%", "PWD", "ROOST_X"]),
                       st.text(max_size=20)))
def test_passed_env_keeps_only_portable_names(env):
    passed = dict(passed_env(env))
    for name in passed:
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        assert name not in ("HOME", "PWD") and not name.startswith(("SSH_", "SLURM_", "ROOST_"))
        assert passed[name] == env[name]


# ---- LSF -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,deps", [
    ("done(12)", "afterok:12"), ("ended(12) && done(13)", "afterany:12,afterok:13"),
    ("exit(5)||started(6)", "afternotok:5?after:6"), ("done(12[3])", "afterok:12_3"),
    ("done(\"prep\")", "afterok:name=prep"), ("done(prep)", "afterok:name=prep")])
def test_lsf_dependencies(text, deps):
    assert lsf.dependency(text) == deps
    parse_dependency(deps)                       # and sbatch's parser takes the result


@pytest.mark.parametrize("bad", ["done(1) && ended(2) || exit(3)", "finished(3)", "done()"])
def test_lsf_dependency_rejects(bad):
    with pytest.raises(SpecError, match="-w"):
        lsf.dependency(bad)


def test_lsf_values():
    assert lsf.run_limit("90") == "90" and lsf.run_limit("1:30") == "90"
    assert lsf.memory("512") == "512M" and lsf.memory("2G") == "2G"
    assert lsf.lsf_pattern("out.%J.%I.log") == "out.%A.%a.log"
    assert lsf.lsf_pattern("100%%") == "100%%"
    assert lsf.env("all, A=1") == "ALL,A=1" and lsf.priority("50") == "-50"
    assert lsf.begin("2099:01:02:03:04") == "2099-01-02T03:04" and lsf.begin("7:05") == "07:05"


BSUB_SCRIPT = """#!/bin/sh
#BSUB -J "sweep[1-8]%2"
#BSUB -n 4 -R "span[ptile=2] rusage[mem=40]"
#BSUB -W 1:30
#BSUB -o logs/out.%J.%I
#BSUB -w "done(41)"
#BSUB -q normal
#SBATCH --time=10
./run.sh $LSB_JOBINDEX
"""


def test_bsub_directives_under_sbatch_ones():
    s = spec(BSUB_SCRIPT)
    assert (s.name, s.array, s.array_limit) == ("sweep", tuple(range(1, 9)), 2)
    assert (s.num_tasks, s.tasks_per_node, s.mem_mb) == (4, 2, 40)
    assert s.time_limit == 600                      # #SBATCH --time wins over #BSUB -W
    assert s.output == "logs/out.%A.%a" and s.open_mode == "append"
    assert [(x.kind, x.job) for x in s.dependencies.items] == [("afterok", 41)]
    assert not any("LSF array syntax" in w for w in s.warnings)   # LSF's own syntax here


@pytest.mark.parametrize("name", ["x[1-99999999999]", "x[5-1]", "x[1-2000000]"])
def test_a_bad_lsf_array_name_is_refused_not_taken_as_a_name(name):
    with pytest.raises(SpecError, match=r"^job.sh:2: -J 'x\["):
        spec(f'#!/bin/sh\n#BSUB -J "{name}"\n')


def test_bad_bsub_line_names_file_and_line():
    with pytest.raises(SpecError, match=r"^job.sh:2: -W soon"):
        spec("#!/bin/sh\n#BSUB -W soon\n")
    with pytest.raises(SpecError, match=r"^job.sh:2: unknown #BSUB option -Z"):
        spec("#!/bin/sh\n#BSUB -Z 1\n")


# ---- placement of allocations ----------------------------------------------------------------

def rooms(n=3, cores=2, mem=None):
    return [NodeRoom(f"n{i}", cores, mem) for i in range(1, n + 1)]


def test_allocation_shapes():
    assert allocate(Demand(1, 1, nodes=3, tasks=6, per_node=2), rooms()) == \
        (("n1", 2), ("n2", 2), ("n3", 2))
    assert allocate(Demand(1, 1, tasks=3), rooms()) == (("n1", 2), ("n2", 1))   # packed
    assert allocate(Demand(1, 1, tasks=2), rooms()) == (("n1", 2),)
    assert allocate(Demand(1, 1, nodes=2, tasks=3), rooms()) == (("n1", 2), ("n2", 1))
    assert allocate(Demand(1, 1, nodelist=("n2", "n3"), nodes=2, tasks=2), rooms()) == \
        (("n2", 1), ("n3", 1))
    busy = rooms()
    busy[0].used_cores = 1
    assert allocate(Demand(1, 1, exclusive=True), busy) == (("n2", 1),)
    assert allocate(Demand(1, 1, nodes=4, tasks=4), rooms()) is None


def test_allocations_take_whole_reservations_and_wait_with_reasons():
    fleet = rooms()
    plan = place([Demand(1, 2, nodes=2, tasks=4, per_node=2), Demand(2, 1, cpus=1)], fleet, 0)
    assert plan.allocs == [(1, (("n1", 2), ("n2", 2)))]       # one allocation fits, not two
    assert plan.reasons[1] == "Resources" and plan.starts == [(2, "n3")]
    assert place([Demand(3, 1, nodes=4, tasks=4)], rooms(), 0).reasons == {3: "BadConstraints"}
    assert place([Demand(4, 1, nodelist=("n1", "zz"))], rooms(), 0).reasons == \
        {4: "ReqNodeNotAvail"}


alloc_demand = st.builds(Demand, st.integers(1, 20), st.integers(1, 3), st.integers(1, 2),
                         nodes=st.integers(1, 3), tasks=st.integers(1, 6),
                         per_node=st.none() | st.integers(1, 2), exclusive=st.booleans())


@given(st.lists(alloc_demand, max_size=5, unique_by=lambda x: x.job_id),
       st.lists(st.integers(0, 2), min_size=3, max_size=3))
def test_allocations_never_oversubscribe(demands, used):
    fleet = rooms(3, 4)
    for room, u in zip(fleet, used):
        room.used_cores = u
    free = {n.name: n.free_cores() for n in fleet}
    whole = {n.name for n in fleet if n.used_cores == 0}
    plan = place([x for x in demands if x.allocation] or [Demand(99, 1)], fleet, 0)
    taken: dict[str, int] = {}
    by_job = {x.job_id: x for x in demands}
    for job, alloc in plan.allocs:
        x = by_job[job]
        assert len({n for n, _ in alloc}) == len(alloc)            # no node twice
        assert sum(c for _, c in alloc) == x.tasks or x.per_node
        for node, count in alloc:
            if x.exclusive:
                assert node in whole
                taken[node] = taken.get(node, 0) + 4
                whole.discard(node)
            else:
                taken[node] = taken.get(node, 0) + x.cpus * count
    for node, cores in taken.items():
        assert cores <= max(free[node], 4 if node in taken else 0)


# ---- what a task sees --------------------------------------------------------------------------

@given(st.lists(st.integers(1, 9), min_size=1, max_size=30))
def test_tasks_per_node_compression_expands_back(counts):
    expanded = []
    for part in compress_counts(counts).split(","):
        n, _, times = part.partition("(x")
        expanded += [int(n)] * (int(times.rstrip(")")) if times else 1)
    assert expanded == counts


def test_allocation_env_and_hostfile():
    s = spec("#!/bin/sh\n", "-N", "2", "--ntasks-per-node", "2")
    env, hosts = alloc_env(s, (("n1", 2), ("n2", 2)), {"n1": "pi1.lan", "n2": "pi2.lan"}, {},
                           "/h/k.hosts")
    assert hosts == "pi1.lan\npi1.lan\npi2.lan\npi2.lan\n"
    assert (env["SLURM_JOB_NODELIST"], env["SLURM_TASKS_PER_NODE"], env["SLURM_NTASKS"]) == \
        ("n[1-2]", "2(x2)", "4")
    assert env["LSB_MCPU_HOSTS"] == "pi1.lan 2 pi2.lan 2"
    assert env["OMPI_MCA_plm"] == "^slurm" and env["HYDRA_HOST_FILE"] == "/h/k.hosts"
    mine = spec("#!/bin/sh\n", "-N", "2", "--export", "OMPI_MCA_plm=slurm")
    env, _ = alloc_env(mine, (("n1", 1), ("n2", 1)), {}, {}, "/h/k.hosts")
    assert "OMPI_MCA_plm" not in env               # the user's own choice is left alone


def test_job_env_has_slurm_and_lsf_names():
    s = spec("#!/bin/sh\n", "-c", "2", "--export", "ALL,X=1", env={"Y": "2"})
    env = job_env(s, 40, "n3", "pi3.lan", 5, "sim[1-5]")
    assert (env["LSB_JOBID"], env["LSB_JOBNAME"], env["LSB_HOSTS"]) == ("40", "sim[1-5]",
                                                                        "pi3.lan")
    assert (env["SLURM_CPUS_ON_NODE"], env["SLURM_ARRAY_TASK_COUNT"]) == ("2", "5")
    assert (env["X"], env["Y"]) == ("1", "2")


def test_cores_are_picked_free_and_never_beyond_the_real_count():
    assert pick_cores(4, {0, 2}, 2) == "1,3" and pick_cores(4, set(), 4) == "0-3"
    assert pick_cores(2, {0}, 2) is None


# ---- squeue and sacct formats ----------------------------------------------------------------

ROWS = [{"job_id": "12", "name": "a-very-long-name", "st": "R", "nodes": 3, "user": "pi",
         "nodelist": "n[1-3]"}]


def test_squeue_format_pads_right_aligns_and_cuts():
    assert squeue_format("%.5i %6j %t %D %R", ROWS) == [
        "JOBID NAME   ST NODES NODELIST(REASON)", "   12 a-very R 3 n[1-3]"]
    assert squeue_format("%i|%u%%", ROWS, header=False) == ["12|pi%"]
    with pytest.raises(SpecError, match="unknown field %Q"):
        squeue_format("%Q", ROWS)


def test_sacct_columns_lines_and_exit_codes():
    cols = acct_columns("jobid,State%4")
    assert cols == [("JobID", 0), ("State", 4)]
    rows = [{"JobID": "7", "State": "TIMEOUT"}]
    assert acct_lines(rows, cols) == ["JobID Stat", "----- ----", "7     TIME"]   # as sacct
    assert acct_lines(rows, cols, header=False, parsable="|") == ["7|TIMEOUT|"]
    task = lambda state, code: Task(1, 0, None, state, exit_code=code)  # noqa: E731
    assert exit_code(task(State.FAILED, 3)) == (3, 0)
    assert exit_code(task(State.CANCELLED, 143)) == (0, 15)
    assert exit_code(task(State.OUT_OF_MEMORY, None)) == (0, 9)


def test_sacct_times_and_states():
    assert parse_when("now-2hours", NOW) == NOW - 7200
    assert parse_when("09:00", NOW) == datetime.datetime(2026, 3, 14, 9).timestamp()
    assert parse_when("yesterday", NOW) == datetime.datetime(2026, 3, 13).timestamp()
    assert state_names("pd,OOM,completed") == {State.PENDING, State.OUT_OF_MEMORY,
                                               State.COMPLETED}
    with pytest.raises(SpecError, match="Invalid job state"):
        state_names("NOPE")


# ---- limits' shell lines -----------------------------------------------------------------------

def test_limits_lines():
    taskset = command_lines(Limits("taskset", 60, 128))
    assert "prlimit --data=$((mem * 4 * 1024 * 1024))" in taskset
    assert 'set -- taskset -c "$c" "$@"' in taskset
    cgroup = command_lines(Limits("cgroup", None, 128))
    assert "systemd-run --user --scope" in cgroup and "MemoryMax=${mem}M" in cgroup
    assert command_lines(Limits("none", None, 128)) == "mem=${ROOST_MEM_MB:-128}"
    assert watch_start(Limits("none")) == "w="
    assert "--watch" in watch_start(Limits("none", time_limit=30))
    assert parse_probe(["junk", "limits taskset"]) == "taskset"
    assert parse_probe(["limits bogus"]) == "none"


# ---- [jobs] keys ----------------------------------------------------------------------------

def test_jobs_limits_and_history_keys(tmp_path):
    from console.config import ConfigError, load_config
    from console.jobs.scheduler import Options
    toml = tmp_path / "roost.toml"
    toml.write_text('[jobs]\nlimits = "off"\nhistory_days = 0\n')
    jobs = load_config(toml, ssh_config=None, env={}, state_dir=tmp_path).jobs
    options = Options.from_config(jobs)
    assert (options.limits, options.history_days) == ("off", 0.0)
    toml.write_text('[jobs]\nlimits = "on"\n')
    with pytest.raises(ConfigError, match=r"jobs\.limits.*auto.*off"):
        load_config(toml, ssh_config=None, env={}, state_dir=tmp_path)
    toml.write_text('[jobs]\nhistory_days = -1\n')
    with pytest.raises(ConfigError, match=r"jobs\.history_days"):
        load_config(toml, ssh_config=None, env={}, state_dir=tmp_path)
