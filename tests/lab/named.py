"""Lab nodes reached by hostname, as real clusters name their nodes.

    def test_x(ssh_lab, etc_hosts_module):
        a, b = named(ssh_lab, etc_hosts_module, ssh_lab.start(2))
        a.hostname            # "roost-<lab id>-n1", resolved through /etc/hosts
        a.target()            # NodeTarget with host = the hostname, known_hosts naming it
        a.toml_entry()        # a [[nodes]] table: names, host = hostname, port
        a.kill(); a.restart() # everything else is the LabNode's

Each node gets an /etc/hosts name (tests/lab/etchosts.py) that includes the lab's id, so
concurrent test runs never share one, and a known_hosts file listing `[hostname]:port` lines
(what `ssh-keyscan -p PORT hostname` would record), so host keys are matched by name.
"""
from __future__ import annotations

from pathlib import Path

from collectors.model import NodeTarget
from tests.lab.etchosts import EtcHosts
from tests.lab.sshd import LabNode, SshLab


class NamedNode:
    """A LabNode plus the hostname roost uses for it."""

    def __init__(self, node: LabNode, hostname: str, known_hosts: Path):
        self.node, self.hostname, self.known_hosts = node, hostname, known_hosts

    def __getattr__(self, attr):
        return getattr(self.node, attr)

    def target(self, **overrides) -> NodeTarget:
        base = {"host": self.hostname, "known_hosts": (str(self.known_hosts),)}
        return self.node.target(**{**base, **overrides})

    def toml_entry(self) -> str:
        return f'[[nodes]]\nnames = "{self.name}"\nhost = "{self.hostname}"\nport = {self.port}\n'


def named(lab: SshLab, hosts: EtcHosts, nodes: list[LabNode]) -> list[NamedNode]:
    """Give each node an /etc/hosts name and write a known_hosts naming them all."""
    out = []
    for node in nodes:
        hostname = f"roost-{lab.id}-{node.name}"
        hosts.add(hostname, node.host)
        out.append(NamedNode(node, hostname, lab.dir / f"known_hosts_named_{hosts.id}"))
    known = lab.dir / f"known_hosts_named_{hosts.id}"
    lines = known.read_text() if known.exists() else ""
    known.write_text(lines + "".join(n.known_host_line_for(n.hostname) for n in out))
    return out
