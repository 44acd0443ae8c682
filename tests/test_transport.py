"""collectors.transport against real OpenSSH servers from the lab (tests/lab/sshd.py)."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from dataclasses import replace

import asyncssh
import pytest
from hypothesis import given, strategies as st

from collectors import transport as transport_mod
from collectors.transport import CHANNELS_PER_CONNECTION, TransportError, _parse_jump, channel_slot, connect, run
from tests.conftest import need
from tests.lab.sshd import descendants, running, signal_all


@pytest.fixture(scope="module")
def nodes(ssh_lab):
    return ssh_lab.start(2)


async def test_connect_and_run(nodes):
    conn = await connect(nodes[0].target())
    async with conn:
        res = await run(conn, "echo out; echo err >&2; exit 3", timeout=5)
    assert (res.exit_status, res.stdout, res.stderr) == (3, "out\n", "err\n")


async def test_run_timeout_is_one_line(nodes):
    async with await connect(nodes[0].target()) as conn:
        with pytest.raises(TransportError, match=r"^n1: command timed out after 0.3 s$"):
            await run(conn, "sleep 5", timeout=0.3, node="n1")


async def test_unknown_host_key_refused(nodes, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(TransportError) as err:
        await connect(nodes[0].target(known_hosts=(str(empty),)))
    assert str(err.value).startswith(f"{nodes[0].name}: host key not in known_hosts ({empty})")
    assert "\n" not in str(err.value)


async def test_missing_known_hosts_file_still_verifies(nodes, tmp_path):
    with pytest.raises(TransportError, match="host key not in known_hosts"):
        await connect(nodes[0].target(known_hosts=(str(tmp_path / "absent"),)))


async def test_accept_new_records_then_changed_key_refused(ssh_lab, tmp_path):
    node, = ssh_lab.start(1)
    store = tmp_path / "accepted"
    target = node.target(known_hosts=(), host_keys="accept-new", accept_new_store=str(store))
    async with await connect(target) as conn:
        assert (await run(conn, "echo ok", 5)).stdout == "ok\n"
    assert store.read_text().startswith(f"[{node.host}]:{node.port} ssh-ed25519 ")
    async with await connect(target):  # now known: no second line
        pass
    assert len(store.read_text().splitlines()) == 1
    node.restart(new_host_key=True)
    with pytest.raises(TransportError, match=r"host key CHANGED for \[127\.0\.0\.\d+\]:\d+"):
        await connect(target)
    assert len(store.read_text().splitlines()) == 1  # the changed key was not recorded
    with pytest.raises(TransportError, match="host key CHANGED"):
        await connect(node.target())  # strict, the lab's known_hosts holds the old key
    node.stop()


async def test_wrong_client_key_is_auth_error(nodes, tmp_path):
    other = tmp_path / "other_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(other))
    with pytest.raises(TransportError, match=rf"^{nodes[0].name}: authentication failed for user roostlab .*{other}"):
        await connect(nodes[0].target(identity_files=(str(other),)))


async def test_refused_and_unreadable_key(nodes, tmp_path):
    name = nodes[0].name
    with pytest.raises(TransportError, match=rf"^{name}: connection refused \(\[127.0.0.\d+\]:1\)"):
        await connect(nodes[0].target(port=1))
    with pytest.raises(TransportError, match=f"^{name}: cannot .*absent_key"):
        await connect(nodes[0].target(identity_files=(str(tmp_path / "absent_key"),)))


async def test_connect_timeout(nodes):
    # a listening socket that never speaks SSH: the handshake times out
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(TransportError, match=rf"^{nodes[0].name}: connect timeout after 0.5 s"):
            await connect(nodes[0].target(host="127.0.0.1", port=port, connect_timeout=0.5))


async def test_proxy_jump(ssh_lab):
    jump, far = ssh_lab.start(2)
    target = far.target(proxy_jump=f"roostlab@{jump.host}:{jump.port}")
    conn = await connect(target)
    res = await run(conn, "echo $ROOST_LAB_NODE", 5)
    assert res.stdout.strip() == far.token
    jump.kill()  # the far connection rides through the jump host: it must go down with it
    await asyncio.wait_for(conn.wait_closed(), 5)
    far.stop()


async def test_channel_budget_under_default_max_sessions(ssh_lab):
    node, = ssh_lab.start(1, config={"MaxSessions": "10"})
    async with await connect(node.target()) as conn:
        # raw asyncssh opens all 16 at once and the 11th fails: the limit is real here
        raw = await asyncio.gather(*(conn.run("sleep 0.3") for _ in range(16)),
                                   return_exceptions=True)
        assert any(isinstance(r, asyncssh.ChannelOpenError) for r in raw)
    async with await connect(node.target()) as conn:  # fresh: no half-closed raw sessions
        # fast churn too: sshd may still count a just-closed session for a moment
        results = await asyncio.gather(*(run(conn, "sleep 0.1; echo ok", 10) for _ in range(16)),
                                       *(run(conn, "echo ok", 10) for _ in range(48)))
    assert all(r.stdout == "ok\n" for r in results)
    assert channel_slot(conn)._value == CHANNELS_PER_CONNECTION
    node.stop()


@given(st.sampled_from(["", "u@"]), st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
       st.one_of(st.none(), st.integers(1, 65535)))
def test_parse_jump(user, host, port):
    spec = user + host + ("" if port is None else f":{port}")
    assert _parse_jump(spec) == (user[:-1] or None, host, port or 22)


def test_bad_host_keys_mode(nodes):
    with pytest.raises(TransportError, match="host_keys must be one of"):
        asyncio.run(connect(replace(nodes[0].target(), host_keys="yolo")))


async def test_prefers_aes_gcm(nodes):
    async with await connect(nodes[0].target()) as conn:
        assert conn.get_extra_info("recv_cipher") == "aes128-gcm@openssh.com"


async def test_keepalive_notices_a_frozen_peer(ssh_lab, monkeypatch):
    monkeypatch.setattr(transport_mod, "KEEPALIVE_INTERVAL", 0.3)
    node, = ssh_lab.start(1)
    conn = await connect(node.target())
    await run(conn, "true", 5)  # the post-auth sshd child exists from here on
    for _ in range(2):  # again, in case a fork was in flight: TCP stays open, nothing answers
        signal_all(descendants(node.pid), signal.SIGSTOP)
    try:
        await asyncio.wait_for(conn.wait_closed(), 5)
    finally:
        node.kill()


async def test_ssh_agent(nodes, monkeypatch, tmp_path):
    need(shutil.which("ssh-agent") is not None, "ssh-agent missing (openssh-client)")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        while not sock.exists():
            await asyncio.sleep(0.01)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", nodes[0].lab.client_key], env=env, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no default keys: only the agent can log in
        async with await connect(nodes[0].target(identity_files=())) as conn:
            assert (await run(conn, "echo agent", 5)).stdout == "agent\n"
        monkeypatch.delenv("SSH_AUTH_SOCK")
        with pytest.raises(TransportError, match="authentication failed"):
            await connect(nodes[0].target(identity_files=()))
    finally:
        agent.kill()
        agent.wait()


def test_lab_kill_takes_sessions_with_it(ssh_lab):
    async def scenario():
        node, = ssh_lab.start(1)
        conn = await connect(node.target())
        await conn.create_process("sleep 300")
        while not node.session_pids():
            await asyncio.sleep(0.01)
        tree = descendants(node.pid)
        node.kill()
        assert not node.session_pids() and not node.alive()
        assert len(tree) >= 3 and not [p for p in tree if running(p)]
        conn.close()
    asyncio.run(scenario())


async def test_timed_out_command_is_terminated(nodes):
    async with await connect(nodes[0].target()) as conn:
        with pytest.raises(TransportError, match="timed out"):
            await run(conn, "sleep 30.4321", timeout=0.3)
        # the node's sleep is gone and the slot is free again
        left = await run(conn, "pgrep -u roostlab -x sleep -a || true", 5)
    assert "sleep 30.4321" not in left.stdout
    assert channel_slot(conn)._value == CHANNELS_PER_CONNECTION
