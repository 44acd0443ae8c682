"""Issue 15 from the command line, on a real config of three lab sshd nodes named by hostname:
`roost acct`, queue filters and --format, cancel -n/--signal, nodes --json, run --job, check's
limits line, and the LSF front door (bsub/bjobs/bkill) driven by a script of bsub lines as an
LSF user writes them."""
from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.cli import main as roost_main
from console.config import load_config
from console.jobs.model import State
from console.jobs.scheduler import Options, Scheduler
from console.jobs.service import open_store
from tests.conftest import ROOT
from tests.lab.named import named

pytestmark = [pytest.mark.peers]


@pytest.fixture(scope="module")
def lab(ssh_lab, tmp_path_factory, etc_hosts_module):
    nodes = named(ssh_lab, etc_hosts_module, ssh_lab.start(3))
    root = tmp_path_factory.mktemp("batchcli")
    root.chmod(0o755)
    toml = root / "roost.toml"
    toml.write_text(
        f'[defaults]\nuser = "roostlab"\nidentity = ["{ssh_lab.client_key}"]\n'
        f'known_hosts = ["{nodes[0].known_hosts}"]\n\n[jobs]\nuse_load = false\n'
        f'grace = 1.0\npoll_every = 0.3\ncores = {{ {", ".join(f"{n.name} = 2" for n in nodes)} }}'
        f'\n\n{"".join(n.toml_entry() for n in nodes)}')
    (root / "ssh_config").write_text("")
    yield toml, nodes
    ssh_lab.stop(nodes)


@pytest.fixture
def work(shared_dir):
    """A submit directory the nodes' login user can write (shared with the console)."""
    return shared_dir


@pytest.fixture
def env(lab, tmp_path):
    toml, _ = lab
    return {**os.environ, "ROOST_CONFIG": str(toml), "ROOST_SSH_CONFIG": str(toml.parent /
            "ssh_config"), "ROOST_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(ROOT),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


@pytest.fixture
def config(env):
    return load_config(env["ROOST_CONFIG"], ssh_config=env["ROOST_SSH_CONFIG"],
                       state_dir=env["ROOST_STATE_DIR"], env={})


def roost(env, *argv, stdin: str | None = None, cwd=None) -> tuple[int, str, str]:
    """roost in-process with the test's config (what `roost ARGV` prints, and its status)."""
    import contextlib
    out, err = io.StringIO(), io.StringIO()
    glob = ["--config", env["ROOST_CONFIG"], "--ssh-config", env["ROOST_SSH_CONFIG"],
            "--state-dir", env["ROOST_STATE_DIR"]]
    old_stdin, old_cwd = sys.stdin, os.getcwd()
    sys.stdin = io.StringIO(stdin) if stdin is not None else sys.stdin
    try:
        if cwd:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = roost_main(glob + list(argv))
    finally:
        sys.stdin = old_stdin
        os.chdir(old_cwd)
    return code, out.getvalue(), err.getvalue()


def schedule(config, *jobs, timeout=60.0, until=None):
    """Run the built-in scheduler on the config until every given job ended (or until())."""
    async def go():
        store = open_store(config)
        sched = Scheduler(store, [t for t in config.targets() if not t.local],
                          Options.from_config(config.jobs))
        await sched.start()
        deadline = time.monotonic() + timeout
        try:
            while not (until() if until else all(not store.has_live(j) for j in jobs)):
                assert time.monotonic() < deadline, "timed out"
                await sched.step()
                await asyncio.sleep(0.02)
            await sched.drain(time.monotonic() + 5)
        finally:
            await sched.close()
    asyncio.run(go())


def job_id_of(out: str) -> int:
    return int(out.split()[-1]) if out.startswith("Submitted") else \
        int(out.split("<", 1)[1].split(">", 1)[0])


# ---- submit, acct ----------------------------------------------------------------------------

def test_script_arguments_then_acct(env, config, work):
    script = work / "args.sh"
    script.write_text('#!/bin/sh\n#SBATCH -J argjob\necho "$1/$2"\nexit 3\n')
    code, out, err = roost(env, "submit", "-o", str(work / "a.out"), str(script), "x",
                           "y z", cwd=work)
    assert code == 0, err
    ok = job_id_of(out)
    code, out, _ = roost(env, "submit", "--time", "1s", "-o", "/dev/null", "--wrap",
                         "sleep 30", cwd=work)
    slow = job_id_of(out)
    schedule(config, ok, slow)
    assert (work / "a.out").read_text() == "x/y z\n"
    code, out, _ = roost(env, "acct", "-j", f"{ok},{slow}", "--parsable2",
                         "--format=JobID,JobName,State,ExitCode,NNodes")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "JobID|JobName|State|ExitCode|NNodes"
    assert lines[1] == f"{ok}|argjob|FAILED|3:0|1"
    assert lines[2].startswith(f"{slow}|wrap|TIMEOUT|0:") and lines[2].endswith("|1")
    code, out, _ = roost(env, "acct", "--json")          # today's, with every field
    rows = {r["JobID"]: r for r in json.loads(out)["jobs"]}
    assert rows[str(ok)]["exit_code"] == 3 and rows[str(ok)]["NodeList"] in \
        {n for n in config.names}
    assert rows[str(ok)]["Start"] <= rows[str(ok)]["End"]
    code, out, _ = roost(env, "acct", "-S", "now+1hours", "-n", "-P")
    assert out == ""                                      # nothing in a window ahead
    code, out, _ = roost(env, "acct", "-n", "-p", "-s", "F", "--format", "JobID")
    assert out.splitlines() == [f"{ok}|"]
    code, _, err = roost(env, "acct", "--format", "JobID,Bogus")
    assert code == 1 and err.count("\n") == 1 and "unknown field 'Bogus'" in err


def test_history_older_than_retention_is_forgotten(config):
    from console.jobs.directives import build_spec, parse_submit_argv, wrap_script
    store = open_store(config)
    spec = build_spec(parse_submit_argv([]), wrap_script("true"), "--wrap")
    old = store.submit(spec, now=time.time() - 40 * 86400)
    task, = store.tasks(old)
    store.start(task, config.names[0], time.time() - 40 * 86400)
    store.finish(task, State.COMPLETED, 0, time.time() - 40 * 86400)
    recent = store.submit(spec)
    assert store.purge(time.time() - 30 * 86400) == 1
    assert store.job(old) is None and store.job(recent) is not None


# ---- queue -------------------------------------------------------------------------------------

def test_queue_filters_format_and_no_header(env, work):
    ids = []
    for argv in (["-J", "alpha", "-N", "2"], ["-J", "beta", "-a", "1-3"], ["-J", "gamma"]):
        code, out, _ = roost(env, "submit", *argv, "-o", "/dev/null", "--wrap", "true",
                             cwd=work)
        ids.append(job_id_of(out))
    code, out, _ = roost(env, "queue", "-h", "-o", "%.5i|%j|%t|%D|%u")
    user = os.environ.get("USER") or __import__("getpass").getuser()
    assert out.splitlines() == [f"{ids[0]:>5}|alpha|PD|2|{user}",
                                f"{ids[1]}_[1-3]"[:5].rjust(5) + f"|beta|PD|1|{user}",
                                f"{ids[2]:>5}|gamma|PD|1|{user}"]
    code, out, _ = roost(env, "queue", "-j", str(ids[1]), "-t", "PD", "--json")
    assert [r["job_id"] for r in json.loads(out)["jobs"]] == [f"{ids[1]}_[1-3]"]
    code, out, _ = roost(env, "queue", "-u", "nobody-else")
    assert out.splitlines()[2:] == []                  # header only
    code, out, _ = roost(env, "queue", "-t", "R", "-h")
    assert out == ""
    code, _, err = roost(env, "queue", "-t", "WAITING")
    assert code == 1 and "Invalid job state specified: WAITING" in err
    code, _, err = roost(env, "queue", "-o", "%i %Q")
    assert code == 1 and "unknown field %Q" in err


def test_cancel_by_name_and_signal(env, config, work):
    out = work / "sig.out"
    code, text, _ = roost(env, "submit", "-J", "victim", "-o", str(out), "--wrap",
                          "trap 'echo USR1; exit 7' USR1; echo up; while :; do sleep 0.1; done",
                          cwd=work)
    job = job_id_of(text)
    schedule(config, until=lambda: out.exists() and out.read_text() == "up\n")
    assert roost(env, "cancel", "--signal", "SIGUSR1", str(job))[0] == 0
    schedule(config, job)
    task, = open_store(config).tasks(job)
    assert (task.state, task.exit_code) == (State.FAILED, 7)
    code, text, _ = roost(env, "submit", "-J", "same", "-o", "/dev/null", "--wrap", "true")
    pending = job_id_of(text)
    assert roost(env, "cancel", "-n", "same")[0] == 0
    assert open_store(config).tasks(pending)[0].state is State.CANCELLED
    code, _, err = roost(env, "cancel", "--signal", "NOPE", str(pending))
    assert code == 1 and "Invalid signal specified: NOPE" in err


# ---- nodes, run --job, check ---------------------------------------------------------------

def test_nodes_json(env, lab):
    _, nodes = lab
    code, out, _ = roost(env, "nodes", "--json")
    got = {n["name"]: n for n in json.loads(out)["nodes"]}
    assert code == 0 and set(got) == {n.name for n in nodes}
    for n in nodes:
        assert got[n.name]["state"] == "up" and got[n.name]["address"].endswith(
            f"{n.hostname}:{n.port}")


def test_run_in_a_three_node_allocation(env, config, lab, work):
    _, nodes = lab
    code, out, _ = roost(env, "submit", "-N", "3", "-o", "/dev/null", "--wrap", "sleep 60",
                         cwd=work)
    job = job_id_of(out)
    store = open_store(config)
    schedule(config, until=lambda: store.tasks(job)[0].pid)   # started; nobody schedules now
    # its own process: runcmd prints to the stdout it was imported with
    done = subprocess.run([sys.executable, "-m", "console.cli", "run", "--job", str(job), "-L",
                           "--", 'echo "$SLURM_JOB_ID $SLURM_NNODES $ROOST_LAB_NODE"'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    code, out, err = done.returncode, done.stdout, done.stderr
    assert code == 0, err
    seen = {line.split(": ", 1)[0]: line.split(": ", 1)[1].split() for line in out.splitlines()}
    assert set(seen) == {n.name for n in nodes}, out + err
    assert {v[2] for v in seen.values()} == {n.token for n in nodes}  # each node's own sshd
    assert all(v[:2] == [str(job), "3"] for v in seen.values())
    assert roost(env, "cancel", str(job))[0] == 0
    assert store.tasks(job)[0].state is State.CANCELLED
    code, _, err = roost(env, "run", "--job", str(job), "--", "true")
    assert code == 1 and "is not running" in err


def test_check_says_how_each_node_holds_limits(env, lab):
    _, nodes = lab
    code, out, _ = roost(env, "check")
    for n in nodes:
        assert next(line for line in out.splitlines() if line.startswith(n.name + " ")) \
            .split() == [n.name, "ok"]
    line, = [line for line in out.splitlines() if line.startswith("job limits")]
    assert line.startswith("job limits (") and "): taskset + prlimit, memory watched" in line
    from console.jobs.spec import parse_hostlist
    assert set(parse_hostlist(line.split("(", 1)[1].split(")", 1)[0])) == {n.name for n in nodes}


# ---- the LSF front door ----------------------------------------------------------------------

WORKFLOW = r"""#!/bin/sh
# An OpenLava user's day on a Pi cluster, as a script of bsub lines.
set -e
jid() { sed -n 's/^Job <\([0-9]*\)> is submitted.*/\1/p'; }
prep=$(bsub -J prep -o prep.%J.out "echo prepared > input.txt" | jid)
bsub -J 'count[1-6]%3' -w "done($prep)" -o 'count.%J.%I.out' ./count.sh \$LSB_JOBINDEX
merge=$(bsub -J merge -w 'done(count)' -oo merge.out "cut -d' ' -f1 count.*.out | sort -n | tr '\n' ' '" | jid)
bsub -J wide -n 4 -o wide.out < wide.sh
for i in 1 2 3; do bsub -o loop.out -J "step$i" echo step $i; done
bsub -J late -b 2099:01:01:00:00 -o /dev/null true
echo "merge=$merge"
"""
COUNT = "#!/bin/sh\necho $(( $1 * $1 )) $LSB_JOBINDEX $LSB_JOBNAME\n"
WIDE = ("#BSUB -W 5\n#BSUB -R 'span[ptile=2]'\n"
        'echo "$LSB_DJOB_NUMPROC $SLURM_NNODES $SLURM_TASKS_PER_NODE"\n')


def test_lsf_workflow_of_bsub_lines(env, config, work):
    (work / "flow.sh").write_text(WORKFLOW)
    (work / "count.sh").write_text(COUNT)
    (work / "count.sh").chmod(0o755)
    (work / "wide.sh").write_text(WIDE)
    done = subprocess.run(["sh", "flow.sh"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    merge = int(done.stdout.split("merge=")[1])
    store = open_store(config)
    late = store.job_ids_named("late")[0]
    schedule(config, *[j for j in store.job_ids() if j != late])
    assert (work / "input.txt").read_text() == "prepared\n"
    assert (work / "merge.out").read_text() == "1 4 9 16 25 36 "
    count = store.job_ids_named("count")[0]
    assert (work / f"count.{count}.3.out").read_text() == "9 3 count[1-6]\n"
    assert (work / "wide.out").read_text() == "4 2 2(x2)\n"
    # LSF's -o appends: three jobs, one file, every line kept
    assert sorted((work / "loop.out").read_text().splitlines()) == ["step 1", "step 2", "step 3"]
    assert store.tasks(merge)[0].state is State.COMPLETED
    code, out, err = roost(env, "bjobs", "-a", "-w")
    lines = out.splitlines()
    assert lines[0].split() == ["JOBID", "USER", "STAT", "QUEUE", "FROM_HOST", "EXEC_HOST",
                                "JOB_NAME", "SUBMIT_TIME"]
    assert any("count[3]" in line and " DONE " in line for line in lines)
    assert any(line.split()[2] == "PEND" and "late" in line for line in lines)
    code, out, _ = roost(env, "bjobs")                      # unfinished only: the late one
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(late)]
    code, out, _ = roost(env, "bkill", "-J", "late")        # by name: the user's live jobs
    assert out == f"Job <{late}> is being terminated\n"
    code, _, err = roost(env, "bkill", "0")                 # none live left
    assert code == 1 and "no job given" in err
    code, out, err = roost(env, "bjobs")
    assert code == 0 and out == "" and err == "No unfinished job found\n"
    code, _, err = roost(env, "bkill", "99999")
    assert code == 1 and "Job <99999>: No matching job found" in err
