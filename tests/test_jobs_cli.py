"""The job CLI (submit/queue/job/cancel/suspend/resume) on a real config of lab sshd nodes,
named by hostname (/etc/hosts, tests/lab/named.py) as real clusters name them."""
from __future__ import annotations

import argparse
import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.config import load_config
from console.jobs import cli as jobs_cli
from console.jobs.model import State
from console.jobs.remote import node_root
from console.jobs.service import cluster_name, open_store
from tests.lab.named import named
from tests.lab.sshd import USER

pytestmark = [pytest.mark.peers]


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise SystemExit(f"usage: {message}")


def roost(config, *argv) -> int:
    parser = Parser(prog="roost")
    jobs_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.jobs_handler(args, config)


@pytest.fixture(scope="module")
def lab_config(ssh_lab, tmp_path_factory, etc_hosts_module):
    nodes = named(ssh_lab, etc_hosts_module, ssh_lab.start(2))
    root = tmp_path_factory.mktemp("cli")
    entries = "".join(n.toml_entry() for n in nodes)
    toml = root / "roost.toml"
    toml.write_text(
        f'[defaults]\nuser = "roostlab"\nidentity = ["{ssh_lab.client_key}"]\n'
        f'known_hosts = ["{nodes[0].known_hosts}"]\n\n[jobs]\nuse_load = false\n'
        f'grace = 1.0\npoll_every = 0.3\n\n{entries}')
    empty_ssh = root / "ssh_config"
    empty_ssh.write_text("")
    yield toml, empty_ssh, nodes
    ssh_lab.stop(nodes)


@pytest.fixture
def config(lab_config, tmp_path):
    toml, ssh, _ = lab_config
    return load_config(toml, ssh_config=ssh, state_dir=tmp_path / "state", env={})


def test_submit_errors_are_one_line(config, capsys, tmp_path):
    assert roost(config, "submit", "--time", "1:2:3:4", "--wrap", "true") == 1
    assert capsys.readouterr().err == \
        "roost submit: error: Invalid time limit specification: '1:2:3:4'\n"
    assert roost(config, "submit", "-w", "nope", "--wrap", "true") == 1
    assert "Invalid node name specified (nope)" in capsys.readouterr().err
    assert roost(config, "submit", "-d", "afterok:999", "--wrap", "true") == 1
    assert "Job dependency problem" in capsys.readouterr().err
    script = tmp_path / "noshebang.sh"
    script.write_text("echo hi\n")
    assert roost(config, "submit", str(script)) == 1
    assert "first line must start with #!" in capsys.readouterr().err
    assert roost(config, "cancel", "77") == 1
    assert "Invalid job id specified" in capsys.readouterr().err


def test_a_home_workdir_is_the_node_login_users_home(config, capsys, tmp_path):
    """-D '~' (the console's submit form default) runs in the home of the node's login user
    (roostlab here), not the console user's, which that user could not enter."""
    out = tmp_path / "o"
    out.mkdir()
    out.chmod(0o777)
    code = roost(config, "submit", "-D", "~", "-o", str(out / "pwd.out"), "--wait",
                 "--wrap", "pwd; echo $HOME")
    assert code == 0, capsys.readouterr().err
    here, home = (out / "pwd.out").read_text().split()
    assert here == home == os.path.expanduser("~roostlab") != os.path.expanduser("~")


def test_submit_wait_queue_job(config, capsys, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    out.chmod(0o777)
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\n#SBATCH --job-name=demo\n#SBATCH --partition=x\n"
                      "echo $SLURM_ARRAY_TASK_ID\nexit $((SLURM_ARRAY_TASK_ID == 2 ? 4 : 0))\n")
    code = roost(config, "submit", "-a", "1-3", "-o", str(out / "%x_%a.out"), "--wait",
                 str(script))
    captured = capsys.readouterr()
    assert code == 4                      # the highest exit code of the array
    assert captured.out.startswith("Submitted batch job ")
    assert "warning: " in captured.err and "--partition=x" in captured.err
    job = int(captured.out.split()[-1])
    assert [(out / f"demo_{i}.out").read_text() for i in (1, 2, 3)] == ["1\n", "2\n", "3\n"]
    assert roost(config, "job", str(job), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["states"] == {"COMPLETED": 2, "FAILED": 1}
    assert info["tasks"][1]["output"] == str(out / "demo_2.out")


def test_queue_shows_pending_arrays_compactly_and_cancel(config, capsys):
    t0 = time.process_time()         # CPU of the in-process CLI, not the machine's load
    assert roost(config, "submit", "--parsable", "--array", "1-10000", "--wrap", "true") == 0
    assert time.process_time() - t0 < 1.0
    job = int(capsys.readouterr().out)
    assert roost(config, "queue") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"CLUSTER: {cluster_name(config)}"          # as squeue -M
    assert lines[1].split() == ["JOBID", "NAME", "ST", "TIME", "NODES", "NODELIST(REASON)"]
    assert lines[2].split()[:3] == [f"{job}_[1-10000]", "wrap", "PD"]
    # nobody schedules this queue: the reason says so, not "Priority" forever
    assert lines[2].endswith("(no scheduler running — start the console or roost serve)")
    assert roost(config, "cancel", f"{job}_[1-9999]") == 0
    assert roost(config, "queue", "--json") == 0
    rows = json.loads(capsys.readouterr().out)["jobs"]
    assert [r["job_id"] for r in rows] == [f"{job}_[10000]"]
    assert roost(config, "cancel", str(job)) == 0
    counts = open_store(config).state_counts(job)
    assert counts == {State.CANCELLED: 10000}


HOLDER = """
import asyncio
from console.config import load_config
from console.jobs.service import open_store, run_scheduler
config = load_config({toml!r}, ssh_config={ssh!r}, state_dir={state!r}, env={{}})
async def main():
    stop = asyncio.Event()
    holder = asyncio.create_task(run_scheduler(config, stop))
    store = open_store(config)
    while not store.tasks({job})[0].pid:
        await asyncio.sleep(0.05)
    stop.set()
    await holder
asyncio.run(main())
"""


def test_cancel_running_without_a_holder(config, capsys, tmp_path):
    assert roost(config, "submit", "--parsable", "-o", "/dev/null", "--wrap", "sleep 60") == 0
    job = int(capsys.readouterr().out)
    store = open_store(config)
    # a scheduler in another process starts it, then goes away (tasks stay detached)
    toml = str(config.sources[0])
    code = HOLDER.format(toml=toml, ssh=str(Path(toml).parent / "ssh_config"),
                         state=str(config.state_dir), job=job)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert store.tasks(job)[0].state is State.RUNNING
    task, = store.tasks(job)
    job_dir = Path(pwd.getpwnam(USER).pw_dir) / node_root(store.queue_id(), task.node) / str(job)
    assert job_dir.is_dir()
    assert roost(config, "cancel", str(job)) == 0
    task, = store.tasks(job)
    assert task.state is State.CANCELLED
    assert not job_dir.exists()       # the client's clean-up finished before it returned


def test_dependency_on_an_array_tasks_own_job_id(config, capsys):
    assert roost(config, "submit", "--parsable", "-a", "5-7", "--wrap", "true") == 0
    job = int(capsys.readouterr().out)
    assert roost(config, "submit", "--parsable", "-d", f"afterok:{job + 1}", "--wrap",
                 "true") == 0
    dep_job = int(capsys.readouterr().out)
    deps = open_store(config).job(dep_job).spec.dependencies.items
    assert [(d.job, d.task) for d in deps] == [(job, 6)]
    assert roost(config, "cancel", str(job), str(dep_job)) == 0
    assert roost(config, "cancel", str(job)) == 1
    assert "already completing or completed" in capsys.readouterr().err
