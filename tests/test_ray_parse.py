"""console.ray.parse: Ray 2.60's documents (captured from a real cluster) -> roost's view."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from console.jobs.model import State
from console.ray import parse
from console.ray.parse import RayNode

# GET /api/jobs/ from a two-node Ray 2.60 cluster (trimmed to the keys roost reads)
JOBS = json.loads(r"""[
 {"type": "SUBMISSION", "job_id": null, "submission_id": "roost-2", "driver_info": null,
  "status": "STOPPED", "entrypoint": "sleep 100", "message": "Job was intentionally stopped.",
  "error_type": null, "start_time": 1796416842349, "end_time": 1796416848196, "metadata": null,
  "driver_node_id": "2f758dc7e0d7", "driver_exit_code": null},
 {"type": "SUBMISSION", "job_id": "02000000", "submission_id": "roost-1",
  "status": "RUNNING", "entrypoint": "python -c \"import ray\"",
  "message": "Job is currently running.", "error_type": null, "start_time": 1796416842286,
  "end_time": null, "metadata": {"roost.name": "square", "roost.user": "pi"},
  "driver_node_id": "c351bf5943cf", "driver_exit_code": null},
 {"type": "SUBMISSION", "job_id": null, "submission_id": "roost-3", "status": "FAILED",
  "entrypoint": "echo oops >&2; exit 3",
  "message": "Job entrypoint command failed with exit code 3, last available logs (truncated to 20,000 chars):\n2026-12-04 20:40:42,631\tINFO job_manager.py:581 -- Runtime env is setting up.\noops\n\u001b[1m\u001b[32mRunning\u001b[39m\n",
  "error_type": "JOB_ENTRYPOINT_COMMAND_ERROR", "start_time": 1796416842616,
  "end_time": 1796416845000, "metadata": null, "driver_node_id": "2f758dc7e0d7",
  "driver_exit_code": 3},
 {"type": "DRIVER", "job_id": "05000000", "submission_id": null, "status": "SUCCEEDED",
  "entrypoint": "", "message": null}
]""")  # noqa: E501 - a reply captured from Ray, kept byte for byte

NODES = json.loads(r"""{"result": true, "msg": "", "data": {"result": {"total": 3,
 "num_after_truncation": 3, "num_filtered": 3, "result": [
 {"node_id": "2f758dc7e0d7", "node_ip": "127.0.0.2", "is_head_node": true, "state": "ALIVE",
  "node_name": "n1", "resources_total": {"CPU": 1.0, "object_store_memory": 100000000.0},
  "labels": {"roost.node": "n1", "ray.io/node-id": "2f758dc7e0d7"}, "start_time_ms": 1796416832525},
 {"node_id": "aaaa", "node_ip": "127.0.0.3", "is_head_node": false, "state": "DEAD",
  "node_name": "n2", "resources_total": {}, "labels": {"roost.node": "n2"},
  "start_time_ms": 1796416800000},
 {"node_id": "c351bf5943cf", "node_ip": "127.0.0.3", "is_head_node": false, "state": "ALIVE",
  "node_name": "n2", "resources_total": {"CPU": 2.0}, "labels": {"roost.node": "n2"},
  "start_time_ms": 1796416836616}],
 "partial_failure_warning": "", "warnings": null}}}""")

SUMMARY = json.loads(r"""{"result": true, "msg": "", "data": {"result": {"total": 5,
 "result": {"node_id_to_summary": {"cluster": {"summary": {
  "slow": {"func_or_class_name": "slow", "type": "NORMAL_TASK", "state_counts": {"RUNNING": 2}},
  "<lambda>": {"func_or_class_name": "<lambda>", "type": "NORMAL_TASK",
               "state_counts": {"FINISHED": 5, "FAILED": 1}},
  "Counter.inc": {"func_or_class_name": "Counter.inc", "type": "ACTOR_TASK",
                  "state_counts": {"FINISHED": 1, "PENDING_NODE_ASSIGNMENT": 3,
                                   "RUNNING_IN_RAY_GET": 1}}},
  "total_tasks": 5, "summary_by": "func_name"}}}}}}""")

USAGE = json.loads(r"""{"result": true, "msg": "Got cluster status.", "data": {"clusterStatus":
 {"loadMetricsReport": {"usageByNode": {
  "2f758dc7e0d7": {"CPU": [1.0, 1.0], "memory": [0.0, 24486108928.0]},
  "c351bf5943cf": {"CPU": [0.0, 2.0]}}}}}}""")

# the body of HTTP 500 for a submission id Ray already has
DUPLICATE = """Traceback (most recent call last):
  File "/x/ray/dashboard/modules/job/job_head.py", line 419, in submit_job
    resp = await job_agent_client.submit_job_internal(submit_request)
RuntimeError: Request failed with status code 400: Traceback (most recent call last):
  File "/x/ray/dashboard/modules/job/job_manager.py", line 553, in submit_job
    raise ValueError(
ValueError: Job with submission_id roost-3 already exists. Please use a different submission_id.
.
"""


def test_jobs_states_map_to_roost_names_and_driver_only_jobs_are_left_out():
    jobs = {j.submission_id: j for j in parse.parse_jobs(JOBS)}
    assert set(jobs) == {"roost-1", "roost-2", "roost-3"}
    assert jobs["roost-2"].state is State.CANCELLED
    assert jobs["roost-1"].state is State.RUNNING and jobs["roost-1"].name == "square"
    assert jobs["roost-1"].user == "pi" and jobs["roost-1"].number == 1
    failed = jobs["roost-3"]
    assert failed.state is State.FAILED and failed.exit_code == 3
    assert failed.reason == ("exit 3: Job entrypoint command failed with exit code 3 "
                             "[JOB_ENTRYPOINT_COMMAND_ERROR]")
    assert failed.elapsed(0) == pytest.approx(2.384)
    assert jobs["roost-1"].elapsed(1796416843286) == pytest.approx(1.0)


@pytest.mark.parametrize("status,error,state", [
    ("SUCCEEDED", None, State.COMPLETED), ("STOPPED", None, State.CANCELLED),
    ("PENDING", None, State.PENDING), ("FAILED", "JOB_SUPERVISOR_ACTOR_DIED", State.NODE_FAIL),
    ("FAILED", "JOB_ENTRYPOINT_COMMAND_ERROR", State.FAILED), ("NEWFANGLED", None, State.PENDING)])
def test_every_ray_status_has_a_roost_state(status, error, state):
    job = parse.parse_job({"submission_id": "x", "status": status, "error_type": error})
    assert job.state is state


def test_a_message_with_escape_codes_reaches_the_terminal_as_text():
    job = parse.parse_job(JOBS[2])
    assert "\x1b" not in parse.clean(job.message) and "Running" in parse.clean(job.message)


def test_a_document_that_is_not_a_job_is_one_parse_error():
    for doc in ({"status": "RUNNING"}, "nope", [1]):
        with pytest.raises(parse.ParseError):
            parse.parse_job(doc)
    with pytest.raises(parse.ParseError):
        parse.parse_jobs({"jobs": []})


def test_nodes_usage_and_fleet_mapping_prefer_the_live_entry():
    nodes = parse.parse_nodes(NODES)
    assert [n.state for n in nodes] == ["ALIVE", "DEAD", "ALIVE"]
    mapped = parse.fleet_map(nodes, {"n1": "pi1.local", "n2": "127.0.0.3", "n9": "10.0.0.9"})
    assert mapped["n1"].node_id == "2f758dc7e0d7" and mapped["n2"].node_id == "c351bf5943cf"
    assert "n9" not in mapped
    usage = parse.parse_usage(USAGE)
    assert usage == {"2f758dc7e0d7": (1.0, 1.0), "c351bf5943cf": (0.0, 2.0)}
    assert parse.parse_usage({"data": {}}) == {}


def test_a_node_without_the_label_maps_by_address_and_a_foreign_one_not_at_all():
    bare = RayNode("x1", "10.0.0.5", "whatever", "ALIVE")
    foreign = RayNode("x2", "10.0.0.6", "n1", "ALIVE", labels={"roost.node": "elsewhere"})
    mapped = parse.fleet_map([bare, foreign], {"rk1": "10.0.0.5", "n1": "pi1"})
    assert mapped == {"rk1": bare}


def test_state_api_refusal_is_one_parse_error_with_rays_words():
    with pytest.raises(parse.ParseError, match="too many"):
        parse.unwrap({"result": False, "msg": "too many\nrequests", "data": {}})


def test_summary_counts_running_pending_finished_failed_busiest_first():
    rows = parse.parse_summary(SUMMARY)
    assert [r.name for r in rows] == ["slow", "Counter.inc", "<lambda>"]
    inc = rows[1]
    assert (inc.pending, inc.running, inc.finished, inc.failed) == (3, 1, 1, 0)
    assert (rows[2].finished, rows[2].failed) == (5, 1)


def test_duplicate_submission_is_detected_and_named_in_one_line():
    assert parse.is_duplicate(500, DUPLICATE)
    assert parse.error_line(500, DUPLICATE) == (
        "ValueError: Job with submission_id roost-3 already exists. Please use a different "
        "submission_id.")
    assert parse.error_line(404, "") == "HTTP 404"
    assert parse.error_line(500, "A file is not found at: /tmp/x.log") == \
        "A file is not found at: /tmp/x.log"


@given(st.text())
def test_error_and_one_line_are_one_printable_line_for_any_body(body):
    for line in (parse.error_line(500, body), parse.one_line(body)):
        assert "\n" not in line and "\r" not in line and "\x1b" not in line
        assert all(ord(c) >= 32 and not 0x7f <= ord(c) <= 0x9f for c in line)
        assert len(line) <= 300


@given(st.integers(min_value=1, max_value=10**12))
def test_roost_numbers_round_trip_through_submission_ids(n):
    assert parse.number_of(parse.submission_id(n)) == n


@pytest.mark.parametrize("sid", ["raysubmit_abc", "roost-", "roost-01", "roost-1x", "xroost-1"])
def test_other_submission_ids_have_no_roost_number(sid):
    assert parse.number_of(sid) is None


@pytest.mark.parametrize("name,ok", [("n1", True), ("rk1.rack-2", True), ("a" * 63, True),
                                     ("a" * 64, False), ("n1-", False), ("_x", False)])
def test_label_values_follow_rays_rule(name, ok):
    assert parse.label_value_ok(name) is ok
