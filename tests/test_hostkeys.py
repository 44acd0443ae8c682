"""collectors.hostkeys without a network: the OpenSSH lookup rules, hashed names as ssh-keygen
reads them, ssh_config's host key options, and the /etc/hosts helper's cleanup."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace

import asyncssh
import pytest
from hypothesis import given, settings, strategies as st

from collectors.hostkeys import HostKeyCheck, fold_case, hashed, host_pattern, lookup_name
from collectors.model import NodeTarget
from console.sshconfig import SshConfigError, load_ssh_config
from tests.lab.etchosts import MARK, EtcHosts

KEY = asyncssh.generate_private_key("ssh-ed25519")
OTHER = asyncssh.generate_private_key("ssh-ed25519")
PUB, OTHER_PUB = (k.export_public_key().decode().strip() for k in (KEY, OTHER))
PUB_KEY = asyncssh.import_public_key(PUB)


def verdict(lines: str, target: NodeTarget, addr: str, key=PUB_KEY, store: str | None = None):
    """(trusted?, status) as a connection to addr offering key would end."""
    check = HostKeyCheck(target, asyncssh.import_known_hosts(fold_case(lines)))
    trusted, _, revoked = check.match(target.host, addr, None)
    if key in revoked:
        return False, "revoked"
    if key in trusted:
        return True, None
    return check.judge(key), check.status


PI = NodeTarget("pi1", "pi1.lan", port=2222)


def key_free_id(lines: str) -> str:
    """A test id without the keys made at import: every xdist worker must collect the same ids."""
    return lines.replace(PUB, "KEY").replace(OTHER_PUB, "OTHER_KEY").replace("\n", " ").strip()


@pytest.mark.parametrize("lines,target,expected", [
    (f"[pi1.lan]:2222 {PUB}\n", PI, (True, None)),
    (f"[PI1.LAN]:2222 {PUB}\n", PI, (True, None)),              # case-blind, as OpenSSH (checked
    (f"[pi1.lan]:2222 {PUB}\n", replace(PI, host="PI1.lan"), (True, None)),  # with ssh itself)
    (f"pi1.lan {PUB}\n", PI, (True, None)),                     # OpenSSH's port-free fallback
    (f"pi1.lan {OTHER_PUB}\n", PI, (False, "changed")),
    (f"[pi1.lan]:2222 {OTHER_PUB}\npi1.lan {PUB}\n", PI, (False, "changed")),  # port entry decides
    (f"[10.0.0.5]:2222 {PUB}\n", PI, (False, "new")),           # the address alone vouches for nothing
    (f"*.lan {PUB}\n", PI, (True, None)),                       # patterns too, through the fallback
    (f"*.lan {PUB}\n", replace(PI, host_key_alias="rack-a"), (False, "new")),
    (f"[*.lan]:2222 {PUB}\n", PI, (True, None)),
    (f"@revoked [pi1.lan]:2222 {PUB}\n[pi1.lan]:2222 {PUB}\n", PI, (False, "revoked")),
    (f"rack-a {PUB}\n", replace(PI, host_key_alias="Rack-A"), (True, None)),   # alias: no port
    (f"[rack-a]:2222 {PUB}\n", replace(PI, host_key_alias="rack-a"), (False, "new")),
    (f"[pi1.lan]:2222 {PUB}\n", replace(PI, host_key_alias="rack-a"), (False, "new")),
    (f"[pi1.lan]:2222 {PUB}\n[10.0.0.5]:2222 {OTHER_PUB}\n", PI, (True, None)),  # CheckHostIP off
    (f"[pi1.lan]:2222 {PUB}\n[10.0.0.5]:2222 {OTHER_PUB}\n", replace(PI, check_host_ip=True),
     (False, "address")),
    (f"[10.0.0.5]:2222 {OTHER_PUB}\n", replace(PI, check_host_ip=True), (False, "address")),
    (f"[pi1.lan]:2222 {PUB}\n[10.0.0.5]:2222 {PUB}\n", replace(PI, check_host_ip=True), (True, None)),
    (f"[pi1.lan]:2222 {PUB}\n", replace(PI, check_host_ip=True), (True, None)),
    (f"[pi1.lan]:2222 {PUB}\n[10.0.0.5]:2222 {OTHER_PUB}\n",
     replace(PI, check_host_ip=True, proxy_jump="ctl"), (True, None)),   # no address via a proxy
], ids=lambda v: key_free_id(v) if isinstance(v, str) else None)
def test_lookup_rules(lines, target, expected):
    assert verdict(lines, target, "10.0.0.5") == expected


def test_accept_new_records_only_a_new_key(tmp_path):
    store = tmp_path / "kh"
    new = replace(PI, host_keys="accept-new", accept_new_store=str(store))
    assert verdict("", new, "10.0.0.5") == (True, "new")
    assert store.read_text() == f"[pi1.lan]:2222 {PUB}\n"
    assert verdict(f"[pi1.lan]:2222 {OTHER_PUB}\n", new, "10.0.0.5") == (False, "changed")
    assert verdict(f"[10.0.0.5]:2222 {OTHER_PUB}\n", replace(new, check_host_ip=True),
                   "10.0.0.5") == (False, "address")
    assert store.read_text() == f"[pi1.lan]:2222 {PUB}\n"      # nothing refused was recorded
    assert oct(store.stat().st_mode & 0o777) == "0o600"


def test_accept_new_refuses_to_write_through_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (tmp_path / "kh").symlink_to(victim)
    new = replace(PI, host_keys="accept-new", accept_new_store=str(tmp_path / "kh"))
    with pytest.raises(OSError):
        verdict("", new, "10.0.0.5")
    assert victim.read_text() == "keep\n"


names = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(name=names, other=names, port=st.integers(1, 65535), upper=st.booleans())
def test_a_hashed_entry_matches_its_name_only(name, other, port, upper):
    target = NodeTarget("n", name.upper() if upper else name, port=port)
    line = f"{hashed(host_pattern(name, port))} {PUB}\n"
    assert verdict(line, target, "") == (True, None)
    if other != name:
        assert verdict(line, replace(target, host=other), "")[0] is False


_b64 = st.text("ABCabc0123+/=", min_size=4, max_size=8)
patterns = st.one_of(
    st.text("ABCxyz019.*?[]:,!-", min_size=1, max_size=30),
    st.builds(lambda salt, h: f"|1|{salt}|{h}", _b64, _b64))
markers = st.sampled_from(["", "@cert-authority ", "@revoked "])


@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "  "]), markers, patterns,
                          st.sampled_from([" ssh-ed25519 AAAAbC", "\tssh-rsa AAAAB3 Comment X"])),
                max_size=6))
def test_fold_case_lowercases_plain_patterns_only(entries):
    lines = [f"{lead}{mark}{pat}{rest}" for lead, mark, pat, rest in entries]
    text = "\n".join(["# A Comment", *lines])
    folded = fold_case(text)
    assert folded.count("\n") == text.count("\n") and fold_case(folded) == folded
    assert folded.split("\n")[0] == "# A Comment"
    for (_, mark, pat, _), before, after in zip(entries, lines, folded.split("\n")[1:]):
        want = pat if pat.startswith("|") else pat.lower()
        assert after == before.replace(mark + pat, mark + want, 1)   # only the pattern changed


def test_hashed_names_are_what_ssh_keygen_finds(tmp_path):
    kh = tmp_path / "kh"
    kh.write_text(f"{hashed('[roost-pi1]:2222')} {PUB}\n{hashed('pi2.lan')} {PUB}\n")
    for name in ("[roost-pi1]:2222", "pi2.lan"):
        found = subprocess.run(["ssh-keygen", "-F", name, "-f", str(kh)], capture_output=True,
                               text=True, timeout=20)
        assert found.returncode == 0 and "found: line" in found.stdout, (name, found)
    assert subprocess.run(["ssh-keygen", "-F", "pi3.lan", "-f", str(kh)],
                          capture_output=True, timeout=20).returncode != 0


@pytest.mark.parametrize("host,port,expected", [
    ("pi1", 22, "pi1"), ("Pi1.LAN", 2222, "[pi1.lan]:2222"), ("::1", 2222, "[::1]:2222"),
    ("::1", 22, "::1")])
def test_lookup_name(host, port, expected):
    assert lookup_name(NodeTarget("n", host, port=port)) == expected


# ---- ssh_config ------------------------------------------------------------------------------

def test_ssh_config_host_key_options(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text("Host pi1\n  HostName pi1.lan\n  HostKeyAlias Rack-A-1\n  CheckHostIP yes\n"
                    "  HashKnownHosts yes\nHost *\n  CheckHostIP no\n"
                    "  GlobalKnownHostsFile /etc/x /etc/y\n")
    cfg = load_ssh_config(path)
    pi1, pi2 = cfg.lookup("pi1"), cfg.lookup("pi2")
    assert (pi1.host_key_alias, pi1.check_host_ip, pi1.hash_known_hosts) == ("Rack-A-1", True, True)
    assert (pi2.host_key_alias, pi2.check_host_ip, pi2.hash_known_hosts) == (None, False, None)
    assert pi2.global_known_hosts == ("/etc/x", "/etc/y")


def test_ssh_config_bad_check_host_ip_is_one_line_with_the_line(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text("Host *\n  CheckHostIP maybe\n")
    with pytest.raises(SshConfigError) as err:
        load_ssh_config(path)
    assert str(err.value) == f"{path}:2: Invalid CheckHostIP boolean value: maybe"


def test_config_carries_ssh_config_host_key_options(tmp_path):
    from console.config import load_config
    ssh = tmp_path / "ssh_config"
    ssh.write_text("Host pi1\n  HostKeyAlias rack-a-1\n  CheckHostIP yes\n  HashKnownHosts yes\n")
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "pi[1-2]"\n')
    pi1, pi2 = load_config(cfg, ssh_config=ssh, state_dir=tmp_path / "st").targets()
    assert (pi1.host_key_alias, pi1.check_host_ip, pi1.hash_known_hosts) == ("rack-a-1", True, True)
    assert (pi2.host_key_alias, pi2.check_host_ip, pi2.hash_known_hosts) == (None, False, False)


# ---- the /etc/hosts helper -------------------------------------------------------------------

def test_etc_hosts_helper_removes_its_lines_and_those_of_killed_runs(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    code = (f"import os, sys; sys.path.insert(0, {os.getcwd()!r})\n"
            "from pathlib import Path\nfrom tests.lab.etchosts import EtcHosts\n"
            f"EtcHosts(Path({str(hosts)!r})).add('roost-dead', '127.0.0.9')\n"
            "os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert "roost-dead" in hosts.read_text()          # atexit cannot run after kill -9 ...
    mine, other = EtcHosts(hosts), EtcHosts(hosts)
    other.add("roost-other", "127.0.0.8")
    mine.add("roost-mine", "::1")
    mine.clear()                                      # ... the next user removes it
    assert hosts.read_text() == f"127.0.0.1 localhost\n127.0.0.8 roost-other {MARK}{os.getpid()} id={other.id}\n"
    other.clear()
    assert hosts.read_text() == "127.0.0.1 localhost\n"
    with pytest.raises(ValueError):
        mine.add("router", "127.0.0.1")               # never a name outside roost-*
