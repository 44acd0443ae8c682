"""Pure parsers of console.jobs: times, memory, arrays, dependencies, hostlists, patterns,
#SBATCH directives, and the task state machine. Property tests where a round trip exists."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from console.jobs import directives as d
from console.jobs.model import FINISHED, TRANSITIONS, JobSpec, State, TransitionError, check_transition, final_state
from console.jobs.spec import (
    Dependencies,
    Dependency,
    PatternValues,
    SpecError,
    expand_pattern,
    format_dependency,
    format_hostlist,
    format_indices,
    format_time,
    parse_array,
    parse_dependency,
    parse_export,
    parse_hostlist,
    parse_mem,
    parse_time,
)

# --- time -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text,seconds", [
    ("10", 600), ("10:30", 660), ("1:02:03", 3780), ("2-3", 2 * 86400 + 3 * 3600),
    ("2-3:04", 2 * 86400 + 3 * 3600 + 240), ("1-00:00:05", 86460), ("0", None),
    ("UNLIMITED", None), ("infinite", None), ("90:00", 5400), ("0:30", 60), ("1:00", 60),
    ("30s", 30), ("0s", None)])
def test_time_forms(text, seconds):
    """As Slurm: seconds round up to whole minutes (sbatch --time=0:30 is 00:01:00);
    roost's own "30s" is exact."""
    assert parse_time(text) == seconds


@pytest.mark.parametrize("bad", ["", "1:2:3:4", "-5", "1h", "1-", "a:b", "1--2"])
def test_time_rejects(bad):
    with pytest.raises(SpecError, match="Invalid time limit"):
        parse_time(bad)


@given(st.integers(0, 30), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_time_all_forms_agree(days, h, m, s):
    total = -(-(days * 86400 + h * 3600 + m * 60 + s) // 60) * 60
    assert parse_time(f"{days}-{h}:{m}:{s}") == (total or None)
    assert parse_time(f"{days * 24 + h}:{m}:{s}") == (total or None)
    assert parse_time(f"{(days * 24 + h) * 60 + m}:{s}") == (total or None)


@given(st.integers(1, 10 ** 7))
def test_format_time_round_trips(seconds):
    assert parse_time(format_time(seconds)) == -(-seconds // 60) * 60
    assert parse_time(f"{seconds}s") == seconds


# --- memory ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,mb", [("100", 100), ("100M", 100), ("2G", 2048), ("1T", 1 << 20),
                                     ("1024K", 1), ("1K", 1), ("0", 0), ("4gb", 4096)])
def test_mem(text, mb):
    assert parse_mem(text) == mb


@pytest.mark.parametrize("bad", ["", "1.5G", "-1", "G", "12X"])
def test_mem_rejects(bad):
    with pytest.raises(SpecError, match="Invalid --mem"):
        parse_mem(bad)


@given(st.integers(0, 10 ** 6), st.sampled_from(["", "M", "G", "T"]))
def test_mem_units_scale(n, unit):
    assert parse_mem(f"{n}{unit}") == n * {"": 1, "M": 1, "G": 1024, "T": 1 << 20}[unit]


# --- arrays ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,indices,limit", [
    ("1-5", (1, 2, 3, 4, 5), None), ("0-15:4", (0, 4, 8, 12), None),
    ("1,3,5-7", (1, 3, 5, 6, 7), None), ("1-10%2", tuple(range(1, 11)), 2),
    ("7", (7,), None), ("3,1,3", (1, 3), None), ("1-7:2%3", (1, 3, 5, 7), 3)])
def test_array(text, indices, limit):
    spec = parse_array(text)
    assert (spec.indices, spec.limit) == (indices, limit)


@pytest.mark.parametrize("bad", ["", "5-1", "1-5:0", "1-5%0", "a", "1-", "1,,2", "1-5%x",
                                 "-3", "1-99999999"])
def test_array_rejects(bad):
    with pytest.raises(SpecError, match="array"):
        parse_array(bad)


ranges = st.tuples(st.integers(0, 500), st.integers(0, 60), st.integers(1, 9))


@given(st.lists(ranges, min_size=1, max_size=6), st.none() | st.integers(1, 50))
def test_array_matches_a_model(parts, limit):
    text = ",".join(f"{a}-{a + n}:{step}" for a, n, step in parts)
    text += f"%{limit}" if limit else ""
    expected = sorted({i for a, n, step in parts for i in range(a, a + n + 1, step)})
    spec = parse_array(text)
    assert list(spec.indices) == expected and spec.limit == limit


@given(st.sets(st.integers(0, 2000), min_size=1, max_size=200))
def test_format_indices_round_trips(indices):
    ordered = sorted(indices)
    assert list(parse_array(format_indices(ordered)).indices) == ordered


def test_array_of_ten_thousand_is_cheap():
    assert len(parse_array("1-10000").indices) == 10000


# --- dependencies ---------------------------------------------------------------------------

def test_dependency_forms():
    deps = parse_dependency("afterok:12:13,afterany:14_2")
    assert deps == Dependencies((Dependency("afterok", 12), Dependency("afterok", 13),
                                 Dependency("afterany", 14, 2)), False)
    assert parse_dependency("afternotok:5?afterok:6").any_of
    assert parse_dependency("after:9+10").items == (Dependency("after", 9),)


@pytest.mark.parametrize("bad", ["", "afterok", "afterok:", "singleton:3", "before:3",
                                 "afterok:x", "afterok:1,afterany:2?afterok:3"])
def test_dependency_rejects(bad):
    with pytest.raises(SpecError, match="dependency"):
        parse_dependency(bad)


dep = st.builds(Dependency, st.sampled_from(["after", "afterany", "afterok", "afternotok"]),
                st.integers(1, 10 ** 6), st.none() | st.integers(0, 10 ** 4))


@given(st.lists(dep, min_size=1, max_size=5), st.booleans())
def test_dependency_round_trips(items, any_of):
    deps = Dependencies(tuple(items), any_of and len(items) > 1)
    assert parse_dependency(format_dependency(deps)) == deps


# --- hostlists ------------------------------------------------------------------------------

def test_hostlist():
    assert parse_hostlist("n[1-3,7],ctl") == ("ctl", "n1", "n2", "n3", "n7")
    with pytest.raises(SpecError, match="Invalid hostlist"):
        parse_hostlist("n[3-1]")
    with pytest.raises(SpecError, match="Invalid hostlist"):
        parse_hostlist("n[1-")


@given(st.sets(st.integers(0, 300), min_size=1, max_size=40),
       st.sampled_from(["n", "rk1-", "pi"]))
def test_hostlist_round_trips(numbers, prefix):
    names = {f"{prefix}{i}" for i in numbers}
    assert set(parse_hostlist(format_hostlist(names))) == names


# --- patterns and export --------------------------------------------------------------------

VALUES = PatternValues(job_id=107, array_job_id=100, array_index=7, name="sim", node="n3",
                       user="pi")


@pytest.mark.parametrize("pattern,out", [
    ("slurm-%A_%a.out", "slurm-100_7.out"), ("%x-%j.log", "sim-107.log"),
    ("%N/%u/%4a", "n3/pi/0007"), ("100%%-%a", "100%-7"), ("plain", "plain"),
    ("%q%j", "%q107")])
def test_expand_pattern(pattern, out):
    assert expand_pattern(pattern, VALUES) == out


@given(st.text(alphabet=st.characters(blacklist_characters="%"), max_size=30))
def test_pattern_without_percent_is_literal(text):
    assert expand_pattern(text, VALUES) == text


def test_export():
    exp = parse_export("ALL,A=1,HOME2", {"HOME2": "/h", "HOME": "/root", "SSH_TTY": "x"})
    assert not exp.clean and exp.all
    # ALL: the submitting environment (not its session's names), then the listed values
    assert exp.inherited == (("HOME2", "/h"),) and exp.values == (("A", "1"), ("HOME2", "/h"))
    listed = parse_export("A=1", {"B": "2"})       # no ALL: only these, over the login env
    assert (listed.clean, listed.all, listed.values) == (False, False, (("A", "1"),))
    assert parse_export("NONE", {}).clean
    with pytest.raises(SpecError, match="--export"):
        parse_export("1A=2", {})


# --- directives -----------------------------------------------------------------------------

SCRIPT = """#!/bin/bash
# a comment
#SBATCH --job-name=sim
#SBATCH -c 2 --mem=1G   # trailing comment
#SBATCH --time 1:00:00
#SBATCH --array=1-4%2
#SBATCH --partition=debug
  #SBATCH --nodes=3
#SBATCH--exclusive
echo hi
#SBATCH --cpus-per-task=8
"""


def test_directives_and_cli_override():
    cli = d.parse_submit_argv(["-c", "3", "job.sh"])
    spec = d.build_spec(cli, SCRIPT, "job.sh", submit_dir="/w")
    assert (spec.name, spec.cpus, spec.mem_mb, spec.time_limit) == ("sim", 3, 1024, 3600)
    assert spec.array == (1, 2, 3, 4) and spec.array_limit == 2
    assert spec.exclusive                # "#SBATCH--exclusive" counts, as in sbatch
    assert spec.nodes == 1               # the indented line does not
    assert spec.warnings == (
        "job.sh:8: ignoring the indented #SBATCH line (only lines starting with it count, "
        "as in sbatch)",
        "job.sh:7: ignoring --partition=debug (the built-in queue has no partitions)")


def test_directive_after_first_command_is_ignored():
    spec = d.build_spec(d.parse_submit_argv([]), SCRIPT, "job.sh")
    assert spec.cpus == 2


def test_bad_directive_names_file_and_line():
    with pytest.raises(SpecError, match=r"^job.sh:2: Invalid time limit"):
        d.build_spec(d.parse_submit_argv([]), "#!/bin/sh\n#SBATCH -t 1:2:3:4\n", "job.sh")


def test_bad_flag_is_one_line():
    with pytest.raises(SpecError, match="unrecognized arguments: --bogus"):
        d.parse_submit_argv(["--bogus", "x.sh"])
    with pytest.raises(SpecError, match="not permitted with --wrap"):
        d.spec_from_args(d.parse_submit_argv(["--wrap", "true", "x.sh"]), "x.sh", "true")


@pytest.mark.parametrize("argv, spread, warned", [
    ([], False, False), (["--spread-job"], True, False), (["-m", "cyclic"], True, False),
    (["--distribution=block"], False, False), (["-m", "*"], False, False),
    (["-m", "cyclic:block"], True, True), (["-m", "block,NoPack"], True, True),
])
def test_spread_from_spread_job_or_cyclic_distribution(argv, spread, warned):
    spec = d.spec_from_args(d.parse_submit_argv([*argv, "--wrap", "true", "-a", "1-4"]), None,
                            "true")
    assert spec.spread is spread and bool(spec.warnings) is warned, spec.warnings
    assert JobSpec.from_json(spec.to_json(), spec.array) == spec


def test_spread_directives_and_a_bad_distribution_name_file_and_line():
    script = "#!/bin/sh\n#SBATCH --spread-job\n"
    assert d.build_spec(d.parse_submit_argv([]), script, "job.sh").spread
    assert d.build_spec(d.parse_submit_argv([]), "#!/bin/sh\n#SBATCH -m cyclic\n", "j.sh").spread
    with pytest.raises(SpecError, match=r"^job.sh:2: -m plane=4: roost distributes tasks"):
        d.build_spec(d.parse_submit_argv([]), "#!/bin/sh\n#SBATCH -m plane=4\n", "job.sh")
    with pytest.raises(SpecError, match=r"^-m arbitrary: roost distributes"):
        d.spec_from_args(d.parse_submit_argv(["-m", "arbitrary", "--wrap", "true"]), None, "true")
    old = JobSpec.from_json(JobSpec(script="x").to_json().replace(',"spread":false', ""))
    assert old.spread is False           # a job queued before the field: packed


def test_wrap_and_spec_json_round_trip():
    cli = d.parse_submit_argv(["--wrap", "echo hi", "-d", "afterok:3_1", "-w", "n[1-2]",
                               "--export=NONE,A=b", "--requeue", "-a", "0-2"])
    spec = d.spec_from_args(cli, None, cli.wrap)
    again = JobSpec.from_json(spec.to_json(), spec.array)
    assert again == spec and spec.script == "#!/bin/sh\necho hi\n"
    assert spec.nodelist == ("n1", "n2") and spec.requeue and spec.name == "wrap"


# --- state machine --------------------------------------------------------------------------

def test_finished_states_are_terminal_except_requeue():
    for state in FINISHED - {State.NODE_FAIL}:
        assert not TRANSITIONS[state]
    check_transition(State.NODE_FAIL, State.PENDING)
    with pytest.raises(TransitionError):
        check_transition(State.COMPLETED, State.RUNNING)
    with pytest.raises(TransitionError):
        check_transition(State.PENDING, State.COMPLETED)


@given(st.none() | st.integers(0, 255), st.sampled_from([None, "cancel", "timeout", "oom"]))
def test_final_state(code, kill):
    state = final_state(code, kill)
    assert state.done
    if kill is None:
        assert (state is State.COMPLETED) == (code == 0)


def test_jobs_package_is_ui_free():
    import subprocess
    import sys
    code = ("import sys, console.jobs.cli, console.jobs.scheduler, console.jobs.service;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'plotext')];"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_relative_chdir_is_from_the_submit_dir():
    spec = d.build_spec(d.parse_submit_argv(["-D", "sub"]), "#!/bin/sh\n", "j", submit_dir="/w")
    assert spec.chdir == "/w/sub" and spec.work_dir == "/w/sub"


values = st.fixed_dictionaries({}, optional={
    "--job-name": st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    "--cpus-per-task": st.integers(1, 64).map(str),
    "--mem": st.sampled_from(["100", "2G", "512M"]),
    "--time": st.sampled_from(["10", "1:00:00", "2-0", "30:00"]),
    "--array": st.sampled_from(["1-10", "0-20:5%2", "3,5,9"]),
    "--dependency": st.sampled_from(["afterok:3", "afterany:1_2?afternotok:4"]),
    "--nodelist": st.sampled_from(["n[1-3]", "pi1,pi2"]),
    "--requeue": st.just(None)})


@given(values)
def test_directives_and_flags_mean_the_same(opts):
    def argv(sep):
        out = []
        for flag, value in opts.items():
            out += [flag] if value is None else ([f"{flag}={value}"] if sep else [flag, value])
        return out
    script = "#!/bin/sh\n" + "".join(f"#SBATCH {a}\n" for a in argv(True)) + "true\n"
    from_script = d.build_spec(d.parse_submit_argv([]), script, "j", submit_dir="/w")
    from_flags = d.build_spec(d.parse_submit_argv(argv(False)), "#!/bin/sh\ntrue\n", "j",
                              submit_dir="/w")
    strip = lambda s: (s.name, s.cpus, s.mem_mb, s.time_limit, s.array, s.array_limit,  # noqa
                       s.dependencies, s.nodelist, s.requeue)
    assert strip(from_script) == strip(from_flags)
