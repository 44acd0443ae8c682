"""Shell completion: the spec made from the real parser, the engine walking typed words, and the
three real shells (bash's COMP_WORDS API, fish's `complete -C`, zsh typing TAB in tmux) running
the scripts `roost completion SHELL` prints, against a real config and a real job queue."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from console.cli import build_parser, main
from console.completion.engine import candidates
from console.completion.sources import Source
from console.completion.spec import Spec, build_spec
from tests.conftest import need
from tests.lab.tmux import Tmux, need_tmux

BIN = Path(sys.executable).parent
ROOST = BIN / "roost"
SPEC_TEXT = build_spec(build_parser())
SPEC = Spec.parse(SPEC_TEXT)
CONFIG = ('[[nodes]]\nnames = "n[1-4]"\nhost = "127.0.0.{index}"\n'
          '[[nodes]]\nnames = "ctl"\nhost = "127.0.0.9"\n[groups]\nrack1 = "n[1-2]"\nrack2 = "n[3-4]"\n')
NODES = ["n1", "n2", "n3", "n4", "ctl", "@rack1", "@rack2", "@all"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A user with a roost.toml in the current directory and a queue holding jobs 1 and 2."""
    from console.config import load_config
    from console.jobs.directives import build_spec as job_spec, parse_submit_argv
    from console.jobs.service import open_store
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (tmp_path / "roost.toml").write_text(CONFIG)
    with open_store(load_config(tmp_path / "roost.toml", state_dir=state, env={})) as store:
        for _ in range(2):
            store.submit(job_spec(parse_submit_argv([]), "#!/bin/sh\ntrue\n", "job.sh", submit_dir="/w"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROOST_", "XDG_"))}
    env.update(HOME=str(tmp_path), ROOST_STATE_DIR=str(state), PATH=f"{BIN}:{env['PATH']}",
               XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    for key in [k for k in os.environ if k.startswith(("ROOST_", "XDG_"))]:
        monkeypatch.delenv(key)
    for key in ("HOME", "ROOST_STATE_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.chdir(tmp_path)
    return env


def offer(*words: str) -> list[str]:
    *before, current = words
    return candidates(SPEC, before, current, Source)


def test_the_spec_covers_every_subcommand_and_is_safe_in_single_quotes():
    assert "'" not in SPEC_TEXT and "\\" not in SPEC_TEXT and '"' not in SPEC_TEXT
    assert set(SPEC.subs["."]) >= {"run", "power", "submit", "job", "cancel", "history", "completion"}
    assert SPEC.opts["run"]["-w"] == "nodes" and SPEC.opts["run"]["-g"] == "groups"
    assert SPEC.opts["submit"]["--nodelist"] == "nodes" and SPEC.pos["cancel"] == ["jobs+"]
    assert SPEC.opts["."]["--config"] == "file" and SPEC.opts["."]["--state-dir"] == "dir"


@pytest.mark.parametrize("words, expected", [
    (("",), None),                                            # every subcommand
    (("ru",), ["run"]),
    (("run", "-w", ""), NODES),
    (("run", "-w", "n1,n"), ["n1,n1", "n1,n2", "n1,n3", "n1,n4"]),
    (("run", "-x", "@all!@r"), ["@all!@rack1", "@all!@rack2"]),
    (("run", "-g", ""), ["rack1", "rack2"]),
    (("run", ""), NODES),                                     # the NODESET before --
    (("run", "n1", "--", ""), []),                           # the remote command: nothing
    (("run", "-L", "--", "ech"), []),
    (("power", ""), ["status", "on", "off", "cycle"]),
    (("power", "off", "c"), ["ctl"]),
    (("power", "status", "--f"), ["--force"]),
    (("job", ""), ["2", "1"]),                               # newest first
    (("cancel", "1", ""), ["2", "1"]),
    (("queue", "-j", "1,"), ["1,2", "1,1"]),
    (("collect", "--db", ""), ["@files"]),
    (("collect", "--procfs", "/p"), ["@dirs"]),
    (("collect", "--format", ""), ["prometheus", "json"]),
    (("--state-dir", ""), ["@dirs"]),
    (("boinc", ""), ["tasks", "suspend", "resume", "abort"]),
    (("boinc", "abort", ""), NODES),
    (("boinc", "abort", "n1", ""), []),                      # TASK: nothing to offer
    (("completion", ""), ["bash", "zsh", "fish"]),
    (("submit", "--nodelist", "n"), ["n1", "n2", "n3", "n4"]),
    (("submit", "--wrap", ""), []),
    (("history", "--metric", "t"), ["temp"]),
    (("history", "n"), ["n1", "n2", "n3", "n4"]),
])
def test_the_engine_offers(home, words, expected):
    found = offer(*words)
    if expected is None:
        assert set(found) == set(SPEC.subs["."]) and "run" in found
    else:
        assert found == expected


def test_global_options_choose_the_config_read(home, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[[nodes]]\nnames = "pi[1-2]"\nhost = "127.0.0.1"\n')
    assert offer("--config", str(other), "run", "-w", "") == ["pi1", "pi2", "@all"]
    assert offer(f"--config={other}", "nodes", "p") == ["pi1", "pi2"]


def test_a_broken_config_completes_nothing_and_prints_no_error(home, capsys):
    Path("roost.toml").write_text("[[nodes]\n")
    assert main(["__complete", SPEC_TEXT, "run", "-w", ""]) == 1
    assert capsys.readouterr() == ("", "")
    assert main(["__complete", SPEC_TEXT, "po"]) == 0      # no config needed for commands
    assert capsys.readouterr().out == "power\n"


def test_no_queue_yet_offers_no_ids_and_creates_nothing(home, tmp_path, monkeypatch):
    empty = tmp_path / "fresh-state"
    monkeypatch.setenv("ROOST_STATE_DIR", str(empty))
    assert offer("job", "") == [] and not empty.exists()


WORDS = st.sampled_from(["run", "-w", "-x", "-g", "--", "power", "status", "job", "cancel", "n1",
                         "@rack1", "--config", "collect", "--db", "boinc", "abort", "submit", "x"])


@pytest.fixture(scope="module")
def plain_config(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("completion") / "roost.toml"
    path.write_text(CONFIG)
    return str(path)


@settings(max_examples=200, deadline=None)
@given(words=st.lists(WORDS, max_size=5), current=st.text(alphabet="n1@r,!-ack", max_size=6))
def test_every_candidate_extends_what_is_typed(plain_config, words, current):
    """Whatever was typed, a candidate either starts with the current word or is a path marker;
    the engine never raises."""
    source = lambda given: Source({**given, "config": plain_config})  # noqa: E731
    found = candidates(SPEC, words, current, source)
    assert all(c.startswith(current) or c in ("@files", "@dirs") for c in found), found


def test_the_fast_path_loads_no_ssh_asyncio_or_ui(home):
    """What runs on every TAB: no parser, no asyncssh, no asyncio, no Textual."""
    code = ("import sys, json; from console.cli import main; "
            "main(['__complete', sys.argv[1], 'run', '-w', 'n']); "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code, SPEC_TEXT], capture_output=True, text=True,
                          env=home, cwd=Path.cwd(), timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[:-1] == ["n1", "n2", "n3", "n4"]
    loaded = set(json.loads(out[-1]))
    assert not loaded & {"asyncssh", "asyncio", "textual", "rich", "plotext"}, loaded


# ---------------------------------------------------------------- the real shells

def script_file(shell: str, tmp_path: Path, env: dict) -> Path:
    done = subprocess.run([str(ROOST), "completion", shell], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    path = tmp_path / f"roost.{shell}"
    path.write_text(done.stdout)
    return path


def bash_complete(script: Path, env: dict, *words: str) -> list[str]:
    line = " ".join(f"'{w}'" for w in ("roost", *words))
    code = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words)}; _roost; "
            "printf '%s\\n' \"${COMPREPLY[@]}\"")
    done = subprocess.run(["bash", "--norc", "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


@pytest.mark.peers
def test_bash(home, tmp_path):
    need(shutil.which("bash") is not None, "bash is not installed")
    script = script_file("bash", tmp_path, home)
    assert bash_complete(script, home, "po") == ["power"]
    assert bash_complete(script, home, "run", "-w", "") == NODES
    assert bash_complete(script, home, "power", "on", "n1,n") == ["n1,n1", "n1,n2", "n1,n3", "n1,n4"]
    assert bash_complete(script, home, "job", "") == ["2", "1"]
    (tmp_path / "history.db").write_text("")
    assert "history.db" in bash_complete(script, home, "collect", "--db", "hist")[0]


@pytest.mark.peers
def test_fish(home, tmp_path):
    need(shutil.which("fish") is not None, "fish is not installed (apt-get install fish)")
    script = script_file("fish", tmp_path, home)

    def fish(line: str) -> list[str]:
        done = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C '{line}'"],
                              capture_output=True, text=True, env=home, timeout=60)
        assert done.returncode == 0, done.stderr
        return [w.split("\t")[0] for w in done.stdout.splitlines()]
    assert fish("roost po") == ["power"]
    assert sorted(fish("roost run -w ")) == sorted(NODES)
    assert fish("roost run -g r") == ["rack1", "rack2"]
    assert fish("roost cancel ") == ["2", "1"] or sorted(fish("roost cancel ")) == ["1", "2"]
    assert fish("roost power status n1,n") == ["n1,n1", "n1,n2", "n1,n3", "n1,n4"]


@pytest.mark.peers
def test_zsh_typing_tab_in_tmux(home, tmp_path):
    """A real interactive zsh with compinit: TAB completes a unique word in place and lists the
    node names for an ambiguous one."""
    need(shutil.which("zsh") is not None, "zsh is not installed (apt-get install zsh)")
    need_tmux()
    script = script_file("zsh", tmp_path, home)
    rc = tmp_path / "zdot"
    rc.mkdir()
    (rc / ".zshrc").write_text(f"PS1='Z> '\nautoload -U compinit\ncompinit -u -d {rc}/dump\n"
                               f"source {script}\n")
    pane = Tmux(tmp_path, size=(120, 30))
    # the tmux server starts from this test's environment (HOME, state dir, cwd: the fixture's)
    pane.start(f"env ZDOTDIR={shlex.quote(str(rc))} TERM=xterm PATH={shlex.quote(home['PATH'])} zsh -i")
    try:
        def typed(text: str) -> None:
            pane.type(text)
            pane.keys("Tab")
        pane.wait_for("Z>")                                    # (capture-pane trims trailing blanks)
        typed("roost pow")
        pane.wait_for("Z> roost power")
        typed("st")
        pane.wait_for("Z> roost power status")                # so `power ` was completed with its space
        typed("@ra")
        pane.wait_for("Z> roost power status @rack")          # the common prefix of @rack1, @rack2
        pane.keys("C-u")
        typed("roost run -w n")
        shown = pane.wait_for("n4")                            # ambiguous: the list is shown
        assert all(n in shown for n in ("n1", "n2", "n3", "n4"))
    finally:
        pane.kill()
