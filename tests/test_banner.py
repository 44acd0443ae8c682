"""A login shell that prints before the sampler starts: a few lines are fine, 100 MB is a down node
with a reason that says where to look (not a collector at 90% CPU showing "no data").

The lab node logs in a user whose login shell is bash: Debian's bash, started by sshd, sources
~/.bashrc even for a command (it was built with SSH_SOURCE_BASHRC), which is how real users' MOTD
lines and `echo` in .bashrc reach every `ssh node cmd`. The .bashrc prints as many bytes as the
file banner.<node token> in its home says, so each lab node gets its own banner size.
"""
from __future__ import annotations

import asyncio
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from collectors.fleet import PREAMBLE_CAP, Fleet
from collectors.model import NodeEvent, Sample
from collectors.transport import connect, run

USER = "roostbash"
HOME = Path("/tmp/roost-bash-home")
BASHRC = """\
# roost test lab: print a banner before any command, as many users' .bashrc do
f="$HOME/banner.$ROOST_LAB_NODE"
if [ -r "$f" ]; then
    read -r size < "$f"
    echo "Welcome to the lab node"
    head -c "$size" /dev/zero | tr '\\0' '='
    echo
fi
"""

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def bash_user():
    """A login user whose shell is bash (the lab's own user has /bin/sh)."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-d", str(HOME), "-s", "/bin/bash", USER], capture_output=True)
        subprocess.run(["usermod", "-p", "*", USER], check=True, capture_output=True)
    HOME.mkdir(mode=0o755, exist_ok=True)
    (HOME / ".bashrc").write_text(BASHRC)
    shutil.chown(HOME, USER, USER)
    return USER


def banner_node(ssh_lab, size: int):
    node, = ssh_lab.start(1)
    (HOME / f"banner.{node.token}").write_text(f"{size}\n")
    return node


async def first_events(targets, until, timeout: float = 20.0) -> list:
    fleet = Fleet(targets)
    await fleet.start()
    seen: list = []
    try:
        async with asyncio.timeout(timeout):
            async for item in fleet.stream():
                seen.append(item)
                if until(seen):
                    break
    finally:
        await fleet.stop()
    return seen


async def test_a_small_banner_keeps_working(ssh_lab, bash_user):
    node = banner_node(ssh_lab, 300)
    target = node.target(user=bash_user, interval=0.1)
    async with await connect(target) as conn:     # the banner is real: every command sees it
        result = await run(conn, "echo ok", 10, node=node.name)
    assert result.stdout.startswith("Welcome to the lab node\n" + "=" * 300) and result.stdout.endswith("ok\n")
    items = await first_events([target], lambda s: sum(isinstance(i, Sample) for i in s) >= 2)
    assert [i.kind for i in items if isinstance(i, NodeEvent)] == ["up"]
    assert items[-1].load is not None
    node.stop()


async def test_a_huge_banner_is_a_down_node_with_the_reason(ssh_lab, bash_user):
    node = banner_node(ssh_lab, 100_000_000)
    target = node.target(user=bash_user, interval=0.1)
    cpu0, wall0 = time.process_time(), time.monotonic()
    items = await first_events([target], lambda s: any(isinstance(i, NodeEvent) for i in s))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    event, = [i for i in items if isinstance(i, NodeEvent)]
    assert event.kind == "down"
    assert "login shell prints" in event.reason and "before the sampler (check .bashrc)" in event.reason
    printed = int(event.reason.split("prints ")[1].split("+")[0].replace(",", ""))
    assert PREAMBLE_CAP < printed < PREAMBLE_CAP + 1024 * 1024   # read a cap's worth, not 100 MB
    assert wall < 10 and cpu < 2.0, (wall, cpu)
    node.stop()
