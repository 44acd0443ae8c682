"""Issue 9 for the jobs side: hostile names, secrets on disk, full disks, a second scheduler,
one queue per cluster, outputs that must not be written through symlinks. Real sshd nodes from
the lab (tests/lab/sshd.py) where a node is involved; real tmpfs mounts for full disks.

Nodes are reached by hostname (/etc/hosts names from tests/lab/named.py), as real clusters
name them.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from console.config import load_config
from console.jobs.model import State
from console.jobs.outputs import path_safe, write_private
from console.jobs.queue_view import QueueUnreadable, QueueView
from console.jobs.service import cluster_name, jobs_db, open_store, queue_dir
from tests.conftest import ROOT, need
from tests.lab.named import named

OTHER = "roostother"        # a second local, unprivileged user that must read nothing of ours


def roost(*argv: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console.cli", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_toml(path: Path, nodes: list[tuple[str, str, int]], extra: str = "", lab=None,
               top: str = "", known_hosts: Path | None = None) -> Path:
    head = top
    if lab is not None:
        head += (f'[defaults]\nuser = "roostlab"\nidentity = ["{lab.client_key}"]\n'
                f'known_hosts = ["{known_hosts or lab.known_hosts}"]\n')
    entries = "".join(f'[[nodes]]\nnames = "{n}"\nhost = "{h}"\nport = {p}\n' for n, h, p in nodes)
    path.write_text(f"{head}{extra}\n{entries}")
    (path.parent / "ssh_config").write_text("")
    return path


def env_for(state: Path, toml: Path) -> dict:
    return {**os.environ, "ROOST_STATE_DIR": str(state), "ROOST_CONFIG": str(toml),
            "ROOST_SSH_CONFIG": str(toml.parent / "ssh_config"), "PYTHONPATH": str(ROOT)}


def other_user() -> str:
    try:
        pwd.getpwnam(OTHER)
    except KeyError:
        made = subprocess.run(["useradd", "-M", "-s", "/bin/sh", OTHER], capture_output=True)
        need(made.returncode == 0, f"cannot add the local user {OTHER}: {made.stderr!r}")
    return OTHER


def readable_by_other(path: Path) -> bool:
    probe = subprocess.run(["su", "-s", "/bin/sh", other_user(), "-c", f"cat '{path}'"],
                           capture_output=True)
    return probe.returncode == 0


@contextlib.contextmanager
def tmpfs(size: str):
    mount = Path(tempfile.mkdtemp(prefix="roost-tmpfs-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(mount)], capture_output=True)
    need(done.returncode == 0, f"cannot mount a tmpfs here: {done.stderr!r}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)


def fill(mount: Path) -> Path:
    """Fill a file system up to the last byte (ENOSPC)."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (64 << 10, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def wait_for(cond, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# ---- names that drive terminals -----------------------------------------------------------

def test_queue_and_job_strip_control_characters_from_every_cell(tmp_path):
    toml = write_toml(tmp_path / "roost.toml", [("n1", "127.0.0.1", 1)])
    env = env_for(tmp_path / "state", toml)
    evil = "evil\x1b]0;PWN\x07\x1b[2J\u202etxt"
    done = roost("submit", "--parsable", "-J", evil, "-o", "/dev/null", "--wrap", "true", env=env)
    assert done.returncode == 0, done.stderr
    job = done.stdout.strip()
    for argv in (["queue"], ["job", job]):
        out = roost(*argv, env=env)
        assert out.returncode == 0, out.stderr
        assert not any(c in out.stdout for c in "\x1b\x07\u202e"), repr(out.stdout)
        assert "evil\\x1b]0;PWN\\x07\\x1b[2J\\x202etxt" in out.stdout   # visible, escaped


# ---- secrets and private files -------------------------------------------------------------

def test_state_dir_and_queue_files_are_private_from_another_local_user(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)                      # as an older roost (or a shell) made it
    tmp_path.chmod(0o755)
    toml = write_toml(tmp_path / "roost.toml", [("n1", "127.0.0.1", 1)])
    env = env_for(state, toml)
    done = roost("submit", "--export", "ALL,API_TOKEN=s3cret", "-o", "/dev/null",
                 "--wrap", "true", env=env)
    assert done.returncode == 0, done.stderr
    directory = queue_dir(_config(toml, state))
    db = directory / "jobs.db"
    assert (state.stat().st_mode & 0o777) == 0o700
    assert (directory.stat().st_mode & 0o777) == 0o700
    with open_store(_config(toml, state)) as store:    # open: WAL mode keeps -wal and -shm
        assert ("API_TOKEN", "s3cret") in store.job(1).spec.export.values   # it is stored,
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        for f in files:                                  # ... but nobody else reads it
            assert (f.stat().st_mode & 0o777) == 0o600, f
            assert not readable_by_other(f), f
        db.chmod(0o644)                   # even a world-readable file sits in 0700 dirs
        assert not readable_by_other(db)


def _config(toml: Path, state: Path):
    from console.config import load_config
    return load_config(toml, ssh_config=toml.parent / "ssh_config", state_dir=state, env={})


@pytest.mark.peers
def test_job_files_on_the_node_are_private(ssh_lab, tmp_path, etc_hosts):
    node, = named(ssh_lab, etc_hosts, ssh_lab.start(1))
    try:
        out = Path(tempfile.mkdtemp(prefix="roost-out-"))
        out.chmod(0o777)
        toml = write_toml(tmp_path / "roost.toml", [(node.name, node.hostname, node.port)],
                          "[jobs]\nuse_load = false\n", lab=ssh_lab,
                          known_hosts=node.known_hosts)
        env = {**env_for(tmp_path / "state", toml), "API_TOKEN": "s3cret"}
        waiter = subprocess.Popen(
            [sys.executable, "-m", "console.cli", "submit", "--wait", "--export",
             "ALL,API_TOKEN", "-o", str(out / "o.txt"), "--wrap", "umask; sleep 3"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        home = Path(pwd.getpwnam("roostlab").pw_dir)
        qid = open_store(_config(toml, tmp_path / "state")).queue_id()
        root = home / ".roost" / "jobs" / qid
        wait_for(lambda: list(root.glob("*/1/0.0.pid")), what="the task running on the node")
        files = [home / ".roost", home / ".roost" / "jobs", *root.rglob("*")]
        assert any(p.name == "run" for p in files) and any(p.name == "script" for p in files)
        for path in files:
            mode = path.stat().st_mode & 0o777
            assert mode in (0o700, 0o600), (path, oct(mode))
            assert not readable_by_other(path), path
        run = next(p for p in files if p.name == "run")
        assert "s3cret" in run.read_text()          # the secret is there, for its owner only
        assert waiter.wait(timeout=60) == 0, waiter.stderr.read()
        assert (out / "o.txt").read_text().strip() in ("0022", "022")   # the task's own umask
    finally:
        ssh_lab.stop([node])


# ---- submit-time checks --------------------------------------------------------------------

def test_too_big_for_every_node_and_missing_output_dir_are_refused_at_submit(tmp_path):
    toml = write_toml(tmp_path / "roost.toml", [("n1", "127.0.0.1", 1), ("n2", "127.0.0.1", 2)],
                      "[jobs]\ncores = { n1 = 4, n2 = 8 }\n")
    env = env_for(tmp_path / "state", toml)
    big = roost("submit", "-c", "64", "--wrap", "true", env=env)
    assert big.returncode == 1
    assert big.stderr == ("roost submit: error: Batch job submission failed: Requested node "
                          "configuration is not available\n")
    assert roost("submit", "-c", "8", "-o", "/dev/null", "--wrap", "true", env=env).returncode == 0
    lost = roost("submit", "-o", str(tmp_path / "no" / "such" / "x.out"), "--wrap", "true", env=env)
    assert lost.returncode == 1 and lost.stderr.count("\n") == 1
    assert "output directory" in lost.stderr and "does not exist" in lost.stderr


# ---- outputs never written through links or outside their directory -----------------------

def test_pattern_values_cannot_leave_the_directory():
    assert path_safe("../../x") == "______x" and path_safe("..") == "__"
    assert path_safe("a/b") == "a_b" and path_safe("") == "_"


def test_fetch_target_is_opened_without_following_symlinks(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "out.txt").symlink_to(victim)
    with pytest.raises(OSError):
        write_private(str(tmp_path / "out.txt"))
    assert victim.read_text() == "precious\n"
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError):                 # never blocks on, or writes into, a FIFO
        write_private(str(tmp_path / "fifo"))


@pytest.mark.peers
def test_fetched_output_stays_in_its_directory_and_never_follows_a_link(ssh_lab, tmp_path, etc_hosts):
    node, = named(ssh_lab, etc_hosts, ssh_lab.start(1))
    try:
        outdir = tmp_path / "out"
        outdir.mkdir()
        victim = tmp_path / "victim"
        victim.write_text("precious\n")
        toml = write_toml(tmp_path / "roost.toml", [(node.name, node.hostname, node.port)],
                          "[jobs]\nuse_load = false\n", lab=ssh_lab,
                          known_hosts=node.known_hosts)
        env = env_for(tmp_path / "state", toml)
        (outdir / "link.out").symlink_to(victim)
        done = roost("submit", "--wait", "-o", str(outdir / "link.out"), "--wrap", "echo pwned",
                     env=env)
        assert done.returncode != 0                       # FAILED: output not fetched ...
        assert victim.read_text() == "precious\n"          # ... and nothing written through
        done = roost("submit", "--wait", "-J", "../../x", "-o", str(outdir / "%x.out"),
                     "--wrap", "echo hi", env=env)
        assert done.returncode == 0, done.stderr
        assert (outdir / "______x.out").read_text() == "hi\n"
        assert not (tmp_path.parent / "x.out").exists()
    finally:
        ssh_lab.stop([node])


# ---- full disks ----------------------------------------------------------------------------

@pytest.mark.peers
def test_collect_db_survives_a_full_disk_and_stores_every_sample_after(tmp_path):
    with tmpfs("2m") as mount:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "console.cli", "collect", "--local", "--interval", "0.1",
             "--db", str(mount / "h.db"), "--prometheus", f"127.0.0.1:{port}"],
            cwd=ROOT, env={**os.environ, "ROOST_STATE_DIR": str(tmp_path / "s")},
            stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: _rows(mount / "h.db") > 5, what="first samples stored")
            filler = fill(mount)
            line = proc.stderr.readline()
            assert "cannot store samples" in line and "database or disk is full" in line, line
            assert b"roost_node_up" in _scrape(port) and proc.poll() is None   # still serving
            time.sleep(1.0)                       # samples keep arriving while it is full
            filler.unlink()
            line = proc.stderr.readline()
            assert "writable again" in line and "held samples stored" in line, line
            stopped = time.time()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        assert proc.returncode == 0
        stamps = _stamps(mount / "h.db")
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        assert stamps[-1] > stopped - 1 and max(gaps) < 0.5, max(gaps)   # nothing lost


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rows(db: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(db)) as c:
            return c.execute("SELECT count(*) FROM points").fetchone()[0]
    except sqlite3.Error:
        return 0


def _stamps(db: Path) -> list[float]:
    # every sample time: a series is stored when it changed, and the cpu seconds of a live host
    # change at every sample, so the union over the node's series holds each sample's time
    with contextlib.closing(sqlite3.connect(db)) as c:
        return [r[0] for r in c.execute(
            "SELECT DISTINCT p.ts FROM points p JOIN series s ON s.id = p.series ORDER BY p.ts")]


def _scrape(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read()


def test_jobs_commands_on_a_full_state_file_system_print_one_line(tmp_path):
    with tmpfs("1m") as mount:
        toml = write_toml(tmp_path / "roost.toml", [("n1", "127.0.0.1", 1)])
        env = env_for(mount / "state", toml)
        assert roost("submit", "-o", "/dev/null", "--wrap", "true", env=env).returncode == 0
        fill(mount)
        for argv in (["submit", "-o", "/dev/null", "--wrap", "true"], ["queue"], ["job", "1"],
                     ["bsub", "-o", "/dev/null", "true"], ["bjobs"]):
            done = roost(*argv, env=env)
            assert "Traceback" not in done.stderr, done.stderr
            if done.returncode:     # the cause named, not "internal error" (bsub said that)
                assert done.stderr.count("\n") == 1 and done.stderr.startswith("roost "), \
                    done.stderr
                assert done.returncode == 1 and "job queue in" in done.stderr, done.stderr
        submit = roost("submit", "-o", "/dev/null", "--wrap", "true", env=env)
        assert submit.returncode == 1 and "full" in submit.stderr
        # the console's Jobs screen reads through QueueView: the same line, not OperationalError
        config = load_config(toml, state_dir=mount / "state")
        view = QueueView(jobs_db(config), lambda: "")
        with pytest.raises(QueueUnreadable, match=r"job queue in .*its file system is full"):
            asyncio.run(view.read())


# ---- a second scheduler takes over ---------------------------------------------------------

def scheduler_line(proc: subprocess.Popen) -> str:
    """serve's next line about the job scheduler (it also says what it serves, and nodes up)."""
    while "scheduler" not in (line := proc.stderr.readline()):
        assert line, "serve ended before saying who holds the scheduler"
    return line


@pytest.mark.peers
def test_standby_serve_takes_the_scheduler_over_after_kill_9(ssh_lab, tmp_path, etc_hosts):
    node, = named(ssh_lab, etc_hosts, ssh_lab.start(1))
    procs = []
    try:
        toml = write_toml(tmp_path / "roost.toml", [(node.name, node.hostname, node.port)],
                          "[jobs]\nuse_load = false\n", lab=ssh_lab,
                          known_hosts=node.known_hosts)
        env = env_for(tmp_path / "state", toml)

        def serve() -> subprocess.Popen:
            p = subprocess.Popen([sys.executable, "-m", "console.cli", "serve", "--prometheus",
                                  f"127.0.0.1:{_free_port()}", "--db", str(tmp_path / f"h{len(procs)}.db")],
                                 cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
            procs.append(p)
            return p
        first = serve()
        assert "job scheduler: held" in scheduler_line(first)
        second = serve()
        assert "standing by" in scheduler_line(second)
        first.kill()                                   # kill -9: the kernel drops the flock
        t0 = time.monotonic()
        assert "job scheduler: held" in scheduler_line(second)
        assert time.monotonic() - t0 < 5
        done = roost("submit", "--parsable", "-o", "/dev/null", "--wrap", "true", env=env)
        job = int(done.stdout)
        store = open_store(_config(toml, tmp_path / "state"))
        wait_for(lambda: store.tasks(job)[0].state is State.COMPLETED, what="job run by standby")
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)
        ssh_lab.stop([node])


# ---- one cluster, one queue ----------------------------------------------------------------

@pytest.mark.peers
def test_a_config_never_runs_on_another_clusters_nodes(ssh_lab, tmp_path, etc_hosts):
    a_node, b_node = named(ssh_lab, etc_hosts, ssh_lab.start(2))
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
        a = write_toml(tmp_path / "a" / "roost.toml", [("n1", a_node.hostname, a_node.port)],
                       "[jobs]\nuse_load = false\n", lab=ssh_lab, known_hosts=a_node.known_hosts)
        b = write_toml(tmp_path / "b" / "roost.toml", [("n1", b_node.hostname, b_node.port)],
                       "[jobs]\nuse_load = false\n", lab=ssh_lab, top='cluster = "demo"\n',
                       known_hosts=a_node.known_hosts)
        state = tmp_path / "state"
        serve_a = subprocess.Popen([sys.executable, "-m", "console.cli", "serve", "--prometheus",
                                    f"127.0.0.1:{_free_port()}"], cwd=ROOT,
                                   env=env_for(state, a), stderr=subprocess.PIPE, text=True)
        try:
            assert "job scheduler: held" in scheduler_line(serve_a)
            done = roost("submit", "--wait", "-o", str(tmp_path / "b.out"), "--wrap",
                         "echo $ROOST_LAB_NODE", env=env_for(state, b), timeout=60)
            assert done.returncode == 0, done.stderr
            assert (tmp_path / "b.out").read_text().strip() == b_node.token   # B's node, not A's
            queue_a = json.loads(roost("queue", "--json", "-a", env=env_for(state, a)).stdout)
            queue_b = json.loads(roost("queue", "--json", "-a", env=env_for(state, b)).stdout)
            assert queue_a["jobs"] == [] and len(queue_b["jobs"]) == 1
            assert queue_b["cluster"] == "demo" and queue_a["cluster"].startswith("roost-")
        finally:
            serve_a.kill()
            serve_a.wait(timeout=10)
    finally:
        ssh_lab.stop([a_node, b_node])


def test_an_old_shared_queue_moves_to_the_cluster_that_used_its_nodes(tmp_path, capsys):
    from console.jobs.directives import build_spec, parse_submit_argv, wrap_script
    from console.jobs.store import Store
    state = tmp_path / "state"
    state.mkdir()
    with Store(state / "jobs.db") as old:
        job = old.submit(build_spec(parse_submit_argv([]), wrap_script("true"), "--wrap",
                                    submit_dir="/tmp"))
        task, = old.tasks(job)
        old.start(task, "n1", time.time())
    other = _config(write_toml(tmp_path / "o.toml", [("zz", "127.0.0.1", 1)]), state)
    assert open_store(other).job(job) is None                   # not its nodes: left in place
    assert "kept the old queue" in capsys.readouterr().err
    mine = _config(write_toml(tmp_path / "m.toml", [("n1", "127.0.0.1", 1)]), state)
    assert open_store(mine).job(job) is not None
    assert f"moved the job queue {state / 'jobs.db'}" in capsys.readouterr().err
    assert jobs_db(mine).parent.name == cluster_name(mine) and not (state / "jobs.db").exists()
