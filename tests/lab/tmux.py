"""A tmux server of the test's own (its own -L socket) driving the real `roost` in a pane.

Keys go in with `send-keys`, the screen comes back with `capture-pane`; every wait is for text
to appear (or go) on screen, polled, never a fixed sleep.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import need
from tests.lab.peers import starting

ROOST = Path(sys.executable).with_name("roost")
BORDERS = str.maketrans("", "", "▌▎▏│")


def need_tmux() -> None:
    need(shutil.which("tmux") is not None, "tmux is not installed")
    need(ROOST.exists(), "the roost console script is not installed in this venv")


class Tmux:
    def __init__(self, tmp: Path, size: tuple[int, int] = (200, 50)) -> None:
        self.socket = f"roost-e2e-{os.getpid()}-{id(self):x}"
        self.tmp, self.size = tmp, size

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-f", "/dev/null", "-L", self.socket, *args],
                              capture_output=True, text=True, check=True).stdout

    def start(self, command: str) -> None:
        starting("tmux")
        w, h = (str(v) for v in self.size)
        self.run("new-session", "-d", "-x", w, "-y", h, "-s", "e2e", command)
        self.run("resize-window", "-t", "e2e", "-x", w, "-y", h)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "e2e", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "e2e", "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "e2e")

    def wait_for(self, text: str, timeout: float = 30.0, gone: bool = False) -> str:
        return self.wait_until(lambda shown: (text in shown) != gone,
                               f"{'still' if gone else 'never'} saw {text!r}", timeout)

    def wait_match(self, pattern: str, timeout: float = 30.0) -> re.Match:
        found: list[re.Match] = []

        def seen(shown: str) -> bool:
            # a toast wraps its text inside a border: match across lines, borders dropped
            m = re.search(pattern, " ".join(shown.translate(BORDERS).split()))
            found[:] = [m] if m else []
            return m is not None
        self.wait_until(seen, f"never matched {pattern!r}", timeout)
        return found[0]

    def wait_until(self, cond, what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if cond(shown):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}:\n{shown}")
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def console_env(tmp: Path) -> str:
    """`env` arguments for the console in a pane: its own state dir and HOME; COLUMNS/LINES from
    a CI shell would override the pane's real size."""
    return (f"-u COLUMNS -u LINES TERM=xterm-256color ROOST_STATE_DIR={tmp / 'state'} "
            f"HOME={tmp} SHELL=/bin/sh")


def write_config(path: Path, nodes) -> None:
    """A roost.toml for the console in tmux: the lab nodes in two racks, `E`/`e` for events."""
    lines = ["[defaults]", "interval = 1.0", ""]
    for i, n in enumerate(nodes):
        t = n.target()
        lines += ["[[nodes]]", f'names = "{t.name}"', f'host = "{t.host}"', f"port = {t.port}",
                  f'user = "{t.user}"', f'identity = ["{t.identity_files[0]}"]',
                  f'known_hosts = ["{t.known_hosts[0]}"]', f'groups = ["rack{1 + i % 2}"]', ""]
    lines += ["[keymap]", 'events = "E,e"', ""]
    path.write_text("\n".join(lines))
