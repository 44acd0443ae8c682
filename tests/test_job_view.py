"""`roost job ID` as a person and a script read it: dates, counts by state, and no reason once
nothing waits. The real program against a real queue file (no node is contacted)."""
from __future__ import annotations

import json
import re
import time

import pytest

from console.config import load_config
from console.jobs.directives import build_spec, parse_submit_argv
from console.jobs.job_view import ago, counts, job_state
from console.jobs.model import State
from console.jobs.service import open_store
from tests.helpers.cli import roost

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"


@pytest.fixture
def queue(env, tmp_path):
    """An 8-task array: 5 completed, 3 cancelled before they ran; and a job still pending."""
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "n[1-2]"\nhost = "127.0.0.1"\nport = 9\n')
    config = load_config(cfg, env=env)
    now = time.time()
    with open_store(config) as store:
        job = store.submit(build_spec(parse_submit_argv(["-a", "1-8%2", "-J", "sim"]),
                                      "#!/bin/sh\ntrue\n", "job.sh", submit_dir="/w"), now=now - 600)
        for task in store.tasks(job)[:5]:
            store.start(task, "n1", now - 300)
            store.finish(task, State.COMPLETED, 0, now - 240)
        store.cancel_pending(job, "cancelled by user", now - 200)
        waiting = store.submit(build_spec(parse_submit_argv([]), "#!/bin/sh\ntrue\n", "job.sh",
                                          submit_dir="/w"), now=now - 30)
    return cfg, job, waiting


def test_a_finished_array_in_text(env, queue):
    cfg, job, _ = queue
    done = roost("--config", str(cfg), "job", str(job), env=env)
    assert done.returncode == 0, done.stderr
    facts = dict(line.split(": ", 1) for line in done.stdout.splitlines()[:14] if ": " in line)
    facts = {k.strip(): v for k, v in facts.items()}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(10 min ago\)", facts["submitted"])
    assert facts["started"].endswith("(5 min ago)") and facts["ended"].endswith("(3 min ago)")
    assert facts["state"] == "CANCELLED" and facts["tasks"] == "8 (5 COMPLETED, 3 CANCELLED)"
    assert facts["array"] == "1-8%2"
    assert "reason" not in facts and "states" not in facts             # nothing waits any more
    assert not re.search(r"\d{10}\.\d", done.stdout)                   # no epoch floats
    assert "{" not in done.stdout                                      # no Python dicts


def test_a_finished_array_as_json(env, queue):
    cfg, job, _ = queue
    doc = json.loads(roost("--config", str(cfg), "job", str(job), "--json", env=env).stdout)
    assert re.fullmatch(ISO, doc["submit"]) and re.fullmatch(ISO, doc["end"])
    assert doc["states"] == {"COMPLETED": 5, "CANCELLED": 3} and doc["state"] == "CANCELLED"
    assert doc["reason"] is None
    assert re.fullmatch(ISO, doc["tasks"][0]["start"]) and doc["tasks"][7]["start"] is None


def test_a_waiting_job_says_why(env, queue):
    cfg, _, waiting = queue
    done = roost("--config", str(cfg), "job", str(waiting), env=env)
    assert "     state: PENDING" in done.stdout and "1 (PENDING)" in done.stdout
    assert "reason: no scheduler running" in done.stdout
    doc = json.loads(roost("--config", str(cfg), "job", str(waiting), "--json", env=env).stdout)
    assert doc["state"] == "PENDING" and doc["reason"].startswith("no scheduler running")
    assert doc["start"] is None and doc["end"] is None


@pytest.mark.parametrize("states, word", [
    ({"COMPLETED": 3}, "COMPLETED"), ({"RUNNING": 1, "PENDING": 4}, "RUNNING"),
    ({"COMPLETED": 2, "FAILED": 1, "CANCELLED": 1}, "FAILED"), ({"SUSPENDED": 1, "PENDING": 1}, "SUSPENDED"),
    ({"TIMEOUT": 1, "CANCELLED": 2}, "TIMEOUT")])
def test_one_word_for_the_job(states, word):
    assert job_state(states) == word


def test_counts_and_ages():
    assert counts({"CANCELLED": 3, "COMPLETED": 5}) == "8 (5 COMPLETED, 3 CANCELLED)"
    assert counts({"PENDING": 1}) == "1 (PENDING)"
    assert [ago(s) for s in (5, 61, 7200, 90000)] == ["5 s ago", "1 min ago", "2 h ago", "1 d ago"]
