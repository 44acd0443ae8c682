"""Same script, same answer: the corpus of tests/lab/sbatch_corpus.py submitted to the lab's real
Slurm 22.05 (`sbatch --hold`, read back with `scontrol show job`) and to roost's queue (`roost
submit`, read back with `roost job --json`), field by field.

Every difference must be listed in DELIBERATE with the warning (or error) roost prints for it
on that very submission; a listed difference that no longer shows fails the test too, so the
list stays true. The table printed at the end is the issue's differential table.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from console.cli import main as roost_main
from console.jobs.service import open_store
from console.jobs.slurm_parse import parse_scontrol
from console.jobs.spec import parse_time
from tests.conftest import need
from tests.lab import slurm
from tests.lab.sbatch_corpus import CASES, Case

pytestmark = [pytest.mark.peers, pytest.mark.slow]

# case -> {field: what roost prints about it}. "accepted": one system refuses the script.
DELIBERATE: dict[str, dict[str, str]] = {
    # roost refuses at submit what no node can ever run; Slurm queues -c 8 for ever
    # (Reason=PartitionConfig) and refuses --mem=4G as roost does
    "cpus_too_many": {"accepted": "Requested node configuration is not available"},
    # a task never runs only to lose its output (roost's submit-time check)
    "out_missing_dir": {"accepted": "nologs does not exist"},
    "out_pct_a_plain": {"stdout": "%a outside an array is 0 here",
                        "stderr": "%a outside an array is 0 here"},
    # sbatch refuses these; roost runs the script and says what it ignored
    "gres_gpu": {"accepted": "ignoring --gres=gpu:1 (the built-in queue has no generic"},
    "unknown_option": {"accepted": "ignoring unknown directive --frobnicate=3"},
    "stray_word": {"accepted": "ignoring unknown directive foo"},
    # LSF's array syntax in the name: an array, where sbatch names one job literally
    "lsf_array_name": {"name": "LSF array syntax: an array of 99 tasks named primes",
                       "array": "LSF array syntax", "stdout": "LSF array syntax",
                       "stderr": "LSF array syntax"},
}


@pytest.fixture(scope="module")
def cluster():
    need(slurm.available(), "Slurm (slurm-wlm, munge) missing or not root")
    c = slurm.SlurmCluster.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def work():
    path = Path(tempfile.mkdtemp(prefix="roost-sbatchdiff-"))
    path.chmod(0o755)
    (path / "logs").mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def roost_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("diff")
    toml = root / "roost.toml"
    toml.write_text("".join(f'[[nodes]]\nnames = "{n}"\nhost = "127.0.0.1"\n'
                            for n in slurm.NODES))
    (root / "ssh_config").write_text("")
    glob = ["--config", str(toml), "--ssh-config", str(root / "ssh_config"),
            "--state-dir", str(root / "state")]
    from console.config import load_config
    config = load_config(toml, ssh_config=root / "ssh_config", state_dir=root / "state", env={})
    with open_store(config) as store:     # the sizes a scheduler would have seen: as Slurm's
        for name in slurm.NODES:
            store.record_node(name, 2, 100, time.time())
    return glob, config


def roost(glob, *argv, cwd) -> tuple[int, str, str]:
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = roost_main(list(glob) + list(argv))
    finally:
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


# ---- one side each -----------------------------------------------------------------------------

def write_case(case: Case, work: Path, prev: str) -> list[str]:
    """The case's script file (named after it) and the words after the flags."""
    if case.script is None:
        return []
    path = work / f"{case.name}.sh"
    path.write_bytes(case.script.replace("{prev}", prev).encode())
    return [str(path), *case.args]


def slurm_side(cluster, case: Case, work: Path) -> dict:
    """The job as `sbatch --hold` records it; accepted or not as a real submission answers
    (--hold skips the check against the nodes: a deferred start keeps it from running)."""
    prev = _slurm_submit(cluster, ["--hold", "--wrap", "true"], work)[1]
    words = write_case(case, work, prev)
    flags = [f.replace("{prev}", prev) for f in case.flags]
    code, job_id, err = _slurm_submit(cluster, ["--hold"] + flags + words, work)
    if code != 0:
        return {"accepted": False, "error": err}
    record = parse_scontrol(cluster.run("scontrol", "show", "job", "-o", job_id))[0]
    real, real_id, real_err = _slurm_submit(cluster, flags + words + [], work,
                                            ["--begin=now+7days"])
    cluster.run("scancel", job_id, prev, *([real_id] if real == 0 else []), check=False)
    if real != 0:
        return {"accepted": False, "error": real_err}
    return {"accepted": True, **slurm_fields(record, job_id, prev)}


def _slurm_submit(cluster, argv: list[str], work: Path, first: list[str] = ()) -> tuple:
    done = subprocess.run(["sbatch", "--parsable", *first, *argv], env=cluster.env,
                          cwd=work, capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout.strip().split(";")[0], done.stderr.strip()


def roost_side(glob, config, case: Case, work: Path) -> dict:
    prev = roost(glob, "submit", "--parsable", "--wrap", "true", cwd=work)[1].strip()
    words = write_case(case, work, prev)
    flags = [f.replace("{prev}", prev) for f in case.flags]
    code, out, err = roost(glob, "submit", "--parsable", *flags, *words, cwd=work)
    warnings = err
    if code != 0:
        return {"accepted": False, "error": err.strip(), "said": err}
    job_id = out.strip()
    info = json.loads(roost(glob, "job", "--json", job_id, cwd=work)[1])
    roost(glob, "cancel", job_id, prev, cwd=work)
    return {"accepted": True, **roost_fields(info, job_id, prev), "said": warnings}


# ---- fields, normalised --------------------------------------------------------------------

def _null(value):
    return None if value in (None, "", "(null)", "None", "Unknown") else value


def _ids(text, own: str, prev: str):
    """Each system's own job ids as {id} and {prev}; in a path, only in its file name."""
    if text is None:
        return None
    head, sep, name = text.rpartition("/")
    name = re.sub(rf"(?<!\d){own}(?!\d)", "{id}", name)
    return head + sep + re.sub(rf"(?<!\d){prev}(?!\d)", "{prev}", name)


def _mb(text) -> int | None:
    return None if _null(text) is None else int(str(text).rstrip("MG"))


def _seconds(text) -> int | None:
    """scontrol's TimeLimit (and roost's) as seconds; UNLIMITED as None."""
    if _null(text) is None or text == "UNLIMITED":
        return None
    return parse_time(text)


def slurm_fields(r: dict, job_id: str, prev: str) -> dict:
    array = _null(r.get("ArrayTaskId"))
    dep = _null(r.get("Dependency"))
    out = {
        "name": r["JobName"], "time": _seconds(r["TimeLimit"]),
        "nodes": re.sub(r"^(\d+)-\1$", r"\1", r["NumNodes"]), "tasks": int(r["NumTasks"]),
        "cpus_per_task": int(r["CPUs/Task"]), "mem_node": _mb(r.get("MinMemoryNode")),
        "mem_cpu": _mb(r.get("MinMemoryCPU")), "nodelist": _null(r["ReqNodeList"]),
        "exclude": _null(r["ExcNodeList"]),
        "dependency": _ids(re.sub(r"\((un)?fulfilled\)", "", dep), job_id, prev) if dep else None,
        "requeue": r["Requeue"] == "1", "nice": int(r["Nice"]),
        "exclusive": r["OverSubscribe"] == "NO", "workdir": r["WorkDir"],
        "array": array, "command": _null(r.get("Command")),
        "begin": _null(r.get("EligibleTime")),
    }
    if array is None:   # an unsplit array shows its pattern with %a unset: compared per task
        out["stdout"] = _ids(r["StdOut"].replace("%J", job_id), job_id, prev)
        out["stderr"] = _ids(r["StdErr"].replace("%J", job_id), job_id, prev)
    if out["command"] and not out["command"].startswith("/"):
        out["command"] = None            # --wrap: Slurm shows the wrapped command line
    return out


def roost_fields(j: dict, job_id: str, prev: str) -> dict:
    array = j["array"] and j["array"] + (f"%{j['array_limit']}" if j["array_limit"] else "")
    first = j["tasks"][0]
    out = {
        "name": j["name"], "time": _seconds(j["time_limit"]), "nodes": j["num_nodes"],
        "tasks": j["num_tasks"], "cpus_per_task": j["cpus_per_task"],
        "mem_node": (j["mem_mb"] or 0) if j["mem_per_cpu"] is None else None,
        "mem_cpu": j["mem_per_cpu"], "nodelist": j["nodelist"], "exclude": j["exclude"],
        "dependency": _ids(j["dependency"], job_id, prev), "requeue": j["requeue"],
        "nice": j["nice"], "exclusive": j["exclusive"], "workdir": j["work_dir"],
        "array": array or None, "command": j["command"],
        # roost job --json gives times in ISO 8601: the comparison wants epoch seconds
        "begin": j["begin"] and datetime.fromisoformat(j["begin"]).timestamp(),
    }
    if not array:
        out["stdout"] = _ids(first["output"], job_id, prev)
        out["stderr"] = _ids(first.get("error") or first["output"], job_id, prev)
    return out


def _said(err: str) -> str:
    """roost's warnings/error for the table: one line, prefixes and paths trimmed."""
    lines = [re.sub(r"^roost submit: (warning|error): ", "", line) for line in err.splitlines()]
    lines = [re.sub(r"/tmp/roost-sbatchdiff-\w+/", "", line) for line in lines]
    return " | ".join(lines) or "-"


def differences(s: dict, r: dict) -> dict[str, tuple]:
    if s["accepted"] != r["accepted"]:
        return {"accepted": (s.get("error") or "accepted", r.get("error") or "accepted")}
    if not s["accepted"]:
        return {}
    diffs = {}
    for key, value in s.items():
        if key in ("accepted", "error"):
            continue
        mine = r.get(key)
        if key == "begin":
            same = (value is None) == (mine is None) and (value is None or abs(
                time.mktime(time.strptime(value, "%Y-%m-%dT%H:%M:%S")) - mine) < 5)
        else:
            same = str(value) == str(mine)
        if not same:
            diffs[key] = (value, mine)
    return diffs


def test_roost_and_slurm_read_the_same_scripts_the_same_way(cluster, work, roost_env):
    glob, config = roost_env
    table, failures = [], []
    for case in CASES:
        s = slurm_side(cluster, case, work)
        r = roost_side(glob, config, case, work)
        diffs = differences(s, r)
        expected = DELIBERATE.get(case.name, {})
        for field, pair in diffs.items():
            said = expected.get(field)
            if said is None:
                failures.append(f"{case.name}: {field}: slurm {pair[0]!r} roost {pair[1]!r}")
            elif said not in r.get("said", ""):
                failures.append(f"{case.name}: {field} differs but roost did not say "
                                f"{said!r} (it said {r.get('said')!r})")
        for field in set(expected) - set(diffs):
            failures.append(f"{case.name}: listed as differing in {field}, but it agrees now")
        table.append((case.name, "refused" if not s["accepted"] else "accepted",
                      "refused" if not r["accepted"] else "accepted",
                      ", ".join(sorted(diffs)) or "-", _said(r.get("said", ""))))
    width = max(len(t[0]) for t in table)
    print(f"\n{'case':<{width}}  slurm     roost     differs in  roost prints")
    for name, theirs, ours, fields, said in table:
        print(f"{name:<{width}}  {theirs:<8}  {ours:<8}  {fields:<10}  {said}")
    agree = sum(1 for t in table if t[3] == "-")
    print(f"{len(table)} scripts: {agree} read the same, {len(table) - agree} differ "
          "deliberately (with the warning shown)")
    assert not failures, "\n".join(failures)
