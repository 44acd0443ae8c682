"""The `roost` command as a user runs it (a subprocess), a roost.toml naming lab nodes, and the
waits on what a running roost serves."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOST = ROOT / ".venv" / "bin" / "roost"


def roost(*argv: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 60):
    exe = [str(ROOST)] if ROOST.exists() else [sys.executable, "-m", "console.cli"]
    return subprocess.run(exe + list(argv), capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def lab_config(tmp_path: Path, ssh_lab, nodes, extra: str = "") -> Path:
    """A roost.toml naming lab nodes by name, with the lab's key and known_hosts."""
    body = [f'[defaults]\nuser = "roostlab"\nidentity = "{ssh_lab.client_key}"\n'
            f'known_hosts = "{ssh_lab.known_hosts}"\nconnect_timeout = 5\ninterval = 0.2\n']
    body += [f'[[nodes]]\nnames = "{n.name}"\nhost = "{n.host}"\nport = {n.port}\n' for n in nodes]
    path = tmp_path / "roost.toml"
    path.write_text("".join(body) + extra)
    return path


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
