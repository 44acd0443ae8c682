"""What the hostname tests share: a name that resolves nowhere, and ssh-keyscan's view of a node."""
from __future__ import annotations

import subprocess

from tests.lab.sshd import LabNode

NOWHERE = "roost-nowhere.invalid"   # .invalid never resolves (RFC 2606)


def keyscan(node: LabNode, name: str, hashed: bool = True) -> str:
    """What `ssh-keyscan [-H] -p PORT NAME` prints for the node: the user's own way to trust it."""
    argv = ["ssh-keyscan", "-t", "ed25519", "-p", str(node.port), name]
    out = subprocess.run(argv[:1] + (["-H"] if hashed else []) + argv[1:], capture_output=True,
                         text=True, timeout=20)
    assert out.stdout.strip(), f"ssh-keyscan found no key: {out.stderr}"
    return out.stdout
