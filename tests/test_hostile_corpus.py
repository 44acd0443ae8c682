"""Hostile and clumsy input, as a corpus: every case exits non-zero with ONE line on stderr that
names the file and line (or the flag, or the value), never a traceback, within 2 s and 200 MB.

The cases live in tests/hostile/ (config/*.toml, inventory/*, ssh/*, whose first line says
"# expect LINE: text", and cli.txt) plus the ones made here because they cannot sit in git
(10 MB files, binary garbage, FIFOs, symlink loops, directories, device files). Every case runs
in-process (fast; CPU time and the rise of the process's peak RSS are measured per case, the
peak reset through /proc/self/clear_refs before each); a representative
subset runs as real `roost` processes, measured with wait4 from a small wrapper process (CPU
time and max RSS of that process alone: a child forked straight from pytest would inherit
pytest's RSS high-water mark). Time is CPU time: the machine is shared, wall time counts waiting.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from console.cli import main

HERE = Path(__file__).resolve().parent / "hostile"
MAX_SECONDS = 2.0
MAX_BYTES = 200 * 1024 * 1024
BASE = '[[nodes]]\nnames = "n[1-3]"\n[groups]\neven = "n2"\nodd = "n[1,3]"\n'


@dataclass
class Case:
    id: str
    argv: list[str]                          # BASE_CONFIG / TMP stand for the case's paths
    expect: str                              # text the error line must hold
    where: str = ""                          # "PATH:LINE" or "PATH" the line must start with
    env: dict[str, str] = field(default_factory=dict)
    make: object = None                      # callable(tmp) that builds the case's files


def _expect_header(path: Path) -> tuple[str, str]:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    m = re.fullmatch(r"# expect (\d+|-): (.*)", first)
    assert m, f"{path}: first line must be '# expect LINE: text'"
    return m[1], m[2]


def file_cases() -> list[Case]:
    cases = []
    for kind, flag in (("config", "--config"), ("inventory", "--inventory"), ("ssh", "--ssh-config")):
        for path in sorted((HERE / kind).iterdir()):
            line, text = _expect_header(path)
            where = f"{path}:{line}" if line != "-" else str(path)
            argv = [flag, str(path), "nodes", "--no-check"]
            if kind == "ssh":
                argv = ["--config", "BASE_CONFIG"] + argv
            cases.append(Case(f"{kind}/{path.name}", argv, text, where))
    return cases


def cli_cases() -> list[Case]:
    cases = []
    for n, raw in enumerate((HERE / "cli.txt").read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        expect, _, args = raw.partition("\t")
        words = shlex.split(args)
        env = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if "--config" not in words:
            words = ["--config", "BASE_CONFIG"] + words
        cases.append(Case(f"cli/{n}:{words[2] if len(words) > 2 else ''}", words, expect, env=env))
    return cases


# ---- cases that cannot live in git ------------------------------------------------------------

def _write(name: str, data: bytes):
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path
    return make


def _special(name: str, build):
    def make(tmp: Path) -> Path:
        path = tmp / name
        build(path)
        return path
    return make


def _symlink_loop(path: Path) -> None:
    path.symlink_to(path.name + ".b")
    Path(str(path) + ".b").symlink_to(path.name)


def _dangling(path: Path) -> None:
    path.symlink_to("nowhere/at/all")


def _include_loop(path: Path) -> None:
    path.write_text(f"Include {path}\n")


def _include_binary(path: Path) -> None:
    other = path.with_name("bin.conf")
    other.write_bytes(b"Host *\n  Port \xff\xfe\n")
    path.write_text(f"Include {other}\n")


def _deep_children(path: Path) -> None:
    groups = "".join(f"[g{i}:children]\ng{i + 1}\n" for i in range(5000))
    path.write_text(groups + "[g5000]\nx ansible_port=99999\n")


def _laughs(path: Path) -> None:
    """Each level's children alias the level below twice: 2^30 paths, one real structure."""
    lines = ["all:", "  children:", "    l0: &l0", "      hosts:", "        x:", "          ansible_port: 0"]
    for i in range(1, 31):
        lines += [f"    l{i}: &l{i}", "      children:", f"        a{i}: *l{i - 1}", f"        b{i}: *l{i - 1}"]
    path.write_text("\n".join(lines) + "\n")


def _memberships(path: Path) -> None:
    text = "".join(f"[g{i}:children]\ng{i + 1}\n" for i in range(30)) + "[g30]\nn[1:1000]\n"
    path.write_text(text)


GARBAGE = bytes((i * 7919 + 13) % 256 for i in range(4096))
TEN_MB = b"# " + b"x" * (10 * 1024 * 1024) + b"\n"


def made_cases() -> list[Case]:
    c = []
    def add(id_, flag, make, expect, line=None, extra=(), env=None, base=False):
        argv = (["--config", "BASE_CONFIG"] if base else []) + [flag, "TMP", *extra, "nodes", "--no-check"]
        c.append(Case(id_, argv, expect, line, env or {}, make))
    for flag, kind, what in (("--config", "config", "config"), ("--inventory", "inventory", "inventory"),
                             ("--ssh-config", "ssh", "ssh config")):
        base = kind == "ssh"
        add(f"{kind}/10MB", flag, _write("big", TEN_MB), f"cannot read {what}: it is 10,485,763 bytes",
            base=base)
        add(f"{kind}/binary-garbage", flag, _write("garbage", GARBAGE), "", base=base)
        add(f"{kind}/directory", flag, _special("dir", lambda p: p.mkdir()), f"cannot read {what}: it is a directory",
            base=base)
        add(f"{kind}/fifo", flag, _special("fifo", os.mkfifo), f"cannot read {what}: not a regular file", base=base)
        add(f"{kind}/symlink-loop", flag, _special("loop", _symlink_loop), "too many levels of symbolic links",
            base=base)
        add(f"{kind}/dangling-symlink", flag, _special("dangling", _dangling), f"{what} file not found", base=base)
        add(f"{kind}/dev-zero", flag, _special("zero", lambda p: p.symlink_to("/dev/zero")),
            f"cannot read {what}: not a regular file", base=base)
        add(f"{kind}/not-utf8", flag, _write("latin1", "# é\n".encode("latin-1")),
            f"cannot read {what}: not UTF-8 text (byte 0xe9 at column 3)", line=1, base=base)
    # roost.toml: encodings, line endings, sizes, nesting
    add("config/bom-crlf", "--config", _write("bom.toml", b"\xef\xbb\xbf[defaults]\r\ninterval = nan\r\n"),
        "defaults.interval: expected a finite number", line=2)
    add("config/crlf-port", "--config", _write("crlf.toml", b"[[nodes]]\r\nnames = \"n1\"\r\nport = 0\r\n"),
        "nodes[0].port: expected a port number", line=3)
    add("config/nul-byte", "--config", _write("nul.toml", b"[defaults]\ninterval = 1\x00\n"), "TOML syntax", line=2)
    add("config/utf16", "--config", _write("utf16.toml", "[defaults]\n".encode("utf-16")), "not UTF-8 text", line=1)
    add("config/deep-arrays", "--config", _write("deep.toml", b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
        "TOML nested too deeply", line=1)
    add("config/deep-inline-tables", "--config",
        _write("deept.toml", b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000 + b"\n"), "nested too deeply", line=1)
    add("config/huge-line", "--config", _write("line.toml", b"[" + b" " * 400_000 + b"\n"), "TOML syntax", line=1)
    add("config/huge-array", "--config",
        _write("arr.toml", b"[defaults]\nport = [" + b"1," * 250_000 + b"1]\n"), "defaults.port: expected a port",
        line=2)
    add("config/huge-string", "--config",
        _write("str.toml", b'[[nodes]]\nnames = "' + b"n" * 500_000 + b'"\n'),
        "nodes[0].names: hostlist 'nnnnn", line=2)
    add("config/over-512k", "--config", _write("big.toml", b"#" * 600_000), "more than the 512 KiB a config may have")
    add("config/many-nodes-over-limit", "--config",
        _write("many.toml", b"".join(b'[[nodes]]\nnames = "n%d"\n' % i for i in range(30)), ),
        "more than max_hostlist (20)", line=42, env={"ROOST_MAX_HOSTLIST": "20"})
    # inventories
    add("inventory/deep-yaml", "--inventory", _write("deep.yml", b"all: " + b"[" * 5000 + b"]" * 5000 + b"\n"),
        "YAML nested more than 64 levels deep", line=1)
    add("inventory/deep-yaml-maps", "--inventory",
        _write("deepm.yml", b"".join(b"  " * i + b"k:\n" for i in range(300))), "YAML nested more than 64", line=65)
    add("inventory/deep-yaml-dashes", "--inventory", _write("dashes.yml", b"- " * 200 + b"x\n"),
        "YAML nested more than 64", line=1)
    add("inventory/yaml-nul", "--inventory", _write("nul.yml", b"all:\n  hosts:\n    a\x00b:\n"), "YAML syntax", line=3)
    add("inventory/long-ini-line", "--inventory", _write("long.ini", b"[web]\nx " + b"a=b " * 40_000 + b"\n"),
        "line is 160,002 characters long", line=2)
    add("inventory/child-chain-5000", "--inventory", _special("chain.ini", _deep_children),
        "ansible_port: expected a port number 1-65535, got 99999", line=10002)
    add("inventory/billion-laughs-children", "--inventory", _special("laughs.yml", _laughs),
        "ansible_port: expected a port number 1-65535, got 0", line=5)
    add("inventory/memberships", "--inventory", _special("members.ini", _memberships),
        "host memberships", env={"ROOST_MAX_HOSTLIST": "1000"})
    add("inventory/hosts-over-limit", "--inventory", _write("hosts.ini", b"[a]\nn[1:600]\n[b]\nm[1:600]\n"),
        "the inventory now holds 1,200 hosts, more than max_hostlist (1,000)", line=4,
        env={"ROOST_MAX_HOSTLIST": "1000"})
    add("inventory/yaml-bom", "--inventory",
        _write("bom.yml", "\ufeffall:\n  hosts:\n    x:\n      ansible_port: 0\n".encode()),
        "ansible_port: expected a port number", line=3)
    # ssh_config
    add("ssh/include-loop", "--ssh-config", _special("loop.conf", _include_loop),
        "Include nests more than 16 files deep", base=True)
    add("ssh/include-binary", "--ssh-config", _special("inc.conf", _include_binary), "not UTF-8 text", base=True)
    # the state directory is a file
    c.append(Case("cli/state-dir-is-a-file", ["--config", "BASE_CONFIG", "--state-dir", "TMP", "queue"],
                  "", None, {}, _write("statefile", b"")))
    return c


CASES = file_cases() + cli_cases() + made_cases()


# ---- running ------------------------------------------------------------------------------------

@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """No real ~/.ssh/config, roost.toml, XDG dirs or state can leak in (or be written)."""
    home = tmp_path / "home"
    home.mkdir()
    for var in list(os.environ):
        if var.startswith("ROOST_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdgstate"))
    monkeypatch.setenv("ROOST_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.toml").write_text(BASE)
    return tmp_path


def resolve(case: Case, tmp: Path) -> tuple[list[str], str]:
    made = case.make(tmp) if case.make else None
    argv = [str(tmp / "base.toml") if a == "BASE_CONFIG" else str(made) if a == "TMP" else a for a in case.argv]
    where = case.where
    if made is not None and where is not None:
        where = f"{made}:{where}" if isinstance(where, int) else str(made)
    return argv, where or ""


def check_line(case: Case, rc: int, out: str, err: str, where: str) -> str:
    lines = err.splitlines()
    assert rc not in (0, None), f"{case.id}: exit {rc}, stderr {err!r}"
    assert "Traceback" not in err and "internal error" not in err, f"{case.id}: {err}"
    assert len(lines) == 1 and err.endswith("\n"), f"{case.id}: expected one line, got {err!r}"
    line = lines[0]
    assert line.startswith("roost"), line
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line), f"{case.id}: control characters in {line!r}"
    if where:
        assert f" {where}:" in line, f"{case.id}: {line!r} does not name {where}"
    assert case.expect in line, f"{case.id}: {case.expect!r} not in {line!r}"
    assert out == "", f"{case.id}: stdout {out!r}"
    return line


def _rss_kib() -> tuple[int, int]:
    """(peak, current) resident set of this process, KiB."""
    status = Path("/proc/self/status").read_text()
    return (int(re.search(r"VmHWM:\s+(\d+)", status)[1]), int(re.search(r"VmRSS:\s+(\d+)", status)[1]))


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")     # Linux: VmHWM := VmRSS


def run_in_process(argv: list[str], env: dict[str, str], monkeypatch) -> tuple[int, str, str, float, int]:
    """(status, stdout, stderr, CPU seconds, bytes the peak RSS rose by)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    signal.signal(signal.SIGALRM, _hung)
    signal.alarm(20)                   # a regression fails this case instead of hanging the suite
    _reset_peak_rss()
    before = _rss_kib()[1]
    start = time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:      # argparse's usage errors
            rc = exc.code
    seconds = time.process_time() - start
    signal.alarm(0)
    return rc, out.getvalue(), err.getvalue(), seconds, (_rss_kib()[0] - before) * 1024


class Hung(BaseException):
    """Raised by the alarm; a BaseException so main()'s guard cannot turn it into a line."""


def _hung(signum, frame):
    raise Hung("still running after 20 s")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_one_line_in_process(case, sandbox, monkeypatch):
    argv, where = resolve(case, sandbox)
    rc, out, err, seconds, peak = run_in_process(argv, case.env, monkeypatch)
    check_line(case, rc, out, err, where)
    assert seconds < MAX_SECONDS, f"{case.id}: {seconds:.2f} s"
    assert peak < MAX_BYTES, f"{case.id}: peak RSS rose by {peak / 1e6:.0f} MB"


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 100, len(CASES)


# A representative subset as real processes: startup, imports and the C-level memory included.
SUBSET = ["config/names-ten-million.toml", "inventory/range-ten-million.ini", "ssh/port-99999",
          "config/10MB", "config/deep-arrays", "inventory/deep-yaml", "inventory/not-utf8", "ssh/fifo",
          "inventory/billion-laughs-children", "inventory/child-chain-5000"]
SUBSET_CASES = [c for c in CASES if c.id in SUBSET] + [c for c in CASES if c.id.startswith("cli/")][:2]


@pytest.mark.parametrize("case", SUBSET_CASES, ids=[c.id for c in SUBSET_CASES])
def test_hostile_input_as_a_real_process(case, sandbox):
    argv, where = resolve(case, sandbox)
    env = {**os.environ, **case.env}
    rc, out, err, seconds, rss = run_process([sys.executable, "-m", "console.cli", *argv], env, sandbox)
    check_line(case, rc, out, err, where)
    assert seconds < MAX_SECONDS, f"{case.id}: {seconds:.2f} s of CPU"
    assert rss < MAX_BYTES, f"{case.id}: max RSS {rss / 1e6:.0f} MB"


WRAPPER = """
import os, resource, subprocess, sys
def limit():   # a regression dies (SIGXCPU, MemoryError) instead of hanging or swapping
    resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
proc = subprocess.Popen(sys.argv[2:], preexec_fn=limit)
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}")
"""


def run_process(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str, float, int]:
    """Run to the end; (status, stdout, stderr, CPU seconds, max RSS in bytes) from wait4."""
    report = cwd / "rusage"
    done = subprocess.run([sys.executable, "-c", WRAPPER, str(report), *argv], capture_output=True,
                          env=env, cwd=cwd, timeout=120)
    status, cpu, rss_kib = report.read_text().split()
    return int(status), done.stdout.decode(), done.stderr.decode(), float(cpu), int(rss_kib) * 1024
