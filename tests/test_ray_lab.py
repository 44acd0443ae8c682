"""Ray on the lab fleet: `roost ray up|status|down` and the Ray job backend against real Ray
2.60 (PyPI) on two real sshd nodes, 127.0.0.x as roostlab; the head reached through an
ssh_config alias. One cluster for the module (started by the ray_cluster fixture); the tests
run in file order and the last ones take it down.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.lab.ray import _alive, fake_ray_python, wait_until

pytestmark = pytest.mark.peers


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _status_field(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def _listeners(port: int) -> set[str]:
    """Addresses with a TCP socket listening on port (from /proc/net/tcp)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hexport = local.split(":")
        if state == "0A" and int(hexport, 16) == port:
            out.add(".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return out


def _job_state(lab, number: int) -> str:
    code, out, _ = lab.roost("job", str(number))
    m = re.search(r"^\s*state: (\S+)", out, re.M)
    return m.group(1) if code == 0 and m else ""


def _submit(lab, *words: str) -> int:
    code, out, err = lab.roost("submit", "--parsable", *words)
    assert code == 0, err
    return int(out.strip())


def test_up_starts_head_then_worker_each_supervised_by_roost(ray_cluster):
    lab = ray_cluster
    lines = lab.up_output.splitlines()
    assert lines[0].startswith("ray-head: head up (pid ")
    assert lines[1].startswith("ray-w1: worker up (pid ")
    assert lines[2].startswith("ray: 2 nodes ALIVE")
    for name in ("ray-head", "ray-w1"):
        pid = lab.supervised_pid(name)
        assert pid and os.getpgid(pid) == pid and os.getsid(pid) == pid    # its own session
        assert _status_field(pid, "Umask") == "0077"
        argv = _cmdline(pid)
        assert "--block" in argv and f"--node-name={name}" in argv
        assert f"--labels=roost.node={name}" in argv and "--disable-usage-stats" in argv
        assert f"--num-cpus={os.cpu_count()}" in argv        # from the node's cores
        assert f"--temp-dir={lab.temp_dir}" in argv
    # the job API (remote code execution) listens on the head's loopback only
    assert _listeners(lab.base + 1) == {"127.0.0.1"}


def test_up_again_keeps_the_running_nodes(ray_cluster):
    lab = ray_cluster
    before = {n: lab.supervised_pid(n) for n in ("ray-head", "ray-w1")}
    code, out, err = lab.roost("ray", "up")
    assert code == 0, err
    assert f"ray-head: head already running (pid {before['ray-head']})" in out
    assert f"ray-w1: worker already running (pid {before['ray-w1']})" in out


def test_status_shows_roost_processes_and_the_heads_view(ray_cluster):
    code, out, err = ray_cluster.roost("ray", "status")
    assert code == 0 and err == ""
    head, *rows = out.splitlines()
    assert head.split() == ["NODE", "ROLE", "ROOST", "RAY", "ADDRESS", "CPUS"]
    cells = {r.split()[0]: r.split() for r in rows}
    assert cells["ray-head"][1:3] == ["head", "pid"] and cells["ray-head"][4] == "ALIVE"
    assert cells["ray-w1"][1] == "worker" and cells["ray-w1"][4] == "ALIVE"
    assert cells["ray-w1"][5] == ray_cluster.nodes["ray-w1"].host


def test_three_jobs_completed_cancelled_failed_with_exit_code_message_and_logs(ray_cluster):
    lab = ray_cluster
    ok = _submit(lab, "-J", "square", "-w", "ray-w1", "--wrap",
                 "python -c 'import ray; ray.init(); "
                 "print(\"squares\", ray.get([ray.remote(lambda x: x * x).remote(i) "
                 "for i in range(4)]))'")
    slow = _submit(lab, "--wrap", "sleep 300")
    bad = _submit(lab, "--wrap", "echo oops >&2; exit 3")
    assert wait_until(lambda: _job_state(lab, slow) == "RUNNING", 30, every=0.3)
    code, out, err = lab.roost("cancel", str(slow))
    assert code == 0, err
    assert wait_until(lambda: all(_job_state(lab, j) in ("COMPLETED", "CANCELLED", "FAILED")
                                  for j in (ok, slow, bad)), 60, every=0.3)
    code, out, _ = lab.roost("queue", "-a")
    rows = {r.split()[0]: r for r in out.splitlines()[1:]}
    assert rows[str(ok)].split()[1:3] == ["square", "CD"]
    assert rows[str(slow)].split()[2] == "CA"
    assert rows[str(bad)].split()[2] == "F" and "(exit 3: " in rows[str(bad)]
    code, out, _ = lab.roost("job", str(bad))
    assert re.search(r"exit_code: 3$", out, re.M)
    assert "message: Job entrypoint command failed with exit code 3" in out
    assert "oops" in out                                   # the log's last lines
    code, out, _ = lab.roost("job", str(ok))
    assert re.search(r"^\s*node: ray-w1$", out, re.M)     # --nodelist -> the label selector
    code, out, err = lab.roost("ray", "logs", str(ok), "-n", "5")
    assert code == 0 and "squares [0, 1, 4, 9]" in out and len(out.splitlines()) <= 5
    code, _, err = lab.roost("cancel", str(ok))
    assert code == 1 and err.count("\n") == 1 and "already completing or completed" in err


def test_suspend_and_resume_are_one_line_not_supported(ray_cluster):
    for verb in ("suspend", "resume"):
        code, out, err = ray_cluster.roost(verb, "1")
        assert code == 1 and out == "" and err.count("\n") == 1
        assert "not supported by Ray" in err


def test_duplicate_submission_id_is_one_line_and_submit_moves_past_a_taken_number(ray_cluster):
    import asyncio

    from console.config import load_config
    from console.jobs.directives import parse_submit_argv, spec_from_args
    from console.ray.client import RayDuplicate
    from console.ray.jobs import RayJobs

    config = load_config(ray_cluster.config, ssh_config=ray_cluster.ssh_config,
                         state_dir=ray_cluster.state_dir)
    spec = spec_from_args(parse_submit_argv(["--wrap", "true"]), None, "true")

    async def go():
        async with RayJobs.from_config(config) as jobs:
            with pytest.raises(RayDuplicate) as info:
                await jobs.client.submit("true", "roost-1")
            number = await jobs.next_number()
            await jobs.client.submit("true", f"roost-{number}")    # another console, first
            jobs.next_number = lambda: _stale(number)              # we listed before it did
            return str(info.value), number, await jobs.submit(spec, "true")

    text, taken, got = asyncio.run(go())
    assert "\n" not in text and "already exists" in text and "roost-1" in text
    assert got == taken + 1


async def _stale(number: int) -> int:
    return number


def test_version_mismatch_refused_one_line_per_node_before_anything_starts(ray_cluster):
    lab = ray_cluster
    before = {n: lab.supervised_pid(n) for n in ("ray-head", "ray-w1")}
    no_ray = lab.write_config("noray.toml", w1_python="/usr/bin/python3")
    code, out, err = lab.roost("ray", "up", config=no_ray)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "roost ray up: ray-w1: /usr/bin/python3 (Python "
        f"{err.split('(Python ')[1].split(')')[0]}) has no ray: pip install 'ray[default]'"]
    other = lab.write_config("other.toml", w1_python=fake_ray_python(lab.root, "2.59.0"))
    code, out, err = lab.roost("ray", "up", config=other)
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("roost ray up: ray-w1: Ray 2.59.0, Python ")
    assert "the head ray-head has Ray 2.60.0" in err
    assert {n: lab.supervised_pid(n) for n in before} == before      # nothing restarted


def test_head_unreachable_is_one_line(ray_cluster, tmp_path):
    lab = ray_cluster
    dead = tmp_path / "ssh_config"
    dead.write_text(f"Host ray-head\n    HostName {lab.nodes['ray-head'].host}\n    Port 1\n")
    for words in (("ray", "up"), ("queue",), ("submit", "--wrap", "true"), ("ray", "status")):
        code, out, err = lab.roost(*words, ssh_config=dead)
        lines = err.splitlines()
        assert len(lines) == 1 and "ray-head" in lines[0] and "connection refused" in lines[0]
        assert "Traceback" not in err


def test_a_worker_leaving_mid_job_makes_it_node_fail_and_up_brings_the_worker_back(ray_cluster):
    lab = ray_cluster
    head = lab.supervised_pid("ray-head")
    job = _submit(lab, "-w", "ray-w1", "--wrap", "sleep 300")
    assert wait_until(lambda: _job_state(lab, job) == "RUNNING", 30, every=0.3)
    code, out, err = lab.roost("ray", "down", "ray-w1")
    assert code == 0 and out.startswith("ray-w1: stopped (pid ") and "ray-head" not in out
    assert _alive(head)
    assert wait_until(lambda: _job_state(lab, job) == "NODE_FAIL", 30, every=0.3)
    code, out, _ = lab.roost("queue", "-a")
    row = next(r for r in out.splitlines() if r.split()[0] == str(job))
    assert row.split()[2] == "NF" and "JOB_SUPERVISOR_ACTOR_DIED" in row
    code, out, err = lab.roost("job", str(job))
    assert code == 0 and "(the driver's log cannot be read: " in out
    code, out, _ = lab.roost("ray", "status")
    w1 = next(r.split() for r in out.splitlines() if r.startswith("ray-w1"))
    assert w1[2:4] == ["stopped", "DEAD"] and w1[-1] == "-"
    code, out, err = lab.roost("ray", "up", "ray-w1")
    assert code == 0, err
    assert f"ray-head: head already running (pid {head})" in out and "ray-w1: worker up" in out


def test_ray_down_mid_job_then_every_command_is_one_line_and_no_process_is_left(ray_cluster):
    lab = ray_cluster
    job = _submit(lab, "-w", "ray-w1", "--wrap", "sleep 300")
    assert wait_until(lambda: _job_state(lab, job) == "RUNNING", 30, every=0.3)
    pids = {n: lab.supervised_pid(n) for n in ("ray-head", "ray-w1")}
    ray = {n: lab.ray_pids(n) for n in pids}
    assert all(len(v) > 3 for v in ray.values())          # raylet, agents, workers ...
    t0 = time.monotonic()
    code, out, err = lab.roost("ray", "down")
    assert code == 0, err
    assert time.monotonic() - t0 < 20
    assert out.splitlines()[0].startswith(f"ray-w1: stopped (pid {pids['ray-w1']}, ")
    assert out.splitlines()[1].startswith(f"ray-head: stopped (pid {pids['ray-head']}, ")
    assert not any(_alive(p) for p in [*pids.values(), *ray["ray-head"], *ray["ray-w1"]])
    assert wait_until(lambda: not lab.ray_pids("ray-head") and not lab.ray_pids("ray-w1"), 10), \
        {n: lab.ray_pids(n) for n in ray}
    for words in (("queue",), ("job", str(job)), ("cancel", str(job))):
        code, out, err = lab.roost(*words)
        assert code == 1 and len(err.splitlines()) == 1 and "is Ray up?" in err
    code, out, err = lab.roost("ray", "down")
    assert code == 0 and "not running" in out
