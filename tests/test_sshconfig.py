"""console.sshconfig: OpenSSH client config per node name, as `ssh NAME` would resolve it."""
from __future__ import annotations

import pytest

from console.sshconfig import SshConfigError, SshHost, load_ssh_config

CONFIG = """\
Host n? !n9
  HostName 127.0.0.%h
  Port 2222
Host n*
  User pi
  Port 2300
  IdentityFile ~/.ssh/id_a
  IdentityFile /keys/id_b
  UserKnownHostsFile /kh/one /kh/two
  ProxyJump ctl
Host *
  User nobody
"""


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "config"
    path.write_text(CONFIG.replace("127.0.0.%h", "%h.lan"))
    return load_ssh_config(path)


def test_patterns_first_value_wins_and_lists_accumulate(cfg, monkeypatch):
    n1 = cfg.lookup("n1")
    assert (n1.hostname, n1.port, n1.user, n1.proxy_jump) == ("n1.lan", 2222, "pi", "ctl")
    assert n1.identity_files[1] == "/keys/id_b" and n1.identity_files[0].endswith("/.ssh/id_a")
    assert n1.known_hosts == ("/kh/one", "/kh/two")


def test_negated_pattern_and_fallthrough(cfg):
    n9 = cfg.lookup("n9")          # excluded by !n9: no HostName, the n* block's port
    assert (n9.hostname, n9.port, n9.user) == (None, 2300, "pi")
    other = cfg.lookup("web")
    assert other == SshHost(user="nobody")


def test_absent_default_is_none_but_explicit_missing_is_an_error(tmp_path):
    assert load_ssh_config(env={"HOME": str(tmp_path)}) is None
    with pytest.raises(SshConfigError, match="ssh config file not found"):
        load_ssh_config(tmp_path / "nope")
    with pytest.raises(SshConfigError, match="not found"):
        load_ssh_config(env={"HOME": str(tmp_path), "ROOST_SSH_CONFIG": str(tmp_path / "x")})


def test_default_path_is_home_ssh_config(tmp_path):
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host a\n  Port 2001\n")
    assert load_ssh_config(env={"HOME": str(tmp_path)}).lookup("a").port == 2001


def test_parse_error_is_one_line_with_file_and_line(tmp_path):
    path = tmp_path / "config"
    path.write_text("Host a\n  Port notaport\n")
    cfg = load_ssh_config(path)
    with pytest.raises(SshConfigError) as info:
        cfg.lookup("a")
    assert str(info.value).startswith(f"{path}:2: ") and "\n" not in str(info.value)


def test_proxyjump_none_and_identityfile_none(tmp_path):
    path = tmp_path / "config"
    path.write_text("Host a\n  ProxyJump none\n  IdentityFile none\n")
    a = load_ssh_config(path).lookup("a")
    assert a.proxy_jump is None and a.identity_files == ()


def test_includes_nest_as_openssh_allows_and_loops_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    ssh = tmp_path / ".ssh"
    (ssh / "conf.d").mkdir(parents=True)
    (ssh / "conf.d" / "lab.conf").write_text("Include more.conf\n")      # relative: from ~/.ssh
    (ssh / "more.conf").write_text("Host n1\n  Port 2022\n")
    main = tmp_path / "config"
    main.write_text("Include ~/.ssh/conf.d/*.conf\n")
    assert load_ssh_config(main).lookup("n1").port == 2022
    (ssh / "more.conf").write_text("Include conf.d/lab.conf\n")           # a loop through two files
    with pytest.raises(SshConfigError, match=r"more.conf:1: Include nests more than 16 files deep"):
        load_ssh_config(main)


@pytest.mark.parametrize("line, expect", [
    ("Port 99999", "Port: expected a port number 1-65535, got 99999"),
    ("HostName -oProxyCommand=id", "HostName: expected a host name or address, got '-oProxyCommand=id'"),
    ("User root;id", "User: expected a user name, got 'root;id'"),
    ("ProxyJump ok,-oProxyCommand=id", "ProxyJump: expected [user@]host[:port], got 'ok,-oProxyCommand=id'"),
])
def test_values_roost_uses_are_checked_with_their_line(tmp_path, line, expect):
    path = tmp_path / "config"
    path.write_text(f"Host other\n  Port 22\nHost n*\n  {line}\n")
    cfg = load_ssh_config(path)
    assert cfg.lookup("other").port == 22             # only the hosts it applies to fail
    with pytest.raises(SshConfigError) as info:
        cfg.lookup("n1")
    assert str(info.value) == f"{path}:4: {expect}"


def test_dev_null_is_an_empty_ssh_config():
    assert load_ssh_config("/dev/null").lookup("n1") == SshHost()
