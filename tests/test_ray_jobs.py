"""console.ray.jobs: sbatch-like flags -> a Ray job submission, and Ray's jobs -> roost's rows.
Entrypoints are run by a real sh here (Ray runs them with /bin/sh -c on a node)."""
from __future__ import annotations

import dataclasses
import os
import subprocess

import pytest

from console.jobs.directives import parse_submit_argv, spec_from_args
from console.jobs.model import State
from console.ray import jobs as rj
from console.ray.parse import parse_job


def spec(*argv: str, wrap: str | None = "true", script: str | None = None):
    args = parse_submit_argv([*argv, *(["--wrap", wrap] if wrap is not None else [])])
    return spec_from_args(args, script, wrap)


def run(entry: str, cwd, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", entry], capture_output=True, text=True, cwd=cwd,
                          timeout=30, env={**os.environ, **env})


def test_a_wrapped_command_stays_readable_and_runs_in_its_directory(tmp_path):
    s = spec("-D", str(tmp_path), wrap="pwd; echo a b; exit 4")
    entry = rj.entrypoint(s, "pwd; echo a b; exit 4")
    assert "pwd; echo a b; exit 4" in entry
    done = run(entry, "/")
    assert done.stdout.split("\n")[:2] == [str(tmp_path), "a b"] and done.returncode == 4


def test_a_script_travels_inside_the_entrypoint_and_its_shebang_picks_the_interpreter(tmp_path):
    path = tmp_path / "job.py"
    path.write_text("#!/usr/bin/env python3\nimport sys\nprint('it is', 'python')\n"
                    "sys.exit(7)  # quotes ' and \" and $HOME stay as written\n")
    s = spec(wrap=None, script=str(path))
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = run(rj.entrypoint(s), tmp_path, TMPDIR=str(temp))
    assert done.stdout == "it is python\n" and done.returncode == 7
    assert list(temp.iterdir()) == []                    # its temporary copy is gone


def test_a_scripts_arguments_reach_it_as_in_sbatch(tmp_path):
    path = tmp_path / "job.sh"
    path.write_text('#!/bin/sh\necho "$#:$1:$2"\n')
    args = parse_submit_argv([str(path), "a b", "$HOME;x"])
    s = spec_from_args(args, str(path), None)
    done = run(rj.entrypoint(s), tmp_path)
    assert done.stdout == "2:a b:$HOME;x\n" and done.returncode == 0


def test_lsf_candidate_hosts_pick_any_one_of_them():
    s = dataclasses.replace(spec(), candidates=("n1", "n3"))
    assert rj.label_selector(s) == {"roost.node": "in(n1,n3)"}
    assert rj.refusals(s, known=["n1", "n2"]) == [
        "Batch job submission failed: Invalid node name specified (n3)"]


@pytest.mark.parametrize("argv,selector", [
    ((), {}), (("-w", "n2"), {"roost.node": "n2"}), (("-w", "n[1-3]"), {"roost.node": "in(n1,n2,n3)"}),
    (("-w", "n[1-3]", "-x", "n2"), {"roost.node": "in(n1,n3)"}),
    (("-x", "n[1-2]"), {"roost.node": "!in(n1,n2)"}),
])
def test_nodelist_and_exclude_become_a_label_selector(argv, selector):
    assert rj.label_selector(spec(*argv)) == selector


def test_excluding_the_whole_nodelist_is_one_line():
    with pytest.raises(rj.RayJobError, match="removes every node"):
        rj.label_selector(spec("-w", "n1", "-x", "n1"))


def test_what_ray_cannot_do_is_refused_or_warned_never_dropped():
    assert rj.refusals(spec("--array", "1-3"))[0].startswith("--array: not supported by Ray")
    assert rj.refusals(spec("-d", "afterok:3"))[0].startswith("--dependency: not supported")
    assert rj.refusals(spec("-w", "nope"), known=["n1"]) == [
        "Batch job submission failed: Invalid node name specified (nope)"]
    words = " ".join(rj.warnings(spec("-t", "10", "-o", "x.out", "--requeue")))
    assert "ignoring --time" in words and "ignoring --output" in words and "requeue" in words
    for argv in (("-N", "2"), ("-n", "4"), ("--ntasks-per-node", "2")):
        assert any(r.startswith("--nodes/--ntasks") for r in rj.refusals(spec(*argv))), argv
    assert rj.refusals(spec("--begin", "now+3600"))[-1].startswith("--begin: not supported")
    words = " ".join(rj.warnings(spec("--nice", "5", "--exclusive")))
    assert "ignoring --nice" in words and "ignoring --exclusive" in words
    assert rj.warnings(spec("-w", "n[1-2]")) == []        # any one of them, as documented


def test_request_reserves_only_what_was_asked_and_exports_values():
    plain = rj.request(spec(), "true")
    assert plain["num_cpus"] is None and plain["memory"] is None and plain["runtime_env"] is None
    asked = rj.request(spec("-c", "2", "--mem", "512M", "--export", "A=1,B=x y", "-J", "nm"),
                       "true")
    assert asked["num_cpus"] == 2 and asked["memory"] == 512 << 20
    assert asked["runtime_env"] == {"env_vars": {"A": "1", "B": "x y"}}
    assert asked["metadata"]["roost.name"] == "nm"
    per_cpu = rj.request(spec("-c", "3", "--mem-per-cpu", "100M"), "true")
    assert per_cpu["memory"] == 300 << 20


def test_queue_rows_name_the_node_while_running_and_the_reason_once_ended():
    names = {"abc": "rk2"}
    running = parse_job({"submission_id": "roost-4", "status": "RUNNING", "start_time": 1000,
                         "driver_node_id": "abc", "metadata": {"roost.name": "fit"}})
    row = rj.queue_row(running, names, 61_000)
    assert (row["job_id"], row["name"], row["st"], row["time"], row["nodelist"]) == \
        ("4", "fit", "R", "1:00", "rk2")
    failed = parse_job({"submission_id": "raysubmit_x", "status": "FAILED", "driver_exit_code": 2,
                        "message": "Job entrypoint command failed with exit code 2",
                        "error_type": "JOB_ENTRYPOINT_COMMAND_ERROR"})
    row = rj.queue_row(failed, names, 0)
    assert row["job_id"] == "raysubmit_x" and row["st"] == State.FAILED.code
    assert row["nodelist"] == ("(exit 2: Job entrypoint command failed with exit code 2 "
                               "[JOB_ENTRYPOINT_COMMAND_ERROR])")
    assert rj.queue_row(parse_job({"submission_id": "roost-5", "status": "PENDING"}), names,
                        0)["nodelist"] == "(Resources)"


def test_roost_jobs_sort_newest_first_then_the_others():
    jobs = [parse_job({"submission_id": s, "status": "RUNNING", "start_time": t})
            for s, t in (("roost-2", 5), ("raysubmit_a", 9), ("roost-10", 1), ("raysubmit_b", 3))]
    assert [j.submission_id for j in sorted(jobs, key=rj.sort_key)] == \
        ["roost-10", "roost-2", "raysubmit_a", "raysubmit_b"]
