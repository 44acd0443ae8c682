"""What a new user meets first on the CLI: a fleet from an Ansible inventory with no known_hosts
yet, and an ssh_config given where nodes were expected. Real subprocesses, real sshd nodes."""
from __future__ import annotations

import subprocess

import pytest

from tests.helpers.cli import roost


def stderr_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("roost: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.peers
def test_inventory_without_known_hosts_names_the_files_and_the_fix(env, tmp_path, ssh_lab, etc_hosts):
    node, = ssh_lab.start(1)
    etc_hosts.add("roost-inv1", node.host)
    inv = tmp_path / "hosts.ini"
    inv.write_text(f"[pis]\npi1 ansible_host=roost-inv1 ansible_port={node.port} ansible_user=roostlab "
                   f"ansible_ssh_private_key_file={ssh_lab.client_key}\n")
    result = roost("--inventory", str(inv), "check", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line, = [ln for ln in result.stdout.splitlines() if ln.startswith("pi1 ")]
    assert ("FAILED: host key not in known_hosts (none of ~/.ssh/known_hosts, ~/.ssh/known_hosts2, "
            "/etc/ssh/ssh_known_hosts, /etc/ssh/ssh_known_hosts2 exists) for "
            f"[roost-inv1]:{node.port} at [{node.host}]:{node.port}; server offers SHA256:") in line
    fix = f"mkdir -m 700 -p ~/.ssh && ssh-keyscan -H -p {node.port} roost-inv1 >> ~/.ssh/known_hosts"
    assert f"run `{fix}`" in line and 'host_keys = "accept-new"' in line
    # the advice, followed as printed, is the whole fix
    subprocess.run(["sh", "-c", fix], env=env, check=True, capture_output=True, timeout=30)
    result = roost("--inventory", str(inv), "check", env=env)
    assert result.returncode == 0 and "pi1  ok" in result.stdout, result.stdout


@pytest.mark.parametrize("argv", [["check"], ["nodes"], ["nodes", "--no-check"],
                                  ["run", "n1", "--", "true"]])
def test_ssh_config_alone_is_not_a_fleet(env, tmp_path, argv):
    ssh = tmp_path / "ssh_config"
    ssh.write_text("Host n*\n  User pi\n")
    result = roost("--ssh-config", str(ssh), *argv, env=env, cwd=tmp_path)
    assert result.returncode == 2
    line = stderr_line(result)
    assert line.startswith(f"roost: {argv[0]}: no nodes: no roost.toml (./roost.toml, ")
    assert "and no --inventory" in line and "roost.toml [[nodes]] or an Ansible inventory" in line
    assert f"ssh_config ({ssh}) only supplies settings for them" in line
    assert result.stdout == ""


def test_a_config_without_nodes_says_so(env, tmp_path):
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[defaults]\nuser = "pi"\n')
    result = roost("--config", str(cfg), "check", env=env)
    assert result.returncode == 2
    assert stderr_line(result).startswith(f"roost: check: no nodes: {cfg} defines no nodes; ")
