"""The remote sampler: its command line (pure) and the real scripts run by real sshd sessions."""
from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from collectors.frame import FrameDecoder
from collectors.model import NodeTarget
from collectors.probe import parse_header, sampler_command
from collectors.transport import connect
from collectors.tree import read_tree
from tests.conftest import SHARED, need
from tests.lab.sshd import descendants, signal_all, wait_gone

RPI4 = SHARED / "fixtures" / "boards" / "rpi4"
NODE_EXPORTER = SHARED / "fixtures" / "node_exporter"

roots = st.text(st.characters(blacklist_characters="\n\r\0", blacklist_categories=("Cs",)),
                max_size=30).map(lambda s: "/" + s)


# ---- pure: the command line ------------------------------------------------------------------

@given(roots, roots, st.floats(0.01, 86400))
def test_header_round_trips(procfs, sysfs, interval):
    command = sampler_command(NodeTarget("n", "h", procfs=procfs, sysfs=sysfs, interval=interval))
    first = command.split("\n", 1)[0]
    assert first == f"# roost-sampler 1 interval={interval!r} procfs={procfs} sysfs={sysfs}"
    header = parse_header(command)
    assert (header.version, header.interval) == (1, interval)
    if " sysfs=" not in procfs:
        assert (header.procfs, header.sysfs) == (procfs, sysfs)


@given(st.text(max_size=200))
def test_parse_header_never_crashes(text):
    header = parse_header(text)
    assert header is None or text.startswith("# roost-sampler ")


@pytest.mark.parametrize("field,value,message", [
    ("procfs", "proc", "n7: procfs must be an absolute path on one line"),
    ("sysfs", "/sys\nrm -rf ~", "n7: sysfs must be an absolute path on one line"),
    ("interval", math.nan, "n7: interval must be 0.01..86400 s"),
    ("interval", 0.0, "n7: interval must be 0.01..86400 s"),
])
def test_bad_target_is_one_line_error(field, value, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        sampler_command(NodeTarget("n7", "h", **{field: value}))


def test_unknown_shell():
    with pytest.raises(ValueError, match="n: sampler shell must be one of"):
        sampler_command(NodeTarget("n", "h"), shell="zsh")


# ---- the scripts, run by real sshd sessions ----------------------------------------------------

@pytest.fixture(scope="module")
def nodes(ssh_lab):
    return ssh_lab.start(1) + ssh_lab.start(1, no_bash=True)


@pytest.fixture(scope="module")
def public_tmp():
    """A temp dir the lab's login user can read (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="roost-probe-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def read_frames(conn, command: str, count: int) -> list:
    proc = await conn.create_process(command, encoding=None)
    decoder, frames = FrameDecoder(), []
    while len(frames) < count:
        chunk = await asyncio.wait_for(proc.stdout.read(65536), 10)
        assert chunk, f"sampler ended early: {await proc.stderr.read()}"
        frames += decoder.feed(chunk)
    proc.close()
    assert decoder.garbage == 0
    return frames[:count]     # a chunk may hold more


def files_only(files) -> dict:
    """The files, without the commands' outputs (those run live on the node: clock, statfs)."""
    return {k: v for k, v in files.items() if not k.startswith("cmd/")}


def same_tree(snapshot, procfs: str, sysfs: str) -> None:
    ref = read_tree(procfs, sysfs, commands=False)
    assert set(files_only(snapshot.files)) == set(ref.files)
    # the shell's read stops at a NUL byte (device-tree strings end with one)
    assert {k: v.split("\0")[0] for k, v in ref.files.items()} == files_only(snapshot.files)
    assert dict(snapshot.links) == dict(ref.links)


def restore_links(tree: Path) -> int:
    """Turn files that a copy flattened from directory symlinks (content "../../x") back into links.

    The shared board trees were copied that way; real nodes always have real symlinks.
    """
    restored = 0
    for path in sorted(tree.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 512:
            text = path.read_text(errors="replace").strip()
            if text.startswith("../") and not any(c.isspace() for c in text) \
                    and (path.parent / text).is_dir():
                path.unlink()
                path.symlink_to(text)
                restored += 1
    return restored


@pytest.fixture(scope="module")
def rpi4_tree(public_tmp):
    need(RPI4.is_dir(), f"board fixtures missing ({RPI4})")
    root = public_tmp / "rpi4"
    shutil.copytree(RPI4, root, symlinks=True)
    restore_links(root)
    subprocess.run(["chmod", "-R", "u+w,a+rX", str(root)], check=True)
    return root


@pytest.mark.parametrize("which", [0, 1], ids=["bash", "sh"])
async def test_fixture_tree_same_as_read_tree(nodes, rpi4_tree, which):
    target = nodes[which].target(procfs=str(rpi4_tree / "proc"), sysfs=str(rpi4_tree / "sys"),
                                 interval=0.05)
    async with await connect(target) as conn:
        frames = await read_frames(conn, sampler_command(target), 6)
    assert [f.seq for f in frames] == [0, 1, 2, 3, 4, 5]
    # bash's frames say their size and lead with what is remembered (links, static and slow
    # files, command output): every one is taken whole, its dynamic files walked when read
    assert [f.pending for f in frames] == [which == 0] * 6
    assert any("hwmon" in k for k in frames[-1].snapshot.files)
    for frame in frames:
        same_tree(frame.snapshot, target.procfs, target.sysfs)
        assert abs(frame.node_clock - time.time()) < 5


@pytest.mark.parametrize("which", [0, 1], ids=["bash", "sh"])
async def test_shared_tree_in_place(nodes, which):
    """The shared tree as it lies: every file the sampler reads equals read_tree's copy."""
    need(RPI4.is_dir(), f"board fixtures missing ({RPI4})")
    target = nodes[which].target(procfs=str(RPI4 / "proc"), sysfs=str(RPI4 / "sys"), interval=0.05)
    async with await connect(target) as conn:
        frame = (await read_frames(conn, sampler_command(target), 2))[-1]
    ref = read_tree(target.procfs, target.sysfs, commands=False).files
    assert "proc/stat" in frame.snapshot.files
    mine = files_only(frame.snapshot.files)
    assert {k: ref[k].split("\0")[0] for k in mine} == mine


@pytest.fixture(scope="module")
def exporter_tree(public_tmp):
    """node_exporter's real sysfs fixture (hwmon device links, fans, pwm) plus its proc files."""
    need(NODE_EXPORTER.is_dir(), f"node_exporter fixtures missing ({NODE_EXPORTER})")
    from tests.helpers.ttar import extract
    root = public_tmp / "odd 'root' $x\ttab"  # quoting: spaces, quotes, $ and a tab in the roots
    root.mkdir()
    extract(NODE_EXPORTER / "sys.ttar", root)
    shutil.copytree(NODE_EXPORTER / "proc", root / "proc", symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(public_tmp)], check=True)
    return root


@pytest.mark.parametrize("which", [0, 1], ids=["bash", "sh"])
async def test_links_and_odd_roots(nodes, exporter_tree, which):
    target = nodes[which].target(procfs=str(exporter_tree / "proc"), sysfs=str(exporter_tree / "sys"),
                                 interval=0.05)
    async with await connect(target) as conn:
        frame = (await read_frames(conn, sampler_command(target), 2))[-1]
    assert frame.snapshot.links, "the fixture has hwmon device links"
    same_tree(frame.snapshot, target.procfs, target.sysfs)


async def test_bash_and_sh_frames_identical(nodes, rpi4_tree):
    target = nodes[0].target(procfs=str(rpi4_tree / "proc"), sysfs=str(rpi4_tree / "sys"),
                             interval=0.05)
    async with await connect(target) as conn:
        via_bash = await read_frames(conn, sampler_command(target, shell="bash"), 2)
        via_sh = await read_frames(conn, sampler_command(target, shell="sh"), 2)
    assert files_only(via_bash[1].snapshot.files) == files_only(via_sh[1].snapshot.files)
    assert via_bash[1].snapshot.links == via_sh[1].snapshot.links


def shells_of(node) -> dict[int, str]:
    out = {}
    for pid in node.session_pids():
        if (exe := _exe(pid)) is not None:
            out[pid] = exe
    return out


def sampler_pid(node, exe: str) -> int:
    """The sampler's shell: the one whose parent is not itself a sampler (sh forks subshells)."""
    pids = [p for p, e in shells_of(node).items() if e == exe]
    top = [p for p in pids if _ppid(p) not in pids]
    assert len(top) == 1, f"expected one {exe} sampler, found {top}"
    return top[0]


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


async def wait_until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_no_bash_node_runs_real_sh(nodes):
    target = nodes[1].target(interval=0.05)
    async with await connect(target) as conn:
        proc = await conn.create_process(sampler_command(target))
        await proc.stdout.readuntil("\x1eE 1\n")
        assert "dash" in shells_of(nodes[1]).values()
        assert "bash" not in shells_of(nodes[1]).values()
        proc.close()


@pytest.mark.parametrize("which,shell", [(0, "bash"), (1, "dash")])
async def test_forks_per_sample(nodes, which, shell):
    """bash: no fork at all while sampling; dash (the control, so the probe is real) forks."""
    need(shutil.which("strace") is not None, "strace missing")
    target = nodes[which].target(interval=0.02)
    async with await connect(target) as conn:
        proc = await conn.create_process(sampler_command(target))
        await proc.stdout.readuntil("\x1eE 1\n")
        pid = sampler_pid(nodes[which], shell)
        # only the sampler's own pid: every fork of a sampler loop is made by that shell (a
        # child cannot fork if the shell never made one), and without -f strace detaches at once
        # instead of chasing dash's 50 children a second (which could hang the detach)
        tracer = await asyncio.create_subprocess_exec(
            "strace", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-p", str(pid),
            stderr=asyncio.subprocess.PIPE)
        await asyncio.sleep(0.2)  # let strace attach before the counted window
        for _ in range(20):
            await proc.stdout.readuntil("\x1eE ")
        tracer.send_signal(signal.SIGINT)
        try:
            _, err = await asyncio.wait_for(tracer.communicate(), 10)
        except TimeoutError:
            tracer.kill()
            _, err = await tracer.communicate()
        proc.close()
    # a child forked while strace detached can stay trace-stopped: don't leave it behind
    leftover = nodes[which].session_pids()
    signal_all(leftover, signal.SIGKILL)
    wait_gone(leftover)
    calls = [line for line in err.decode().splitlines() if "clone" in line or "fork" in line]
    assert (len(calls) == 0) if shell == "bash" else (len(calls) >= 20)


@pytest.mark.parametrize("which", [0, 1], ids=["bash", "sh"])
@pytest.mark.parametrize("how", ["client-closes", "sshd-dies"])
async def test_loop_dies_with_session(nodes, which, how):
    node = nodes[which]
    target = node.target(interval=0.05)
    conn = await connect(target)
    proc = await conn.create_process(sampler_command(target))
    await proc.stdout.readuntil("\x1eE 1\n")
    assert shells_of(node)
    if how == "client-closes":
        conn.close()
    else:  # the per-connection sshd processes die, the listener stays: only the pipes close
        session_sshd = [p for p in _children(node.pid)]
        for pid in session_sshd:
            os.kill(pid, signal.SIGKILL)
    await wait_until(lambda: not node.session_pids(), timeout=5)
    conn.close()


def _children(pid: int) -> list[int]:
    """The sshd processes under pid (one that exits while we look is not one of them)."""
    return [p for p in descendants(pid) if p != pid and _exe(p) == "sshd"]


def _exe(pid: int) -> str | None:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:       # it exited between the listing and the look (CI saw it once)
        return None


async def test_bash_ticks_on_wall_clock_multiples(nodes):
    target = nodes[0].target(interval=0.1)
    async with await connect(target) as conn:
        frames = await read_frames(conn, sampler_command(target), 6)
    phases = [(f.node_clock + 0.0005) % 0.1 for f in frames[1:]]
    assert sum(p < 0.04 for p in phases) >= 4, phases  # wake-up latency under load is tolerated
    gaps = [b.node_clock - a.node_clock for a, b in zip(frames[1:], frames[2:])]
    assert all(0.05 < g < 0.35 for g in gaps), gaps


# ---- framing is injection-proof, through the real scripts ----------------------------------------

# every byte but NUL (the shell's read stops there), in an order that puts 0x1e mid-line
ALL_BYTES = bytes(range(1, 256)) + b"\n" + bytes(range(255, 0, -1))
CRAFTED_MEMINFO = (b"MemTotal:        1000 kB\nMemAvailable:     500 kB\n"
                   # the old format's record, and the new one's, for the load average
                   b"\x1eF proc/loadavg\n99.00 99.00 99.00 1/1 1\n"
                   b"\x1eF 24 proc/loadavg\n99.00 99.00 99.00 1/1 1\n\x1eE 0\n")


@pytest.fixture(scope="module")
def hostile_tree(public_tmp):
    root = public_tmp / "hostile"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "meminfo").write_bytes(CRAFTED_MEMINFO)
    (root / "proc" / "loadavg").write_bytes(b"0.25 0.50 0.75 1/99 4242\n")
    (root / "proc" / "stat").write_bytes(b"cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 10 0 10 80 0 0 0 0 0 0\n")
    hwmon = root / "sys" / "class" / "hwmon" / "hwmon0"
    hwmon.mkdir(parents=True)
    (hwmon / "name").write_bytes(ALL_BYTES)
    (hwmon / "temp1_label").write_bytes("température ✓\n".encode())
    (hwmon / "temp1_input").write_bytes(b"41000\n")
    subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
    return root


@pytest.mark.parametrize("which", [0, 1], ids=["bash", "sh"])
async def test_a_crafted_file_cannot_set_another_files_value(nodes, hostile_tree, which):
    from collectors.snapshot import build_sample
    target = nodes[which].target(procfs=str(hostile_tree / "proc"), sysfs=str(hostile_tree / "sys"),
                                 interval=0.05)
    async with await connect(target) as conn:
        frames = await read_frames(conn, sampler_command(target), 2)
    files = frames[-1].snapshot.files
    assert files["proc/loadavg"] == "0.25 0.50 0.75 1/99 4242\n"
    assert files["proc/meminfo"] == CRAFTED_MEMINFO.decode()
    assert files["sys/class/hwmon/hwmon0/name"] == ALL_BYTES.decode("utf-8", "replace")
    assert files["sys/class/hwmon/hwmon0/temp1_label"] == "température ✓\n"
    sample = build_sample("n", frames[-1].snapshot, time.time())
    assert sample.load.load1 == 0.25


@pytest.mark.parametrize("which", [0, 1], ids=["bash", "sh"])
async def test_lengths_are_bytes_under_a_utf8_login_locale(nodes, hostile_tree, which):
    """A login shell with LANG/LC_ALL set to UTF-8 must not make ${#v} count characters."""
    target = nodes[which].target(procfs=str(hostile_tree / "proc"), sysfs=str(hostile_tree / "sys"),
                                 interval=0.05)
    command = "LC_ALL=C.UTF-8 LANG=C.UTF-8; export LC_ALL LANG\n" + sampler_command(target)
    async with await connect(target) as conn:
        frames = await read_frames(conn, command, 2)
    assert frames[-1].snapshot.files["sys/class/hwmon/hwmon0/temp1_label"] == "température ✓\n"
