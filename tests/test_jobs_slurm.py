"""The Slurm backend against a real Slurm 22.05 (munged, slurmctld, slurmd -N n1..n3 on loopback,
tests/lab/slurm.py), driven over SSH to a lab sshd node acting as the controller."""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import pytest

from collectors import transport
from console.config import ConfigError
from console.jobs import cli as jobs_cli
from console.jobs.directives import build_spec, parse_submit_argv
from console.jobs.model import State
from console.jobs.slurm import SlurmBackend, SlurmError
from tests.conftest import need
from tests.lab.slurm import write_config

pytestmark = [pytest.mark.peers]


def backend(controller, slurm, **kw) -> SlurmBackend:
    node, _ = controller
    user = kw.pop("user", None)
    target = node.target(user=user) if user else node.target()
    return SlurmBackend(target, slurm_conf=str(slurm.conf), **kw)


async def until(probe, timeout: float = 20.0, every: float = 0.1):
    """Poll probe() (async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)


async def states(b: SlurmBackend, job: int) -> dict[str, State]:
    rows = await b.queue([str(job)], all_states=True, expand=True)
    return {r.job_id: r.state for r in rows}


async def finished(b: SlurmBackend, job: int, n: int = 1) -> dict[str, State]:
    async def probe():
        got = await states(b, job)
        return got if len(got) == n and all(s.done for s in got.values()) else None
    return await until(probe) or await states(b, job)


async def test_wrap_job_runs_and_completes(controller, slurm):
    _, out = controller
    async with backend(controller, slurm) as b:
        job = await b.submit(None, [f"--output={out}/%j.out"], wrap="echo hi from $SLURM_JOB_ID")
        assert await finished(b, job) == {str(job): State.COMPLETED}
    assert (out / f"{job}.out").read_text() == f"hi from {job}\n"


async def test_script_with_directives_and_a_spaced_name(controller, slurm):
    _, out = controller
    script = (f"#!/bin/sh\n#SBATCH --job-name='my job|1'\n#SBATCH --output={out}/named-%j.out\n"
              "#SBATCH --partition=debug\necho \"$SLURM_JOB_NAME on $SLURMD_NODENAME\"\n")
    async with backend(controller, slurm) as b:
        job = await b.submit(script)
        assert await finished(b, job) == {str(job): State.COMPLETED}
        row, = await b.queue([str(job)], all_states=True)
        assert (row.name, row.partition, row.user) == ("my job|1", "debug", "roostlab")
        info, = await b.job(str(job))
    assert (out / f"named-{job}.out").read_text() == "my job|1 on n1\n"
    assert info["JobName"] == "my job|1" and info["JobState"] == "COMPLETED"
    assert info["Partition"] == "debug" and info["NodeList"] == "n1"


async def test_array_of_five_completes(controller, slurm):
    _, out = controller
    async with backend(controller, slurm) as b:
        job = await b.submit("#!/bin/sh\necho task $SLURM_ARRAY_TASK_ID\n",
                             ["--array=1-5", f"--output={out}/arr-%A_%a.out"])
        got = await finished(b, job, n=5)
    assert got == {f"{job}_{i}": State.COMPLETED for i in range(1, 6)}
    for i in range(1, 6):
        assert (out / f"arr-{job}_{i}.out").read_text() == f"task {i}\n"


async def test_cancel_a_running_job_and_an_unknown_one(controller, slurm):
    async with backend(controller, slurm) as b:
        job = await b.submit(None, ["--output=/dev/null"], wrap="sleep 300")
        assert await until(lambda: _is(b, job, State.RUNNING))
        assert await b.cancel([str(job)]) == []
        assert await finished(b, job) == {str(job): State.CANCELLED}
        errors = await b.cancel(["999999"])
    assert errors == ["Kill job error on job id 999999: Invalid job id specified"]


async def test_cancel_one_array_task_then_the_rest(controller, slurm):
    async with backend(controller, slurm) as b:
        job = await b.submit(None, ["--output=/dev/null", "--array=1-3"], wrap="sleep 300")

        async def all_running():
            got = await states(b, job)
            return len(got) == 3 and set(got.values()) == {State.RUNNING}
        assert await until(all_running)
        assert await b.cancel([f"{job}_2"]) == []
        assert await until(lambda: _is(b, job, State.CANCELLED, f"{job}_2"))
        assert (await states(b, job))[f"{job}_1"] is State.RUNNING
        assert await b.cancel([f"{job}_[1,3]"]) == []
        assert await finished(b, job, n=3) == {f"{job}_{i}": State.CANCELLED for i in (1, 2, 3)}


async def _is(b: SlurmBackend, job: int, state: State, label: str | None = None) -> bool:
    return (await states(b, job)).get(label or str(job)) is state


async def test_submit_wait_reports_the_id_before_the_job_ends(controller, slurm):
    async with backend(controller, slurm) as b, backend(controller, slurm) as other:
        seen, cancels = [], []

        def got(job: int) -> None:   # the job sleeps 300 s: only a cancel can end the wait
            seen.append(job)
            cancels.append(asyncio.ensure_future(other.cancel([str(job)])))
        job, code = await b.submit_wait(None, ["--output=/dev/null"], wrap="sleep 300", on_id=got)
        assert await cancels[0] == []
        assert await finished(b, job) == {str(job): State.CANCELLED}
        with pytest.raises(SlurmError, match="^invalid partition specified: nope$"):
            await b.submit_wait("#!/bin/sh\ntrue\n", ["--partition=nope"])
    assert seen == [job] and code in (0, 143)   # sbatch says 0 for a job cancelled while pending


async def test_queue_states_json_and_text_agree(controller, slurm):
    async with backend(controller, slurm) as b, \
            backend(controller, slurm, squeue_json=False) as text:
        first = await b.submit(None, ["--output=/dev/null", "-J", "runner"], wrap="sleep 300")
        after = await b.submit(None, ["--output=/dev/null", f"--dependency=afterok:{first}",
                                      "--array=1-3"], wrap="true")
        assert await until(lambda: _is(b, first, State.RUNNING))
        rows = {r.job_id: r for r in await b.queue([str(first), str(after)])}
        assert b._json is True            # this Slurm has the openapi plugin: JSON was used
        rows_text = {r.job_id: r for r in await text.queue([str(first), str(after)])}
        assert text._json is False
        await b.cancel([str(first), str(after)])
    run, pend = rows[str(first)], rows[f"{after}_[1-3]"]
    assert (run.state, run.slurm_state, run.nodes, run.name) == (State.RUNNING, "RUNNING", 1, "runner")
    assert run.nodelist in ("n1", "n2", "n3")
    assert (pend.state, pend.nodelist, pend.array_task) == (State.PENDING, "(Dependency)", "1-3")
    for label, row in rows.items():
        other = rows_text[label]
        assert (other.state, other.name, other.nodelist, other.job) == \
            (row.state, row.name, row.nodelist, row.job)


async def test_squeue_without_json_plugin_falls_back_to_text(controller, slurm):
    node, _ = controller
    need(Path("/usr/lib/x86_64-linux-gnu/slurm-wlm/serializer_json.so").exists(),
         "Debian's slurm-wlm plugin dir not found")
    async with SlurmBackend(node.target(), slurm_conf=str(slurm.conf_without_json())) as b:
        job = await b.submit(None, ["--output=/dev/null", "-J", "a\tb c"], wrap="sleep 300")
        assert await until(lambda: _is(b, job, State.RUNNING))
        row, = await b.queue([str(job)])
        assert b._json is False          # detected once: squeue said "Unable to find plugin"
        await b.cancel([str(job)])
    assert (row.job_id, row.name, row.state, row.slurm_state) == \
        (str(job), "a\tb c", State.RUNNING, "RUNNING")


async def test_bad_scripts_get_slurms_one_line_error(controller, slurm):
    async with backend(controller, slurm) as b:
        with pytest.raises(SlurmError) as no_shebang:
            await b.submit("echo no interpreter line\n")
        with pytest.raises(SlurmError) as partition:
            await b.submit("#!/bin/sh\n#SBATCH --partition=nope\ntrue\n")
        with pytest.raises(SlurmError) as flag:
            await b.submit(None, ["--time=1:2:3:4"], wrap="true")
    assert str(no_shebang.value) == ("This does not look like a batch script.  The first line "
                                     "must start with #! followed by the path to an interpreter.")
    assert str(partition.value) == "invalid partition specified: nope"
    assert "\n" not in str(flag.value) and "time" in str(flag.value).lower()


async def test_suspend_needs_an_operator_and_works_as_root(controller, slurm):
    async with backend(controller, slurm) as b, backend(controller, slurm, user="root") as root:
        job = await b.submit(None, ["--output=/dev/null"], wrap="sleep 300")
        assert await until(lambda: _is(b, job, State.RUNNING))
        refused, = await b.suspend([str(job)])
        assert "Access/permission denied" in refused and "needs root or SlurmUser" in refused
        assert await root.suspend([str(job)]) == []
        assert await until(lambda: _is(b, job, State.SUSPENDED))
        assert await root.resume([str(job)]) == []
        assert await until(lambda: _is(b, job, State.RUNNING))
        await b.cancel([str(job)])


async def test_submit_a_jobspec_built_from_flags(controller, slurm, tmp_path):
    _, out = controller
    cli = parse_submit_argv(["-a", "2,4", "-J", "spec", "-o", f"{out}/spec-%a.out", "-t", "5"])
    spec = build_spec(cli, "#!/bin/sh\necho $SLURM_ARRAY_TASK_ID $SLURM_JOB_NAME\n", "x.sh")
    async with backend(controller, slurm) as b:
        job = await b.submit(spec)
        assert set((await finished(b, job, n=2)).values()) == {State.COMPLETED}
        info = await b.job(f"{job}_2")
    assert (out / "spec-4.out").read_text() == "4 spec\n"
    assert info[0]["TimeLimit"] == "00:05:00"


async def test_partitions_and_nodes(controller, slurm):
    async with backend(controller, slurm) as b:
        parts = {p.name: p for p in await b.partitions()}
        nodes = {n.name: n for n in await b.nodes()}
    assert parts["main"].default and parts["main"].nodes == 3 and parts["main"].nodelist == "n[1-3]"
    assert (parts["debug"].time_limit, parts["debug"].nodelist) == ("10:00", "n1")
    assert sorted(nodes) == ["n1", "n2", "n3"]
    assert set(nodes["n1"].partitions) == {"debug", "main"} and nodes["n2"].cpus == 2


async def test_a_shared_connection_is_used_and_left_open(controller, slurm):
    node, _ = controller
    conn = await transport.connect(node.target())
    calls = []

    async def factory():
        calls.append(1)
        return conn
    try:
        async with SlurmBackend(factory, slurm_conf=str(slurm.conf)) as b:
            assert {p.name for p in await b.partitions()} == {"main", "debug"}
            assert len(await b.nodes()) == 3
        assert calls == [1]
        assert (await transport.run(conn, "echo open", 5)).stdout == "open\n"
    finally:
        conn.close()


async def test_unreachable_controller_is_one_line(controller, slurm):
    node, _ = controller
    b = SlurmBackend(node.target(port=1))
    with pytest.raises(SlurmError) as err:
        await b.queue()
    assert str(err.value).startswith("n") and "\n" not in str(err.value)


# --- the CLI against a roost.toml with backend = "slurm" --------------------------------------

def roost(config, *argv) -> int:
    parser = argparse.ArgumentParser(prog="roost")
    jobs_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.jobs_handler(args, config)


def test_cli_submit_queue_job_cancel(controller, slurm, ssh_lab, tmp_path, capsys):
    node, out = controller
    config = write_config(tmp_path, ssh_lab, node,
                          f'backend = "slurm"\ncontroller = "ctl"\nslurm_conf = "{slurm.conf}"')
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/sh\n#SBATCH --output={out}/cli-%j.out\nsleep 300\n")
    assert roost(config, "submit", "--parsable", "-J", "cli job", str(script)) == 0
    job = int(capsys.readouterr().out)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert roost(config, "queue", "--json", "-j", str(job)) == 0
        doc = json.loads(capsys.readouterr().out)
        if doc["jobs"] and doc["jobs"][0]["state"] == "RUNNING":
            break
        time.sleep(0.1)
    row, = doc["jobs"]
    assert (doc["backend"], row["job_id"], row["name"], row["st"]) == \
        ("slurm", str(job), "cli job", "R")
    assert roost(config, "queue") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["JOBID", "NAME", "ST", "TIME", "NODES", "NODELIST(REASON)"]
    assert any(line.split()[0] == str(job) and "cli job" in line for line in table[1:])
    assert roost(config, "job", str(job)) == 0
    assert "JobName: cli job" in capsys.readouterr().out
    assert roost(config, "job", "999999") == 1
    assert capsys.readouterr().err == "roost job: error: Invalid job id specified: 999999\n"
    assert roost(config, "cancel", str(job)) == 0
    assert roost(config, "cancel", "999999") == 1
    assert capsys.readouterr().err == \
        "roost cancel: error: Kill job error on job id 999999: Invalid job id specified\n"
    assert roost(config, "submit", "--wrap", "true", "-p", "nope") == 1
    assert capsys.readouterr().err == \
        "roost submit: error: invalid partition specified: nope\n"


def test_cli_submit_wait_and_sinfo(controller, slurm, ssh_lab, tmp_path, capsys):
    node, out = controller
    config = write_config(tmp_path, ssh_lab, node,
                          f'backend = "slurm"\ncontroller = "ctl"\nslurm_conf = "{slurm.conf}"')
    assert roost(config, "submit", "-W", "-o", f"{out}/w-%j.out", "--wrap", "exit 3") == 3
    job = capsys.readouterr().out.removeprefix("Submitted batch job ").strip()
    assert roost(config, "queue", "-a", "--json", "-j", job) == 0
    row, = json.loads(capsys.readouterr().out)["jobs"]
    assert (row["state"], row["st"], row["exit_code"]) == ("FAILED", "F", 3)
    assert roost(config, "queue", "--partitions") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:4] == ["main*", "up", "infinite", "3"]
    assert roost(config, "queue", "-N", "--json") == 0
    assert [n["NODE"] for n in json.loads(capsys.readouterr().out)] == ["n1", "n2", "n3"]


def test_cli_config_errors_are_one_line(controller, ssh_lab, tmp_path, capsys):
    node, _ = controller
    with pytest.raises(ConfigError, match=r"roost\.toml:7: jobs\.backend: expected one of "
                       r"'builtin', 'slurm', 'ray', got a string 'lsf'"):   # stops at load, one line
        write_config(tmp_path, ssh_lab, node, 'backend = "lsf"')
    nameless = write_config(tmp_path, ssh_lab, node, 'backend = "slurm"\ncontroller = "nope"')
    assert roost(nameless, "cancel", "1") == 2
    assert capsys.readouterr().err == "roost cancel: error: [jobs] controller: no node named 'nope'\n"
