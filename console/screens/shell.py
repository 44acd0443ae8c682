"""`t`: suspend the console, run the system ssh client to the node, come back on exit."""
from __future__ import annotations

import shlex
import subprocess

from textual.app import App

from collectors.model import NodeTarget
from console.text import safe_line


def ssh_argv(node: str, target: NodeTarget | None) -> list[str]:
    """ssh's command line for a NodeTarget (host keys are verified as the console does)."""
    if target is None:
        return ["ssh", node]
    argv = ["ssh", "-p", str(target.port)]
    for key in target.identity_files:
        argv += ["-i", key]
    if target.known_hosts:
        argv += ["-o", "UserKnownHostsFile=" + " ".join(target.known_hosts)]
    if target.host_keys == "accept-new":
        argv += ["-o", "StrictHostKeyChecking=accept-new"]
    if getattr(target, "host_key_alias", None):   # ssh would not find it: it was keyed by node name
        argv += ["-o", f"HostKeyAlias={target.host_key_alias}"]
    if target.proxy_jump:
        argv += ["-J", target.proxy_jump]
    return argv + [f"{target.user}@{target.host}" if target.user else target.host]


def open_shell(app: App, node: str, argv: list[str]) -> None:
    try:
        with app.suspend():
            code = subprocess.call(argv)
    except Exception as exc:  # headless or web drivers cannot suspend
        app.notify(f"cannot open a shell here: {exc}", severity="warning", markup=False)
        return
    app.notify(f"shell on {safe_line(node)} ended (exit {code}): {shlex.join(argv)}",
               markup=False)
