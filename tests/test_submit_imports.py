"""A submission from a shell loop stays cheap: `bsub` and `roost submit` start Python once per
line, so what they import is paid a thousand times in a thousand-line loop (issue 15; see
bench/bench_submit.py for the figures). These tests fail when the submit path starts importing
the heavy modules again; they assert no wall time (the machine is shared and noisy).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import QUICK_COMMANDS, build_parser, quick_command
from tests.helpers.seed_user import user_home

# Nothing a submission needs: the TUI, SSH (asyncssh, cryptography), YAML inventories, the
# scheduler and asyncio, log files. (ClusterShell, which expands pi[1-4] and brings subprocess
# and logging, and hashlib for the queue's name are paid: a hand-made expander was not worth
# the ~13 ms.)
HEAVY = ("textual", "rich", "plotext", "asyncssh", "cryptography", "yaml",
         "asyncio", "logging.handlers", "secrets", "psutil", "httpx",
         "console.jobs.service", "console.jobs.scheduler", "console.jobs.queue_view",
         "console.inventory", "console.sshconfig", "collectors.model", "collectors.transport")

RUN = """
import json, sys
sys.argv = {argv!r}
from {module} import {function} as entry
try:
    status = entry()
except SystemExit as exc:
    status = exc.code
print(json.dumps({{"status": status, "modules": sorted(sys.modules)}}), file=sys.stderr)
"""


@pytest.fixture
def user(tmp_path):
    """A user as the seed workflow has one (a queue a scheduler has seen the nodes of)."""
    return user_home(tmp_path)


def submit_modules(env: dict, module: str, function: str, argv: list[str]) -> set[str]:
    code = RUN.format(argv=argv, module=module, function=function)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, cwd=Path(env["HOME"]))
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result["status"] in (0, None), done.stderr
    return set(result["modules"])


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_a_bsub_line_imports_nothing_heavy(user):
    modules = submit_modules(user, "console.jobs.lsf_cli", "bsub_main",
                             ["bsub", "-J", "j1", "-o", "/dev/null", "echo", "1"])
    assert "console.jobs.store" in modules          # it did submit
    assert heavy(modules) == []


def test_a_bsub_array_with_a_dependency_imports_nothing_heavy(user):
    submit_modules(user, "console.jobs.lsf_cli", "bsub_main", ["bsub", "-J", "first", "true"])
    modules = submit_modules(user, "console.jobs.lsf_cli", "bsub_main",
                             ["bsub", "-J", "primes[1-10]%2", "-w", "done(first)", "-n", "2",
                              "-o", "out.%J.%I", "echo", "$LSB_JOBINDEX"])
    assert heavy(modules) == []


def test_a_roost_submit_line_imports_nothing_heavy(user):
    modules = submit_modules(user, "console.cli", "main",
                             ["roost", "submit", "-J", "j1", "-o", "/dev/null", "--wrap", "echo 1"])
    assert "console.jobs.store" in modules
    assert heavy(modules) == []
    assert not any(m.startswith(("console.collect", "console.power", "console.ray", "console.demo"))
                   for m in modules)        # only the job commands' parsers were built


def test_a_script_with_directives_imports_nothing_heavy(user):
    script = Path(user["HOME"]) / "job.sh"
    script.write_text("#!/bin/sh\n#SBATCH -J x\n#SBATCH --array=1-4\n#SBATCH -w pi[1-2]\nhostname\n")
    modules = submit_modules(user, "console.cli", "main", ["roost", "submit", str(script)])
    assert heavy(modules) == []


@pytest.mark.parametrize("argv, command", [
    (["submit", "--wrap", "true"], "submit"),
    (["--config", "x.toml", "-v", "bsub", "true"], "bsub"),
    (["-c", "x.toml", "submit", "-c", "2", "--wrap", "true"], "submit"),
    (["--state-dir=/s", "queue"], "queue"),
    (["--conf", "x.toml", "submit"], None),       # an abbreviation: the whole parser decides
    (["nodes"], None), (["--state-dir"], None), ([], None),
])
def test_the_quick_command_is_found_only_after_spelled_out_global_options(argv, command):
    assert quick_command(argv) == command


@pytest.mark.parametrize("argv", [
    ["--state-dir", "/s", "submit", "-J", "x", "-a", "1-3", "--wrap", "true"],
    ["-v", "queue", "-u", "me", "--json"],
    ["bsub", "-J", "a[1-4]", "-w", "done(3)", "echo", "hi"],
    ["cancel", "-n", "x", "3"], ["acct", "-j", "4"], ["job", "5"],
    ["-c", "x.toml", "submit", "-c", "2", "--wrap", "true"],
])
def test_the_quick_parser_parses_as_the_whole_one(argv):
    """`roost submit` builds only the job commands' parsers: the same namespace either way."""
    quick = vars(build_parser(quick_command(argv)).parse_args(argv))
    whole = vars(build_parser().parse_args(argv))
    assert quick_command(argv) in QUICK_COMMANDS
    strip = lambda ns: {k: v for k, v in ns.items() if not callable(v)}   # noqa: E731 - handlers are closures
    assert strip(quick) == strip(whole)
    assert quick["jobs_handler"].__qualname__ == whole["jobs_handler"].__qualname__


def test_dash_c_before_the_command_is_the_config_and_after_submit_the_cpus():
    """`roost -c FILE` is --config (as most tools spell it); sbatch's -c (cpus per task) stays
    the job's after `submit`."""
    ns = build_parser().parse_args(["-c", "site.toml", "submit", "-c", "2", "--wrap", "true"])
    assert ns.config == "site.toml" and ns.cpus == "2"    # directives check it later
    assert build_parser().parse_args(["-c", "site.toml", "nodes"]).config == "site.toml"
