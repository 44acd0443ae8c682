"""Write a roost.toml (and its known_hosts) that points every roost command at a running demo.

The schema is console.config's: [defaults] user/identity/known_hosts/host_keys/interval and one
[[nodes]] table per node (each has its own port) with names/host/port/groups and the node's
own one-line known_hosts (roost parses known_hosts per connect; see DemoFleet._write_known_hosts)
and a `command` power table that reaches the running demo's power channels (console.demo.control).
"""
from __future__ import annotations

import getpass
import json
import shutil
from pathlib import Path

from console.demo.control import command_line
from console.demo.fleet import DemoFleet


def _q(text: str) -> str:
    # TOML basic strings accept JSON string escapes.
    return json.dumps(text)


def render(fleet: DemoFleet, known_hosts: Path) -> str:
    head = [f"# roost demo fleet: {len(fleet.nodes)} simulated nodes, seed {fleet.seed}.",
            "# Valid while that `roost demo` runs (its ports and host keys change per run).",
            "", "[defaults]", f"user = {_q(getpass.getuser())}",
            f"identity = [{_q(str(fleet.identity_file))}]",
            f"known_hosts = [{_q(str(known_hosts))}]", 'host_keys = "strict"',
            f"interval = {float(fleet.interval)!r}", "",
            "[jobs]   # jobs submitted from the console run (and write their output) here",
            f"workdir = {_q(str(fleet.dir / 'work'))}",
            "# demo nodes run their commands on this host: its own load is not theirs",
            "use_load = false", ""]
    body = []
    for info, target in zip(fleet.nodes, fleet.targets()):
        groups = ", ".join(_q(g) for g in info.groups)
        own = ", ".join(_q(k) for k in target.known_hosts or ())
        body += ["[[nodes]]", f"names = {_q(info.name)}", f"host = {_q(target.host)}",
                 f"port = {target.port}", f"groups = [{groups}]", f"known_hosts = [{own}]",
                 _power(fleet, info.name), ""]
    return "\n".join(head + body)


def _power(fleet: DemoFleet, name: str) -> str:
    # The `command` driver calling the running demo's control socket (console.demo.control).
    sock = fleet.control_socket
    cmds = ", ".join(f"{action} = {_q(command_line(sock, action, name))}"
                     for action in ("on", "off", "status", "cycle", "soft"))
    return f'power = {{ driver = "command", {cmds} }}'


def write_inventory(fleet: DemoFleet, path: Path) -> Path:
    """Write path (roost.toml) and path's sibling <stem>.known_hosts; returns path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (fleet.dir / "work").mkdir(mode=0o700, exist_ok=True)
    known = path.with_name(path.stem + ".known_hosts")
    shutil.copyfile(fleet.known_hosts, known)
    # Atomic: another roost process may be polling for this file to appear.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(fleet, known.resolve()))
    tmp.replace(path)
    return path
