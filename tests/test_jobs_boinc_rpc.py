"""The pure half of BOINC support: GUI RPC framing, auth, reply parsing, settings, CLI formatting."""
from __future__ import annotations

import hashlib
import math
import os

import pytest
from hypothesis import assume, given, settings, strategies as st

from console.jobs import boinc_rpc as rpc
from console.jobs.boinc import BoincConfigError, BoincSettings, local_password, settings_for
from console.jobs.boinc_cli import clean, format_duration, format_table
from console.jobs.boinc_rpc import BoincRpcError, BoincTask

# Captured from boinc 7.20.5 (Debian 12) running the lab's apisleep tasks; the client writes
# names unescaped, so this reply is not even well-formed XML.
REAL_RESULTS = b"""<boinc_gui_rpc_reply>
<results>
<result>
    <name>wu2 'q' & "d" <x> \xc3\xbc</name>
    <wu_name>wu1</wu_name>
    <platform>x86_64-pc-linux-gnu</platform>
    <version_num>100</version_num>
    <plan_class></plan_class>
    <project_url>http://lab.invalid/test/</project_url>
    <final_cpu_time>0.000000</final_cpu_time>
    <final_elapsed_time>0.000000</final_elapsed_time>
    <exit_status>0</exit_status>
    <state>2</state>
    <report_deadline>1796026418.000000</report_deadline>
    <received_time>1795421618.000000</received_time>
    <estimated_cpu_time_remaining>297.500000</estimated_cpu_time_remaining>
<active_task>
    <active_task_state>1</active_task_state>
    <app_version_num>100</app_version_num>
    <slot>0</slot>
    <pid>24993</pid>
    <scheduler_state>2</scheduler_state>
    <checkpoint_cpu_time>0.000000</checkpoint_cpu_time>
    <fraction_done>0.008333</fraction_done>
    <current_cpu_time>0.004089</current_cpu_time>
    <elapsed_time>4.019019</elapsed_time>
    <swap_size>0.000000</swap_size>
   <progress_rate>0.002774</progress_rate>
</active_task>
</result>
<result>
    <name>wu3_0</name>
    <wu_name>wu3</wu_name>
    <project_url>http://lab.invalid/test/</project_url>
    <final_cpu_time>0.000000</final_cpu_time>
    <final_elapsed_time>0.000000</final_elapsed_time>
    <exit_status>203</exit_status>
    <state>6</state>
    <report_deadline>1796026418.000000</report_deadline>
</result>
</results>
</boinc_gui_rpc_reply>
\x03"""
REAL_PROJECTS = b"""<boinc_gui_rpc_reply>
<projects>
<project>
    <master_url>http://lab.invalid/test/</master_url>
    <project_name>Lab <T> & "Co" \xc3\xbc</project_name>
    <resource_share>100.000000</resource_share>
</project>
</projects>
</boinc_gui_rpc_reply>
\x03"""


def test_frame_is_boincs_wire_format():
    assert rpc.frame("<get_results/>") == \
        b"<boinc_gui_rpc_request>\n<get_results/>\n</boinc_gui_rpc_request>\n\x03"


def test_auth2_is_md5_of_nonce_then_password():
    digest = hashlib.md5(b"1795421622.366701labpass").hexdigest()
    assert rpc.auth2_body("1795421622.366701", "labpass") == \
        f"<auth2>\n<nonce_hash>{digest}</nonce_hash>\n</auth2>"
    body = rpc.reply_body(b"<boinc_gui_rpc_reply>\n<nonce>1795421622.366701</nonce>\n"
                          b"</boinc_gui_rpc_reply>\n\x03")
    assert rpc.parse_nonce(body) == "1795421622.366701"


def test_real_reply_parses():
    projects = rpc.parse_projects(rpc.reply_body(REAL_PROJECTS))
    assert projects == {"http://lab.invalid/test/": 'Lab <T> & "Co" ü'}
    running, aborted = rpc.parse_results(rpc.reply_body(REAL_RESULTS), "n1", projects)
    assert running == BoincTask(
        node="n1", project_url="http://lab.invalid/test/", project_name='Lab <T> & "Co" ü',
        name="wu2 'q' & \"d\" <x> ü", state="Running", fraction_done=0.008333,
        elapsed=4.019019, deadline=1796026418.0, result_state=2, active_state=1,
        scheduler_state=2, cpu_time=0.004089, remaining=297.5, received=1795421618.0,
        wu_name="wu1")
    assert (aborted.state, aborted.active_state, aborted.fraction_done) == ("Aborted by user", None, 0.0)


def test_error_replies():
    with pytest.raises(BoincRpcError, match="unauthorized"):
        rpc.parse_success(rpc.reply_body(b"<boinc_gui_rpc_reply>\n<unauthorized/>\n</boinc_gui_rpc_reply>\n\x03"))
    with pytest.raises(BoincRpcError, match="No such result"):
        rpc.parse_success("<error>No such result</error>")
    rpc.parse_success("\n<success/>\n")
    with pytest.raises(BoincRpcError, match="not a GUI RPC reply"):
        rpc.reply_body(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert not rpc.parse_authorized("<unauthorized/>") and rpc.parse_authorized("<authorized/>")


def test_op_body_escapes_and_rejects_unknown_ops():
    body = rpc.op_body("suspend", "http://x/?a=1&b=2", "<n> & 'q'")
    assert body == ("<suspend_result>\n<project_url>http://x/?a=1&amp;b=2</project_url>\n"
                    "<name>&lt;n&gt; &amp; &apos;q&apos;</name>\n</suspend_result>")
    with pytest.raises(ValueError):
        rpc.op_body("reset", "u", "n")


@pytest.mark.parametrize("kw, text", [
    (dict(result_state=2, active_state=1, scheduler_state=2), "Running"),
    (dict(result_state=2, active_state=9, scheduler_state=2), "Suspended"),
    (dict(result_state=2, active_state=9, scheduler_state=1), "Waiting to run"),
    (dict(result_state=2, active_state=None, scheduler_state=None), "Ready to start"),
    (dict(result_state=2, active_state=1, scheduler_state=2, suspended=True), "Suspended by user"),
    (dict(result_state=2, project_suspended=True), "Project suspended by user"),
    (dict(result_state=2, active_state=5, scheduler_state=2), "Aborting"),
    (dict(result_state=1), "Downloading"),
    (dict(result_state=3), "Compute error"),
    (dict(result_state=4), "Uploading"),
    (dict(result_state=5, ready_to_report=True), "Ready to report"),
    (dict(result_state=6, exit_status=203), "Aborted by user"),
    (dict(result_state=6, exit_status=202), "Aborted by project"),
    (dict(result_state=6), "Aborted"),
    (dict(result_state=42), "State 42"),
])
def test_describe(kw, text):
    base = dict(result_state=2, suspended=False, project_suspended=False, ready_to_report=False,
                exit_status=0, active_state=None, scheduler_state=None)
    assert rpc.describe(**{**base, **kw}) == text


# ---- properties ------------------------------------------------------------------------------

# anything XML can carry except the frame terminator; surrogates cannot be encoded
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x03"), max_size=40)


def render(name, url, project, fraction, elapsed, deadline, state, suspended, esc) -> tuple[bytes, bytes]:
    """A reply pair as a BOINC client writes it; esc=False is 7.20's raw (unescaped) output."""
    e = rpc.escape if esc else (lambda s: s)
    results = (f"<boinc_gui_rpc_reply>\n<results>\n<result>\n    <name>{e(name)}</name>\n"
               f"    <project_url>{e(url)}</project_url>\n    <state>{state}</state>\n"
               f"    <report_deadline>{deadline:f}</report_deadline>\n"
               f"{'    <suspended_via_gui/>' if suspended else ''}\n<active_task>\n"
               f"    <active_task_state>1</active_task_state>\n    <scheduler_state>2</scheduler_state>\n"
               f"    <fraction_done>{fraction:f}</fraction_done>\n"
               f"    <elapsed_time>{elapsed:f}</elapsed_time>\n</active_task>\n</result>\n</results>\n"
               "</boinc_gui_rpc_reply>\n\x03")
    projects = (f"<boinc_gui_rpc_reply>\n<projects>\n<project>\n    <master_url>{e(url)}</master_url>\n"
                f"    <project_name>{e(project)}</project_name>\n</project>\n</projects>\n"
                "</boinc_gui_rpc_reply>\n\x03")
    return results.encode(), projects.encode()


def parse(results: bytes, projects: bytes) -> list[BoincTask]:
    names = rpc.parse_projects(rpc.reply_body(projects))
    return rpc.parse_results(rpc.reply_body(results), "n1", names)


@given(name=TEXT, url=TEXT, project=TEXT.filter(bool), fraction=st.floats(0, 1),
       elapsed=st.floats(0, 1e7), deadline=st.floats(0, 4e9), suspended=st.booleans())
@settings(max_examples=300, deadline=None)
def test_escaped_strings_round_trip(name, url, project, fraction, elapsed, deadline, suspended):
    task, = parse(*render(name, url, project, fraction, elapsed, deadline, 2, suspended, True))
    assert (task.name, task.project_url, task.project_name) == (name, url, project)
    assert task.fraction_done == pytest.approx(fraction, abs=1e-6)
    assert task.elapsed == pytest.approx(elapsed, abs=1e-6)
    assert task.deadline == pytest.approx(deadline, abs=1e-6)
    assert task.suspended == suspended
    assert task.state == ("Suspended by user" if suspended else "Running")


def _raw_safe(s: str) -> bool:
    # what a raw (unescaped) writer cannot carry: closing tags and entity look-alikes
    return "</" not in s and rpc.unescape(s) == s and "<" not in s[-1:] and "<active_task>" not in s


@given(name=TEXT, url=TEXT, project=TEXT.filter(bool))
@settings(max_examples=300, deadline=None)
def test_raw_strings_as_boinc_7_20_writes_them_survive(name, url, project):
    assume(all(map(_raw_safe, (name, url, project))))
    task, = parse(*render(name, url, project, 0.5, 1.0, 1.0, 2, False, False))
    assert (task.name, task.project_url, task.project_name) == (name, url, project)


@given(TEXT)
def test_escape_then_boincs_unescape_is_identity(text):
    assert rpc.unescape(rpc.escape(text)) == text
    body = rpc.op_body("abort", text, text)
    assert rpc.field(body, "name") == text and rpc.field(body, "project_url") == text


@given(st.binary(max_size=400) | TEXT.map(str.encode))
@settings(max_examples=300, deadline=None)
def test_garbage_replies_raise_only_rpc_errors(data):
    for raw in (data, b"<boinc_gui_rpc_reply>" + data + b"</boinc_gui_rpc_reply>\x03"):
        try:
            body = rpc.reply_body(raw)
            rpc.parse_results(body, "n1", rpc.parse_projects(body))
        except BoincRpcError:
            pass


@given(st.sampled_from(["inf", "-inf", "nan", "1e400", "x", "", "9" * 30]),
       st.sampled_from(["state", "exit_status", "active_task_state", "scheduler_state",
                        "fraction_done", "elapsed_time", "report_deadline"]))
def test_odd_numbers_fall_back_instead_of_raising(value, tag):
    results, projects = render("n", "u", "p", 0.5, 1.0, 1.0, 2, False, True)
    results = results.replace(f"<{tag}>".encode(), f"<{tag}>{value}<x>".encode())
    results = results.replace(b"<x>", b"</" + tag.encode() + b"><ignored>")
    task, = parse(results, projects)
    assert 0.0 <= task.fraction_done <= 1.0
    assert all(math.isfinite(v) for v in (task.elapsed, task.deadline, task.cpu_time))


@given(st.lists(st.tuples(TEXT, st.floats(0, 1), st.floats(0, 1e6)), max_size=5))
def test_table_has_one_line_per_task_whatever_the_names(rows):
    tasks = [BoincTask("n1", "u", "p", name, "Running", f, e, 0.0) for name, f, e in rows]
    lines = format_table(tasks).split("\n")
    assert len(lines) == len(tasks) + 1


# ---- settings and passwords ------------------------------------------------------------------

def test_settings_defaults_and_per_node_override():
    assert settings_for({}, "n1") == BoincSettings()
    boinc = {"port": 31417, "auth_file": "/a", "nodes": {"n2": {"port": 4000}}}
    assert settings_for(boinc, "n1") == BoincSettings(port=31417, auth_files=("/a",))
    assert settings_for(boinc, "n2") == BoincSettings(port=4000, auth_files=("/a",))


@pytest.mark.parametrize("boinc, message", [
    ({"prot": 1}, "jobs.boinc.prot: unknown key"),
    ({"port": "x"}, "jobs.boinc.port: expected an integer, got 'x'"),
    ({"port": 70000}, "jobs.boinc.port: expected a port 1-65535, got 70000"),
    ({"nodes": {"n1": {"timeout": True}}}, "jobs.boinc.nodes.n1.timeout: expected"),
    (3, "jobs.boinc: expected a table"),
])
def test_bad_settings_name_the_key(boinc, message):
    with pytest.raises(BoincConfigError, match=message.replace(".", r"\.")):
        settings_for(boinc, "n1")


def test_password_file_must_be_private(tmp_path):
    path = tmp_path / "pw"
    path.write_text("secret\n")
    path.chmod(0o644)
    with pytest.raises(BoincConfigError, match="readable by others") as err:
        local_password(BoincSettings(password_file=str(path)))
    assert "secret" not in str(err.value)
    path.chmod(0o600)
    assert local_password(BoincSettings(password_file=str(path))).value == "secret"


def test_password_env(monkeypatch):
    monkeypatch.delenv("ROOST_TEST_PW", raising=False)
    missing = local_password(BoincSettings(password_env="ROOST_TEST_PW"))
    assert missing.value is None and "not set" in missing.source
    monkeypatch.setenv("ROOST_TEST_PW", "s3cret")
    got = local_password(BoincSettings(password_env="ROOST_TEST_PW"))
    assert got.value == "s3cret" and "s3cret" not in got.source
    assert local_password(BoincSettings()) is None
    assert "ROOST_TEST_PW" in os.environ


def test_cli_formatting():
    assert clean("a\x1b[2Jb\n") == "a\\x1b[2Jb\\x0a"
    assert format_duration(3725.9) == "1:02:05"
    assert format_duration(-1) == "0:00:00"
