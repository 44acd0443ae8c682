"""The demo fleet end to end: real SSH servers reached through roost's own transport and Fleet.

Every test starts and stops its own seeded fleet; waits are on conditions, never fixed sleeps.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from collectors import transport
from collectors.fleet import Fleet
from collectors.model import NodeEvent, Sample
from collectors.transport import TransportError
from console.demo.fleet import DemoFleet

pytestmark = pytest.mark.timeout(120)


async def until(cond, timeout: float = 20.0, what: str = "condition") -> None:
    """Wait for cond() to hold, checking on every loop turn of a short timer."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _collect(fleet: Fleet, want, timeout: float = 30.0) -> list:
    """Items from fleet.stream() until want(items) is true."""
    items: list = []

    async def read() -> None:
        async for item in fleet.stream():
            items.append(item)
            if want(items):
                return
    await asyncio.wait_for(read(), timeout)
    return items


async def test_fleet_of_200_all_connect_and_sample(tmp_path):
    async with DemoFleet(200, seed=1, steady=True, state_dir=tmp_path) as demo:
        roost = Fleet(demo.targets(), max_connect=64)
        await roost.start()
        try:
            seen: dict[str, Sample] = {}

            def all_seen(items) -> bool:
                for i in items[-1:]:
                    if isinstance(i, Sample):
                        seen[i.node] = i
                return len(seen) == 200
            await _collect(roost, all_seen, timeout=60)
        finally:
            await roost.stop()
    boards = {n.name: n.board for n in demo.nodes}
    assert len(set(boards.values())) == 9
    rk1 = next(s for n, s in seen.items() if boards[n] == "rk1")
    assert len(rk1.cpus) == 8 and len(rk1.thermal) == 7 and rk1.problems == ()
    cm4 = next(s for n, s in seen.items() if boards[n] == "cm4")
    assert cm4.mmc[0].life_time == (10, 11) and cm4.filesystems[0].readonly


async def test_strict_host_keys_are_really_checked(tmp_path):
    async with DemoFleet(2, steady=True, state_dir=tmp_path) as demo:
        good, other = demo.targets()
        conn = await transport.connect(good)
        conn.close()
        # node 2's key under node 1's port: roost's strict check must refuse it.
        wrong = tmp_path / "wrong_known_hosts"
        line = demo.known_hosts.read_text().splitlines()[1]
        wrong.write_text(line.replace(f":{other.port}]", f":{good.port}]") + "\n")
        with pytest.raises(TransportError, match="(?i)host key"):
            await transport.connect(replace(good, known_hosts=(str(wrong),)))


async def test_dropped_node_is_seen_down_and_comes_back(tmp_path):
    async with DemoFleet(3, seed=2, steady=True, state_dir=tmp_path) as demo:
        roost = Fleet(demo.targets())
        await roost.start()
        try:
            victim = demo.nodes[1].name
            await _collect(roost, lambda items: all(roost.up.values()))
            await demo.drop(victim, 0.5)
            events = await _collect(roost, lambda items: _went(items, victim, "down", "up"))
        finally:
            await roost.stop()
    assert _went(events, victim, "down", "up")
    others = [e for e in events if isinstance(e, NodeEvent) and e.node != victim]
    assert all(e.kind == "up" for e in others)    # nobody else went down


def _went(items, node: str, *kinds: str) -> bool:
    """node's events contain kinds in this order (a late initial "up" may come first)."""
    seen = iter(i.kind for i in items if isinstance(i, NodeEvent) and i.node == node)
    return all(kind in seen for kind in kinds)


async def test_hung_node_is_seen_stale_and_comes_back(tmp_path):
    async with DemoFleet(2, seed=2, steady=True, interval=0.2, state_dir=tmp_path) as demo:
        roost = Fleet(demo.targets())
        await roost.start()
        try:
            victim = demo.nodes[0].name
            await _collect(roost, lambda items: all(roost.up.values()))
            await demo.drop(victim, 1.5, hang=True)
            assert demo.node(victim).conns               # TCP stays up while it hangs
            events = await _collect(roost, lambda items: _went(items, victim, "down", "up"))
        finally:
            await roost.stop()
    down = next(e for e in events if isinstance(e, NodeEvent) and e.kind == "down")
    assert "stale" in down.reason


async def test_random_drop_offs_happen_unless_steady(tmp_path):
    async with DemoFleet(4, seed=3, state_dir=tmp_path, drop_every=0.2,
                         drop_for=(0.1, 0.2)) as demo:
        await until(lambda: demo.drops >= 2, what="two drop-offs")
    async with DemoFleet(4, seed=3, steady=True, state_dir=tmp_path / "s", drop_every=0.2) as d:
        assert d._chaos is None


async def test_job_command_runs_in_the_node_directory(tmp_path):
    async with DemoFleet(2, steady=True, state_dir=tmp_path) as demo:
        roost = Fleet(demo.targets())
        await roost.start()
        try:
            await _collect(roost, lambda items: all(roost.up.values()))
            name = demo.nodes[0].name
            result = await roost.run_command(
                name, "pwd; echo $ROOST_DEMO_NODE; nproc; echo out > result.txt; "
                      "echo oops >&2; exit 3", timeout=10)
        finally:
            await roost.stop()
        node_dir = demo.node(name).dir
        assert result.stdout.split() == [str(node_dir), name, str(demo.nodes[0].cores)]
        assert result.stderr.strip() == "oops" and result.exit_status == 3
        assert (node_dir / "result.txt").read_text() == "out\n"


async def test_at_most_cores_commands_run_at_once(tmp_path):
    async with DemoFleet(1, profile="rpi4", steady=True, state_dir=tmp_path) as demo:
        node = demo.node(demo.nodes[0].name)
        conn = await transport.connect(demo.targets()[0])
        async with conn:
            # `cat` runs until its stdin closes: six of them on a four-core node.
            procs = [await conn.create_process("cat") for _ in range(6)]
            await until(lambda: len(node.procs) == 4, what="four running")
            procs[0].stdin.write_eof()
            await procs[0].wait()
            await until(lambda: len(node.procs) == 4 and procs[4].channel is not None)
            for p in procs[1:]:
                p.stdin.write("x\n")
                p.stdin.write_eof()
            results = [await p.wait() for p in procs[1:]]
        assert [r.stdout for r in results] == ["x\n"] * 5
        assert all(r.exit_status == 0 for r in results)


async def test_power_off_closes_port_and_on_reopens_after_boot_delay(tmp_path):
    async with DemoFleet(2, steady=True, boot_delay=0.4, state_dir=tmp_path) as demo:
        target = demo.targets()[0]
        power = demo.power(target.name)
        conn = await transport.connect(target)
        pid = int((await conn.run("setsid sleep 300 >/dev/null 2>&1 & echo $!")).stdout)
        await power.off()
        assert await power.status() == "off"
        await conn.wait_closed()                      # the live connection was cut
        with pytest.raises(TransportError, match="refused"):
            await transport.connect(target)
        await until(lambda: _gone(pid), what="detached work died with the power")
        t0 = time.monotonic()
        await power.on()
        assert await power.status() == "on" and not power.reachable
        with pytest.raises(TransportError, match="refused"):
            await transport.connect(target)           # still booting
        await power.wait_settled()
        assert time.monotonic() - t0 >= 0.4
        conn = await transport.connect(target)        # same port, same host key
        uptime = float((await _sample_once(conn, target)).split()[0])
        conn.close()
        assert uptime < 5                             # a fresh boot


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


async def _sample_once(conn, target) -> str:
    from collectors.frame import FrameDecoder
    from collectors.probe import sampler_command
    proc = await conn.create_process(sampler_command(target), encoding=None)
    decoder = FrameDecoder()
    while True:
        frames = decoder.feed(await proc.stdout.read(1 << 16))
        if frames:
            proc.close()
            return frames[0].snapshot.files["proc/uptime"]


async def test_sftp_is_rooted_at_the_node_dir(tmp_path):
    async with DemoFleet(1, steady=True, state_dir=tmp_path) as demo:
        conn = await transport.connect(demo.targets()[0])
        async with conn, conn.start_sftp_client() as sftp:
            async with sftp.open("/hello.txt", "w") as f:
                await f.write("hi\n")
            assert await sftp.getcwd() == "/"
        assert (demo.node(demo.nodes[0].name).dir / "hello.txt").read_text() == "hi\n"


async def test_shell_on_a_pty(tmp_path):
    async with DemoFleet(1, steady=True, state_dir=tmp_path) as demo:
        conn = await transport.connect(demo.targets()[0])
        async with conn:
            proc = await conn.create_process(term_type="xterm", term_size=(80, 24),
                                             env={})
            proc.stdin.write("echo node=$ROOST_DEMO_NODE; exit 7\n")
            result = await asyncio.wait_for(proc.wait(), 10)
        assert f"node={demo.nodes[0].name}" in result.stdout
        assert result.exit_status == 7


async def test_inventory_loads_with_roost_config(tmp_path):
    from console.config import load_config
    from console.demo.inventory import write_inventory
    async with DemoFleet(12, steady=True, state_dir=tmp_path / "state") as demo:
        path = write_inventory(demo, tmp_path / "roost.toml")
        config = load_config(path, state_dir=tmp_path / "state")
        targets = config.targets()
        assert [t.name for t in targets] == [n.name for n in demo.nodes]
        assert targets[0].groups == ("rpi4", "rack1") and "rack2" in targets[11].groups
        assert config.select("@rk1") and all(t.host_keys == "strict" for t in targets)
        conn = await transport.connect(targets[-1])
        assert (await conn.run("echo $ROOST_DEMO_NODE")).stdout.strip() == targets[-1].name
        conn.close()


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown demo profile"):
        DemoFleet(3, profile="commodore64")
    with pytest.raises(ValueError, match="at least one node"):
        DemoFleet(0)


async def test_detached_jobs_load_their_node(tmp_path):
    from console.demo import shell
    async with DemoFleet(2, profile="rpi4", steady=True, state_dir=tmp_path) as demo:
        name = demo.nodes[0].name
        conn = await transport.connect(demo.targets()[0])
        async with conn:
            await conn.run("for i in 1 2 3; do nohup sleep 60 >/dev/null 2>&1 & done")
            tag = demo.node(name).ctx.tag
            # the three were forked before `run` returned, but /proc/PID/environ of a process
            # in the middle of exec (nohup -> sleep) can be unreadable for a moment
            await until(lambda: shell.job_counts(tag) == {name: 3}, what="three detached jobs")
            await until(lambda: demo.node(name).sim.jobs == 3, what="three jobs seen")
            assert demo.node(demo.nodes[1].name).sim.jobs == 0
            util = demo.node(name).sim
            util.advance(time.time() + 1)
            assert sum(u > 0.9 for u in util.util) >= 3   # three cores busy
            await demo.power(name).off()                  # and power-off kills them
        tag = demo.node(name).ctx.tag
        await until(lambda: shell.job_counts(tag) == {}, what="jobs killed")


async def test_openssh_scp_and_ssh_clients_work(tmp_path):
    import shutil

    from tests.conftest import need
    need(shutil.which("scp") is not None and shutil.which("ssh") is not None, "OpenSSH client")
    async with DemoFleet(1, steady=True, state_dir=tmp_path / "s") as demo:
        t = demo.targets()[0]
        opts = ["-i", t.identity_files[0], "-o", f"UserKnownHostsFile={t.known_hosts[0]}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
        src = tmp_path / "payload.txt"
        src.write_text("payload\n")

        async def run(*argv: str) -> int:
            proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            await proc.communicate()
            return proc.returncode
        assert await run("scp", *opts, "-P", str(t.port), str(src),
                         f"{t.user}@{t.host}:copied.txt") == 0
        assert (demo.node(t.name).dir / "copied.txt").read_text() == "payload\n"
        assert await run("ssh", *opts, "-p", str(t.port), f"{t.user}@{t.host}", "exit 5") == 5


async def test_demo_source_runs_simulator_and_roost_in_one_loop(tmp_path):
    from console.demo.source import DemoSource
    demo = DemoFleet(4, seed=5, steady=True, state_dir=tmp_path)
    demo.prepare()                                # targets before anything is served
    targets = demo.targets()
    assert all(t.port > 0 for t in targets)
    source = DemoSource(demo, Fleet(targets))
    await source.start()
    try:
        items = await _collect(source, lambda items: all(source.up.values()))
        result = await source.run_command(targets[2].name, "echo $ROOST_DEMO_NODE", 10)
        assert result.stdout.strip() == targets[2].name
    finally:
        await source.stop()
    assert not any(isinstance(i, NodeEvent) and i.kind == "down" for i in items)
    assert await _refused_all(targets)


async def _refused_all(targets) -> bool:
    for t in targets:
        try:
            (await transport.connect(t)).close()
            return False
        except TransportError:
            pass
    return True
