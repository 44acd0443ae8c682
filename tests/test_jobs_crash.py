"""kill -9 of the scheduler holder in the middle of a 200-task array: after a restart every task
has run exactly once and every output file is right (real sshd nodes, real processes)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from console.config import load_config
from console.jobs.directives import build_spec, parse_submit_argv, wrap_script
from console.jobs.model import State
from console.jobs.service import open_store
from tests.lab.named import named

pytestmark = [pytest.mark.peers, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import asyncio, sys
from console.config import load_config
from console.jobs.service import run_scheduler
config = load_config(sys.argv[1], ssh_config=sys.argv[2], state_dir=sys.argv[3], env={})
ok = asyncio.run(run_scheduler(config, asyncio.Event(), until_job=int(sys.argv[4])))
sys.exit(0 if ok else 3)
"""

TASK = ('echo "$SLURM_ARRAY_TASK_ID $SLURM_JOB_ID" >> {log}; sleep 0.1; '
        'echo "task $SLURM_ARRAY_TASK_ID on $SLURMD_NODENAME"')


def write_config(lab, nodes, root: Path) -> tuple[Path, Path]:
    entries = "".join(n.toml_entry() for n in nodes)
    cores = ", ".join(f'{n.name} = 4' for n in nodes)
    toml = root / "roost.toml"
    toml.write_text(f'[defaults]\nuser = "roostlab"\nidentity = ["{lab.client_key}"]\n'
                    f'known_hosts = ["{nodes[0].known_hosts}"]\n\n[jobs]\nuse_load = false\n'
                    f'poll_every = 0.5\ncores = {{ {cores} }}\n\n{entries}')
    ssh = root / "ssh_config"
    ssh.write_text("")
    return toml, ssh


def test_kill_9_mid_array_then_restart(ssh_lab, tmp_path, etc_hosts):
    nodes = named(ssh_lab, etc_hosts, ssh_lab.start(4))      # reached by hostname
    work = Path(tempfile.mkdtemp(prefix="roost-crash-"))   # the nodes' user must reach it
    os.chmod(work, 0o777)
    toml, ssh = write_config(ssh_lab, nodes, tmp_path)
    state = tmp_path / "state"
    store = open_store(load_config(toml, ssh_config=ssh, state_dir=state, env={}))
    log = work / "runs.log"
    cli = parse_submit_argv(["--array", "1-200", "-o", str(work / "%a.out")])
    job = store.submit(build_spec(cli, wrap_script(TASK.format(log=log)), "--wrap",
                                  submit_dir=str(work)))
    argv = [sys.executable, "-c", HOLDER, str(toml), str(ssh), str(state), str(job)]
    try:
        first = subprocess.Popen(argv, cwd=ROOT)
        deadline = time.monotonic() + 60
        while store.state_counts(job).get(State.COMPLETED, 0) < 60:
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        mid = store.state_counts(job)
        assert mid.get(State.PENDING) and mid.get(State.RUNNING)   # really in the middle
        second = subprocess.run(argv, cwd=ROOT, timeout=120)
        assert second.returncode == 0
    finally:
        ssh_lab.stop(nodes)
    try:
        check_exactly_once(store, job, work, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_exactly_once(store, job, work, log):
    tasks = store.tasks(job)
    assert {t.state for t in tasks} == {State.COMPLETED}
    runs = sorted(int(line.split()[0]) for line in log.read_text().splitlines())
    assert runs == list(range(1, 201))            # each index ran exactly once
    for t in tasks:
        assert (work / f"{t.index}.out").read_text() == f"task {t.index} on {t.node}\n"
        assert t.attempt == 0
