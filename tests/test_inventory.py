"""Ansible inventory import: INI and YAML, children, group vars, ranges; errors with file:line."""
from __future__ import annotations

from pathlib import Path

import pytest
from ClusterShell.NodeSet import NodeSet
from hypothesis import given, settings, strategies as st

from console.hostlist import expand_ansible as expand_hosts
from console.inventory import InventoryError, load_inventory

INI = """\
# the shelf
ctl ansible_host=127.0.0.1

[workers]
n[01:03] ansible_user=pi
rk[a:b]:2222 ansible_ssh_private_key_file=~/.ssh/rk

[workers:vars]
ansible_user=ubuntu
ansible_port=2200

[gpu]
n03

[gpu:vars]
ansible_port=2300

[cluster:children]
workers

[cluster:vars]
ansible_port=22
ansible_user=ops
"""

YAML = """\
all:
  hosts:
    ctl:
      ansible_host: 127.0.0.1
  children:
    cluster:
      vars:
        ansible_user: ops
      children:
        workers:
          vars:
            ansible_user: ubuntu
          hosts:
            n[01:03]:
            rk[a:b]:
              ansible_port: 2222
"""


def load(tmp_path: Path, text: str, name: str):
    path = tmp_path / name
    path.write_text(text)
    return load_inventory(path)


def by_name(inv):
    return {h.name: h for h in inv.hosts}


def test_ini_groups_children_vars_and_ranges(tmp_path):
    inv = load(tmp_path, INI, "hosts")
    hosts = by_name(inv)
    assert list(hosts) == ["ctl", "n01", "n02", "n03", "rka", "rkb"]
    assert hosts["ctl"].host == "127.0.0.1" and hosts["ctl"].groups == ()
    assert hosts["n01"].user == "pi"                       # host var beats every group var
    assert hosts["rka"].user == "ubuntu"                   # child group beats parent group
    assert hosts["rka"].port == 2222 and hosts["rka"].identity == "~/.ssh/rk"
    assert hosts["n02"].port == 2200
    assert hosts["n03"].port == 2200    # deeper group (workers, under cluster) beats gpu, as Ansible
    assert inv.groups["cluster"] == ("n01", "n02", "n03", "rka", "rkb")
    assert inv.groups["gpu"] == ("n03",)
    assert hosts["n01"].line == 5 and "all" not in inv.groups


def test_yaml_same_shape(tmp_path):
    inv = load(tmp_path, YAML, "hosts.yml")
    hosts = by_name(inv)
    assert list(hosts) == ["ctl", "n01", "n02", "n03", "rka", "rkb"]
    assert hosts["n02"].user == "ubuntu" and hosts["rkb"].port == 2222
    assert hosts["n01"].groups == ("cluster", "workers")
    assert hosts["n01"].line == 14


@pytest.mark.parametrize("name, text, line, what", [
    ("h.ini", "[web\nx\n", 1, "bad section header"),
    ("h.ini", "[web:bogus]\n", 1, "unknown section kind"),
    ("h.ini", "[web]\nn[3:1]\n", 2, "start is after end"),
    ("h.ini", "[web]\nn[1-3]\n", 2, "bad host range"),
    ("h.ini", "[web]\nx ansible_port=99999\n", 2, "ansible_port: expected a port number"),
    ("h.ini", "[web]\nx junk\n", 2, "expected key=value"),
    ("h.ini", "[web:vars]\nnovalue\n", 2, "expected key=value"),
    ("h.yml", "all:\n  hosts:\n    - a\n", 3, "expected a mapping"),
    ("h.yml", "all:\n  hostz: {}\n", 2, "unknown key 'hostz'"),
    ("h.yml", "all:\n  hosts: [\n", 3, "YAML syntax"),
])
def test_errors_name_file_and_line(tmp_path, name, text, line, what):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and what in message and "\n" not in message


def test_child_cycle_and_missing_file(tmp_path):
    path = tmp_path / "h.ini"
    path.write_text("[a:children]\nb\n[b:children]\na\n")
    with pytest.raises(InventoryError, match="its own child"):
        load_inventory(path)
    with pytest.raises(InventoryError, match="inventory file not found"):
        load_inventory(tmp_path / "missing")


def test_ranges_letters_steps_and_several_ranges():
    assert expand_hosts("web[a:c]") == ["weba", "webb", "webc"]
    assert expand_hosts("n[0:10:5]") == ["n0", "n5", "n10"]
    assert expand_hosts("r[1:2]n[08:09]") == ["r1n08", "r1n09", "r2n08", "r2n09"]


prefixes = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=6).filter(
    lambda p: not p.startswith("-"))


@settings(max_examples=200, deadline=None)
@given(prefix=prefixes, start=st.integers(0, 150), span=st.integers(0, 40), width=st.integers(1, 4))
def test_numeric_ranges_match_clustershell(prefix, start, span, width):
    """Where the syntaxes overlap, n[01:50] (Ansible) == n[01-50] (ClusterShell/Slurm)."""
    lo = str(start).zfill(width)
    hi = str(start + span).zfill(len(lo)) if lo.startswith("0") else str(start + span)
    ansible = expand_hosts(f"{prefix}[{lo}:{hi}]")
    clustershell = list(NodeSet(f"{prefix}[{lo}-{hi}]"))
    assert sorted(ansible) == sorted(clustershell)
    assert len(ansible) == span + 1


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20))
def test_garbage_patterns_expand_or_raise_valueerror(pattern):
    try:
        names = expand_hosts(pattern)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert names and all(isinstance(n, str) for n in names)
