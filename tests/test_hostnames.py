"""Nodes named the way real clusters name them, against real sshd nodes on loopback.

Names resolve for real: `localhost`, names this test adds to /etc/hosts (tests/lab/etchosts.py),
ssh_config HostName aliases and HostKeyAlias, IPv6 `::1`, and a name that resolves nowhere.
known_hosts entries are written by OpenSSH's own tools where users use them (`ssh-keyscan -H`,
`ssh-keygen -H`), so roost is held to what OpenSSH writes and reads.
"""
from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from pathlib import Path

import asyncssh
import pytest

from collectors.fleet import Fleet
from collectors.model import NodeEvent, Sample
from collectors.transport import TransportError, connect, run
from console.config import load_config
from tests.helpers.hostnames import NOWHERE, keyscan
from tests.lab.sshd import LabNode

pytestmark = pytest.mark.peers

def known_hosts(tmp_path: Path, *lines: str, name: str = "known_hosts") -> Path:
    path = tmp_path / name
    path.write_text("".join(lines))
    return path


def stranger_key() -> str:
    """Another host's public key (every lab node shares one host key)."""
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


async def echo(target, text: str = "hi") -> str:
    async with await connect(target) as conn:
        return (await run(conn, f"echo {text}", 10)).stdout.strip()


@pytest.fixture(scope="module")
def lab(ssh_lab):
    """Two nodes on their own 127.0.0.x, one on 127.0.0.1 (`localhost`), one on ::1."""
    pair = ssh_lab.start(2)
    local, = ssh_lab.start(1, host="127.0.0.1")
    v6, = ssh_lab.start(1, host="::1")
    return {"a": pair[0], "b": pair[1], "local": local, "v6": v6}


# ---- names that resolve ----------------------------------------------------------------------

async def test_localhost_connects_and_is_matched_by_name(lab, tmp_path):
    node = lab["local"]
    kh = known_hosts(tmp_path, node.known_host_line_for("localhost"))
    assert await echo(node.target(host="localhost", known_hosts=(str(kh),))) == "hi"


async def test_an_etc_hosts_name_matches_a_hashed_keyscan_entry(lab, tmp_path, etc_hosts):
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    line = keyscan(node, "roost-pi1")
    assert line.startswith("|1|") and "roost-pi1" not in line
    kh = known_hosts(tmp_path, line)
    assert await echo(node.target(host="roost-pi1", known_hosts=(str(kh),))) == "hi"
    # as given, case aside: OpenSSH lowercases the name before looking it up
    assert await echo(node.target(host="ROOST-PI1", known_hosts=(str(kh),))) == "hi"


async def test_ssh_keygen_hashed_file_still_matches(lab, tmp_path, etc_hosts):
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    kh = known_hosts(tmp_path, node.known_host_line_for("roost-pi1"))
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True, timeout=20)
    assert "roost-pi1" not in kh.read_text() and kh.read_text().startswith("|1|")
    assert await echo(node.target(host="roost-pi1", known_hosts=(str(kh),))) == "hi"


async def test_a_port_free_entry_matches_any_port_as_openssh_does(lab, tmp_path, etc_hosts):
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    key = node.host_public_key.export_public_key().decode().strip()
    kh = known_hosts(tmp_path, f"roost-pi1 {key}\n")   # no [name]:port entry
    assert await echo(node.target(host="roost-pi1", known_hosts=(str(kh),))) == "hi"


async def test_ipv6_loopback_by_address_and_by_name(lab, tmp_path, etc_hosts):
    node = lab["v6"]
    etc_hosts.add("roost-pi6", "::1")
    kh = known_hosts(tmp_path, node.known_host_line_for("::1"), keyscan(node, "roost-pi6"))
    assert await echo(node.target(host="::1", known_hosts=(str(kh),))) == "hi"
    assert await echo(node.target(host="roost-pi6", known_hosts=(str(kh),))) == "hi"


# ---- what is refused, and how it is said -----------------------------------------------------

async def test_an_address_entry_does_not_vouch_for_a_name(lab, tmp_path, etc_hosts):
    """`ssh -o StrictHostKeyChecking=yes roost-pi1` refuses a key recorded only for the address."""
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    kh = known_hosts(tmp_path, node.known_host_line)   # [127.0.0.x]:port only
    with pytest.raises(TransportError) as err:
        await connect(node.target(host="roost-pi1", known_hosts=(str(kh),)))
    text = str(err.value)
    assert text.startswith(f"{node.name}: host key not in known_hosts ({kh}) for [roost-pi1]:{node.port}")
    assert f"[{node.host}]:{node.port} is listed with this key" in text
    assert f"ssh-keyscan -H -p {node.port} roost-pi1 >> {kh}" in text and "\n" not in text
    assert _openssh_refuses(node, "roost-pi1", kh)


def _openssh(node: LabNode, host: str, kh: Path) -> subprocess.CompletedProcess:
    """The real ssh client on the same known_hosts, strict and without a prompt."""
    return subprocess.run(["ssh", "-F", "/dev/null", "-p", str(node.port), "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={kh}",
                           "-o", "GlobalKnownHostsFile=/dev/null", "-i", str(node.lab.client_key),
                           f"roostlab@{host}", "true"], capture_output=True, text=True, timeout=20)


def _openssh_refuses(node: LabNode, host: str, kh: Path) -> bool:
    done = _openssh(node, host, kh)
    return done.returncode != 0 and "host key" in done.stderr.lower()


def _openssh_accepts(node: LabNode, host: str, kh: Path) -> bool:
    done = _openssh(node, host, kh)
    assert done.returncode == 0, done.stderr
    return True


AGREEMENT = {   # known_hosts content -> what both ssh and roost must decide (strict checking)
    "by name and port": ("[roost-pi1]:{port} {key}", True),
    "upper case entry": ("[ROOST-PI1]:{port} {key}", True),
    "name without port": ("roost-pi1 {key}", True),
    "wildcard": ("roost-* {key}", True),
    "ssh-keyscan -H": ("{keyscan}", True),
    "address only": ("[{addr}]:{port} {key}", False),
    "other key": ("[roost-pi1]:{port} {other}", False),
    "revoked": ("@revoked [roost-pi1]:{port} {key}\n[roost-pi1]:{port} {key}", False),
    "negated": ("roost-*,!roost-pi1 {key}", False),
    "address holds another key": ("[roost-pi1]:{port} {key}\n[{addr}]:{port} {other}", True),
    "empty": ("", False),
}


@pytest.mark.parametrize("case", AGREEMENT)
async def test_roost_and_openssh_agree(case, lab, tmp_path, etc_hosts):
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    template, trusted = AGREEMENT[case]
    text = template.format(port=node.port, addr=node.host, other=stranger_key(),
                           key=node.host_public_key.export_public_key().decode().strip(),
                           keyscan=keyscan(node, "roost-pi1").strip() if "keyscan" in template else "")
    kh = known_hosts(tmp_path, text + "\n")
    openssh = _openssh(node, "roost-pi1", kh).returncode == 0
    try:
        roost = await echo(node.target(host="roost-pi1", known_hosts=(str(kh),))) == "hi"
    except TransportError:
        roost = False
    assert (openssh, roost) == (trusted, trusted)


async def test_no_known_hosts_names_the_files_searched_and_the_fix(lab, tmp_path, etc_hosts):
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    missing = (str(tmp_path / "nope"), str(tmp_path / "nope2"))
    with pytest.raises(TransportError) as err:
        await connect(node.target(host="roost-pi1", known_hosts=missing))
    text = str(err.value)
    assert f"(none of {missing[0]}, {missing[1]} exists)" in text
    assert f"ssh-keyscan -H -p {node.port} roost-pi1 >> {missing[0]}" in text
    assert 'host_keys = "accept-new"' in text and 'known_hosts = "FILE"' in text
    # following the advice works
    Path(missing[0]).write_text(keyscan(node, "roost-pi1"))
    assert await echo(node.target(host="roost-pi1", known_hosts=missing)) == "hi"


async def test_unresolvable_name_is_one_line(lab):
    node = lab["a"]
    with pytest.raises(TransportError, match=rf"^{node.name}: cannot resolve host '{NOWHERE}': "):
        await connect(node.target(host=NOWHERE))


async def test_changed_key_under_a_name_is_refused(ssh_lab, tmp_path, etc_hosts):
    node, = ssh_lab.start(1)
    etc_hosts.add("roost-pi2", node.host)
    kh = known_hosts(tmp_path, keyscan(node, "roost-pi2"))
    target = node.target(host="roost-pi2", known_hosts=(str(kh),))
    assert await echo(target) == "hi"
    node.restart(new_host_key=True)
    try:
        with pytest.raises(TransportError, match=rf"host key CHANGED for \[roost-pi2\]:{node.port} "):
            await connect(target)
    finally:
        node.stop()


# ---- accept-new records under the name given -------------------------------------------------

async def test_accept_new_records_the_name_then_refuses_a_changed_key(ssh_lab, tmp_path, etc_hosts):
    node, = ssh_lab.start(1)
    etc_hosts.add("roost-pi3", node.host)
    store = tmp_path / "state" / "known_hosts"
    target = node.target(host="roost-pi3", known_hosts=(), host_keys="accept-new",
                         accept_new_store=str(store))
    try:
        assert await echo(target) == "hi"
        assert store.read_text().startswith(f"[roost-pi3]:{node.port} ssh-ed25519 ")
        assert oct(store.stat().st_mode & 0o777) == "0o600"
        assert await echo(target) == "hi"
        assert len(store.read_text().splitlines()) == 1     # known now: not recorded twice
        node.restart(new_host_key=True)
        with pytest.raises(TransportError, match=rf"host key CHANGED for \[roost-pi3\]:{node.port}"):
            await connect(target)
        assert len(store.read_text().splitlines()) == 1     # the changed key was not recorded
    finally:
        node.stop()


async def test_accept_new_hashes_when_ssh_config_says_so(lab, tmp_path, etc_hosts):
    node = lab["b"]
    etc_hosts.add("roost-pi4", node.host)
    store = tmp_path / "accepted"
    target = node.target(host="roost-pi4", known_hosts=(), host_keys="accept-new",
                         accept_new_store=str(store), hash_known_hosts=True)
    assert await echo(target) == "hi"
    assert store.read_text().startswith("|1|") and "roost-pi4" not in store.read_text()
    # OpenSSH reads the hashed line roost wrote
    assert _openssh_accepts(node, "roost-pi4", store)
    assert await echo(target) == "hi" and len(store.read_text().splitlines()) == 1


# ---- CheckHostIP -----------------------------------------------------------------------------

async def test_check_host_ip_refuses_an_address_holding_another_key(lab, tmp_path, etc_hosts):
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    wrong = stranger_key()
    kh = known_hosts(tmp_path, node.known_host_line_for("roost-pi1"),
                     f"[{node.host}]:{node.port} {wrong}\n")
    target = node.target(host="roost-pi1", known_hosts=(str(kh),))
    assert await echo(target) == "hi"        # CheckHostIP off (OpenSSH's default): name decides
    with pytest.raises(TransportError) as err:
        await connect(replace(target, check_host_ip=True))
    assert (f"host key for [roost-pi1]:{node.port} differs from the one known_hosts holds for "
            f"its address [{node.host}]:{node.port} (CheckHostIP") in str(err.value)


async def test_check_host_ip_accept_new_records_name_and_address(lab, tmp_path, etc_hosts):
    node = lab["b"]
    etc_hosts.add("roost-pi4", node.host)
    store = tmp_path / "accepted"
    target = node.target(host="roost-pi4", known_hosts=(), host_keys="accept-new",
                         accept_new_store=str(store), check_host_ip=True)
    assert await echo(target) == "hi"
    assert store.read_text().startswith(f"[roost-pi4]:{node.port},[{node.host}]:{node.port} ")
    # the address alone now vouches for the key to OpenSSH as well
    assert _openssh_accepts(node, node.host, store)


# ---- ssh_config: HostName alias and HostKeyAlias ---------------------------------------------

def _ssh_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return path


async def test_ssh_config_hostname_alias_matches_by_hostname(lab, tmp_path, etc_hosts):
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    kh = known_hosts(tmp_path, keyscan(node, "roost-pi1"))
    ssh = _ssh_config(tmp_path, f"Host pi1\n  HostName roost-pi1\n  Port {node.port}\n"
                                f"  User roostlab\n  IdentityFile {node.lab.client_key}\n"
                                f"  UserKnownHostsFile {kh}\n")
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "pi1"\n')
    target, = load_config(cfg, ssh_config=ssh, state_dir=tmp_path / "st").targets()
    assert (target.host, target.port) == ("roost-pi1", node.port)
    assert await echo(target) == "hi"


async def test_host_key_alias_is_looked_up_without_a_port(lab, tmp_path, etc_hosts):
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    key = node.host_public_key.export_public_key().decode().strip()
    kh = known_hosts(tmp_path, f"rack-a-pi1 {key}\n")
    ssh = _ssh_config(tmp_path, f"Host pi1\n  HostName roost-pi1\n  HostKeyAlias Rack-A-Pi1\n"
                                f"  Port {node.port}\n  UserKnownHostsFile {kh}\n")
    cfg = tmp_path / "roost.toml"
    cfg.write_text(f'[defaults]\nuser = "roostlab"\nidentity = "{node.lab.client_key}"\n'
                   '[[nodes]]\nnames = "pi1"\n')
    target, = load_config(cfg, ssh_config=ssh, state_dir=tmp_path / "st").targets()
    assert target.host_key_alias == "Rack-A-Pi1"
    assert await echo(target) == "hi"
    # the alias, not the name: an entry for [roost-pi1]:port alone does not do
    kh.write_text(keyscan(node, "roost-pi1"))
    with pytest.raises(TransportError) as err:
        await connect(target)
    text = str(err.value)
    assert "for rack-a-pi1 (HostKeyAlias of roost-pi1)" in text
    assert f"ssh-keyscan -p {node.port} roost-pi1 | sed 's/^[^ ]*/rack-a-pi1/' >> {kh}" in text
    # and a different key under the alias is a CHANGED key
    kh.write_text(f"rack-a-pi1 {stranger_key()}\n")
    with pytest.raises(TransportError, match=r"host key CHANGED for rack-a-pi1 \(HostKeyAlias of roost-pi1\)"):
        await connect(target)


async def test_accept_new_records_under_the_host_key_alias(lab, tmp_path, etc_hosts):
    node = lab["b"]
    etc_hosts.add("roost-pi4", node.host)
    store = tmp_path / "accepted"
    target = node.target(host="roost-pi4", known_hosts=(), host_keys="accept-new",
                         accept_new_store=str(store), host_key_alias="pi4-key")
    assert await echo(target) == "hi"
    assert store.read_text().startswith("pi4-key ssh-ed25519 ")


# ---- one bad node never takes the fleet down -------------------------------------------------

async def _until(fleet: Fleet, want, timeout: float = 20.0) -> dict[str, list]:
    """Stream until want(seen) holds; seen maps node -> its events and samples, in order."""
    seen: dict[str, list] = {}
    async with asyncio.timeout(timeout):
        async for item in fleet.stream():
            seen.setdefault(item.node, []).append(item)
            if want(seen):
                return seen
    raise AssertionError(f"stream ended: {seen}")


def _down(items) -> list[str]:
    return [i.reason for i in items if isinstance(i, NodeEvent) and i.kind == "down"]


def _sampled(items) -> bool:
    return any(isinstance(i, Sample) for i in items)


async def test_fleet_of_names_with_broken_members(lab, tmp_path, etc_hosts):
    etc_hosts.add("roost-pi1", lab["a"].host)
    lines = [keyscan(lab["a"], "roost-pi1"), lab["local"].known_host_line_for("localhost"),
             lab["v6"].known_host_line, lab["b"].known_host_line]
    kh = str(known_hosts(tmp_path, *lines))
    good = [lab["a"].target(name="pi1", host="roost-pi1", known_hosts=(kh,)),
            lab["local"].target(name="loc", host="localhost", known_hosts=(kh,)),
            lab["v6"].target(name="six", known_hosts=(kh,)),
            lab["b"].target(name="ip", known_hosts=(kh,))]
    bad = [lab["b"].target(name="gone", host=NOWHERE, known_hosts=(kh,)),
           # a target the sampler refuses (ValueError, not an SSH error): once a dead task
           lab["b"].target(name="odd", known_hosts=(kh,), procfs="relative/proc")]
    fleet = Fleet([replace(t, interval=0.2) for t in good + bad])
    await fleet.start()
    try:
        seen = await _until(fleet, lambda s: all(_sampled(s.get(t.name, [])) for t in good)
                            and all(_down(s.get(t.name, [])) for t in bad))
        assert "cannot resolve host" in _down(seen["gone"])[0]
        assert "procfs must be an absolute path" in _down(seen["odd"])[0]
        assert not any(task.done() for task in fleet._tasks)   # every node's task lives on
        # ... and retries: the failing node is attempted again after its backoff
        state = fleet._nodes["odd"]
        async with asyncio.timeout(10):
            while state.failures < 2:
                await asyncio.sleep(0.05)
    finally:
        await fleet.stop()


def test_the_console_shell_verifies_a_host_key_alias_as_roost_does(lab, tmp_path, etc_hosts):
    """`t` runs the system ssh: it must look the key up under the same alias."""
    from console.screens.shell import ssh_argv
    node = lab["a"]
    etc_hosts.add("roost-pi1", node.host)
    key = node.host_public_key.export_public_key().decode().strip()
    kh = known_hosts(tmp_path, f"rack-a-pi1 {key}\n")
    target = node.target(host="roost-pi1", known_hosts=(str(kh),), host_key_alias="rack-a-pi1")
    argv = ssh_argv("pi1", target)
    strict = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    done = subprocess.run(argv[:1] + strict + argv[1:] + ["echo", "hi"], capture_output=True,
                          text=True, timeout=20)
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
