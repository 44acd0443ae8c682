"""Pure parsers of Slurm client output (console.jobs.slurm_parse), on text captured from the lab's
Slurm 22.05 and on generated text (hypothesis), plus the flag builders of the Slurm backend."""
from __future__ import annotations

import argparse
import json

import pytest
from hypothesis import given, strategies as st

from console.config import JobsConfig
from console.jobs import slurm_parse as sp
from console.jobs.directives import build_spec, parse_submit_argv
from console.jobs.model import State
from console.jobs.slurm import SlurmBackend, SlurmConfigError, slurm_options, spec_flags
from console.jobs.slurm_cli import args_flags

S = sp.SEP

# captured from the lab (tests/lab/slurm.py): one running job, a pending array, a finished task
SQUEUE = (f"7{S}7{S}N/A{S}roostlab{S}main{S}RUNNING{S}0:03{S}1{S}n2{S}runner\n"
          f"8_[1-3]{S}8{S}1-3{S}roostlab{S}main{S}PENDING{S}0:00{S}1{S}(Dependency){S}wrap\n"
          f"3_5{S}3{S}5{S}roostlab{S}main{S}COMPLETED{S}0:00{S}1{S}n3{S}my name|x\n")
SCONTROL = ("JobId=2 ArrayJobId=2 ArrayTaskId=1-3 JobName=my name|x UserId=root(0) "
            "GroupId=root(0) JobState=PENDING Reason=None Dependency=(null) "
            "TRES=cpu=1,mem=100M,node=1,billing=1 AllocNode:Sid=localhost:21948 "
            "CPUs/Task=1 ReqB:S:C:T=0:0:*:* NodeList= Command=(null) WorkDir=/work/main Power= \n")
SINFO_PARTS = f"main*{S}up{S}infinite{S}3{S}0/3/0/3{S}n[1-3]\ndebug{S}up{S}10:00{S}1{S}0/1/0/1{S}n1\n"
SINFO_NODES = (f"n1{S}debug{S}idle{S}2{S}100{S}0/2/0/2{S}none\n"
               f"n1{S}main*{S}idle{S}2{S}100{S}0/2/0/2{S}none\n"
               f"n2{S}main*{S}down*{S}2{S}100{S}0/0/2/2{S}Not responding\n")
SBATCH_NO_SHEBANG = ("sbatch: error: This does not look like a batch script.  The first\n"
                     "sbatch: error: line must start with #! followed by the path to an "
                     "interpreter.\nsbatch: error: For instance: #!/bin/sh\n")


def test_captured_squeue_text():
    run, pend, done = sp.parse_squeue_text(SQUEUE)
    assert (run.job_id, run.job, run.array_task, run.state, run.nodelist, run.time) == \
        ("7", 7, None, State.RUNNING, "n2", "0:03")
    assert (pend.job_id, pend.array_task, pend.state, pend.nodelist) == \
        ("8_[1-3]", "1-3", State.PENDING, "(Dependency)")
    assert (done.name, done.state, done.as_dict()["st"]) == ("my name|x", State.COMPLETED, "CD")


def test_captured_scontrol_line():
    rec, = sp.parse_scontrol(SCONTROL)
    assert rec["JobName"] == "my name|x" and rec["ArrayTaskId"] == "1-3"
    assert rec["TRES"] == "cpu=1,mem=100M,node=1,billing=1"
    assert rec["AllocNode:Sid"] == "localhost:21948" and rec["CPUs/Task"] == "1"
    assert rec["NodeList"] == "" and rec["Power"] == ""


def test_captured_sinfo():
    main, debug = sp.parse_partitions(SINFO_PARTS)
    assert (main.name, main.default, main.nodes, main.idle, main.nodelist) == \
        ("main", True, 3, 3, "n[1-3]")
    assert (debug.default, debug.time_limit) == (False, "10:00")
    n1, n2 = sp.parse_nodes(SINFO_NODES)
    assert n1.partitions == ("debug", "main") and n1.reason == ""
    assert (n2.state, n2.reason, n2.cpus_alloc) == ("down*", "Not responding", 0)


def test_error_lines():
    assert sp.error_line(SBATCH_NO_SHEBANG, "sbatch") == (
        "This does not look like a batch script.  The first line must start with #! followed "
        "by the path to an interpreter.")
    two = ("sbatch: error: invalid partition specified: nope\n"
           "sbatch: error: Batch job submission failed: Invalid partition name specified\n")
    assert sp.error_line(two, "sbatch") == "invalid partition specified: nope"
    assert sp.error_line("scancel: Terminating job 9\nscancel: error: Kill job error on job id 9: "
                         "Invalid job id specified\n", "scancel") == \
        "Kill job error on job id 9: Invalid job id specified"
    assert sp.error_line("slurm_load_jobs error: Invalid job id specified\n", "squeue") == \
        "Invalid job id specified"
    assert sp.error_line("", "sinfo") == "sinfo failed without a message"


@given(st.text(max_size=300))
def test_error_line_is_always_one_line(text):
    line = sp.error_line(text, "sbatch")
    assert line and "\n" not in line and "\r" not in line


def test_states_and_bad_input():
    assert sp.map_state("COMPLETING") is State.RUNNING
    assert sp.map_state("CANCELLED by 0") is State.CANCELLED
    assert sp.map_state("BOOT_FAIL") is State.NODE_FAIL
    with pytest.raises(sp.ParseError, match="unknown Slurm job state 'WEIRD'"):
        sp.map_state("WEIRD")
    with pytest.raises(sp.ParseError, match="unexpected squeue line"):
        sp.parse_squeue_text("JOBID NAME\n")
    with pytest.raises(sp.ParseError, match="sbatch printed no job id"):
        sp.parse_sbatch("Submitted batch job 5\n")
    with pytest.raises(sp.ParseError, match="no job list"):
        sp.parse_squeue_json("squeue: error: no serializer\n", 0)


@given(st.integers(1, 2**32), st.sampled_from(["", ";lab"]), st.sampled_from(["", "\n"]))
def test_sbatch_parsable(job, cluster, end):
    assert sp.parse_sbatch(f"{job}{cluster}{end}") == job


# --- generated squeue lines ---------------------------------------------------------------

plain = st.text(st.characters(blacklist_characters="\n\r" + S, blacklist_categories=("Cs",)),
                min_size=1, max_size=20)
name = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
               max_size=40)   # anything but a line break: even the separator itself


@given(st.lists(st.tuples(st.integers(1, 10**7), st.none() | st.integers(0, 1000), plain, plain,
                          st.sampled_from(sorted(sp._STATES)), plain, st.integers(0, 64), plain,
                          name), max_size=8))
def test_squeue_text_round_trip(rows):
    lines = []
    for job, task, user, part, state, time_, nodes, where, nm in rows:
        label = f"{job}" if task is None else f"{job}_{task}"
        fields = [label, str(job), "N/A" if task is None else str(task), user, part, state,
                  time_, str(nodes), where, nm]
        lines.append(S.join(fields))
    parsed = sp.parse_squeue_text("\n".join(lines) + "\n")
    assert [(r.job, r.name, r.user, r.nodelist, r.slurm_state, r.nodes) for r in parsed] == \
        [(job, nm, user, where, state, nodes)
         for job, _, user, _, state, _, nodes, where, nm in rows]


job_doc = st.fixed_dictionaries({
    "job_id": st.integers(1, 10**6), "array_job_id": st.sampled_from([0, 5]),
    "array_task_id": st.none() | st.integers(0, 100), "array_task_string": st.sampled_from(["", "1-3"]),
    "name": name, "user_name": plain, "partition": plain,
    "job_state": st.sampled_from(sorted(sp._STATES)), "state_reason": plain,
    "start_time": st.integers(0, 2000), "end_time": st.integers(0, 4000),
    "suspend_time": st.integers(0, 2000), "pre_sus_time": st.integers(0, 100),
    "node_count": st.integers(0, 8), "nodes": plain,
    "exit_code": st.integers(0, 255).map(lambda c: c << 8) | st.integers(1, 64)})


@given(st.lists(job_doc, max_size=6), st.integers(4000, 10**6))
def test_squeue_json_rows(jobs, now):
    rows = sp.parse_squeue_json(json.dumps({"meta": {}, "errors": [], "jobs": jobs}), now)
    for job, row in zip(jobs, rows, strict=True):
        assert row.name == job["name"] and row.state is sp.map_state(job["job_state"])
        assert row.job == (job["array_job_id"] or job["job_id"])
        assert row.job_id.startswith(str(row.job))
        code = job["exit_code"]
        assert row.exit_code == (code >> 8 if code >= 256 or code == 0 else 128 + code)
        if row.state is State.PENDING:
            assert row.nodelist == f"({job['state_reason']})" and row.time == "0:00"


# --- scontrol / sinfo -----------------------------------------------------------------------

key = st.from_regex(r"[A-Z][A-Za-z0-9_:/]{0,12}", fullmatch=True)
value = st.text(st.characters(blacklist_characters="=\n\r", blacklist_categories=("Cs", "Zs")),
                max_size=12).map(str.strip) | st.lists(
    st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=6),
    min_size=1, max_size=4).map(" ".join)


@given(st.dictionaries(key, value, min_size=1, max_size=10))
def test_scontrol_round_trip(record):
    first = next(iter(record))
    if " " in record[first]:
        record[first] = record[first].replace(" ", "_")   # before any key there is nothing to extend
    line = " ".join(f"{k}={v}" for k, v in record.items())
    assert sp.parse_scontrol(line + "\n") == [record]


# Slurm marks the default partition with a trailing '*'; a name never ends in one itself
partition = plain.filter(lambda n: not n.endswith("*"))


@given(st.lists(st.tuples(partition, st.booleans(), st.integers(0, 99), st.integers(0, 99)),
                max_size=5))
def test_partitions_round_trip(parts):
    text = "".join(f"{n}{'*' if d else ''}{S}up{S}1:00:00{S}{c}{S}{a}/{c}/0/{a + c}{S}x[1-2]\n"
                   for n, d, c, a in parts)
    got = sp.parse_partitions(text)
    assert [(p.name, p.default, p.nodes, p.allocated) for p in got] == \
        [(n.rstrip("*"), d, c, a) for n, d, c, a in parts]


# --- flags and options --------------------------------------------------------------------

def test_args_flags_keep_the_users_values():
    parser = argparse.ArgumentParser()
    from console.jobs.directives import add_options
    add_options(parser)
    parser.add_argument("-p", "--partition")
    args = parser.parse_args(["-J", "a b", "-a", "1-5%2", "--no-requeue", "-p", "debug",
                              "-t", "1:00"])
    assert args_flags(args) == ["--job-name=a b", "--time=1:00", "--array=1-5%2",
                                "--no-requeue", "--partition=debug"]


def test_spec_flags():
    cli = parse_submit_argv(["-a", "1-3,7%2", "-c", "2", "--mem", "1G", "-t", "90",
                             "-d", "afterok:4", "-w", "n[1-2]", "--requeue"])
    spec = build_spec(cli, "#!/bin/sh\ntrue\n", "job.sh")
    assert spec_flags(spec) == [
        "--job-name=job.sh", "--cpus-per-task=2", "--mem=1024M", "--time=1:30:00",
        "--array=1-3,7%2", "--dependency=afterok:4", "--nodelist=n[1-2]", "--requeue"]


def test_commands_are_quoted():
    b = SlurmBackend(lambda: None, slurm_conf="/etc/slurm dir/slurm.conf")
    assert b.command(["scancel", "-v", "1; rm -rf ~"]) == \
        "env 'SLURM_CONF=/etc/slurm dir/slurm.conf' scancel -v '1; rm -rf ~'"


def test_jobs_options():
    opts = slurm_options(JobsConfig(backend="slurm", controller="ctl"), ("ctl", "n1"))
    assert (opts.controller, opts.slurm_conf, opts.squeue_json) == ("ctl", None, True)
    with pytest.raises(SlurmConfigError, match="controller: expected the name"):
        slurm_options(JobsConfig(backend="slurm"), ("ctl",))
    with pytest.raises(SlurmConfigError, match="controller: no node named 'x'"):
        slurm_options(JobsConfig(backend="slurm", controller="x"), ("ctl",))
