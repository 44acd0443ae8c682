"""Hostnames for tests, resolved for real: lines added to /etc/hosts and removed again.

    def test_x(etc_hosts):                      # function-scoped (etc_hosts_module: per module)
        etc_hosts.add("roost-pi1", "127.0.0.2")  # getaddrinfo("roost-pi1") now answers

Every line carries a marker naming the process and fixture that added it
(`# roost-test-hosts pid=1234 id=9f2c01ab`):
- teardown removes its own lines, also when the test failed; atexit does it again for a process
  that ends without teardown;
- lines left by a process that no longer runs (killed with -9) are removed by the next user.
Only names starting "roost-" are accepted, so a test can never shadow a real host.

Edits keep the file's inode (it may be a bind mount, and readers must never see it missing):
an addition is one write at the end; a removal rewrites from the first changed byte and truncates,
all under an exclusive flock, so the lines other processes rely on (localhost) never move.
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import ipaddress
import os
import re
import secrets
from pathlib import Path

import pytest

from tests.conftest import need

HOSTS = Path("/etc/hosts")
MARK = "# roost-test-hosts pid="
_LINE = re.compile(re.escape(MARK) + r"(\d+) id=(\w+)\s*$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EtcHosts:
    def __init__(self, path: Path = HOSTS):
        self.path = path
        self.pid = os.getpid()
        self.id = secrets.token_hex(4)
        self.names: list[str] = []

    def add(self, name: str, addr: str) -> None:
        if not re.fullmatch(r"roost-[a-z0-9.-]+", name):
            raise ValueError(f"test host names start with roost- (got {name!r})")
        ipaddress.ip_address(addr)  # only addresses go in
        with self._locked() as fd:
            text = self._read(fd)
            sep = "" if not text or text.endswith("\n") else "\n"
            line = f"{sep}{addr} {name} {MARK}{self.pid} id={self.id}\n".encode()
            os.pwrite(fd, line, len(text.encode("utf-8", "surrogateescape")))
        self.names.append(name)

    def clear(self) -> None:
        """Remove this instance's lines and those of processes that are gone."""
        with self._locked() as fd:
            self._rewrite(fd, lambda pid, ident: ident != self.id and _alive(pid))
        self.names.clear()

    def _locked(self):
        return _Locked(self.path)

    @staticmethod
    def _read(fd: int) -> str:
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "surrogateescape")

    def _rewrite(self, fd: int, keep) -> None:
        old = self._read(fd)
        lines = old.splitlines(keepends=True)
        kept = [ln for ln in lines if not ((m := _LINE.search(ln)) and not keep(int(m.group(1)), m.group(2)))]
        new = "".join(kept)
        if new == old:
            return
        same = len(os.path.commonprefix([old, new]))
        data = new[same:].encode("utf-8", "surrogateescape")
        start = len(old[:same].encode("utf-8", "surrogateescape"))
        os.pwrite(fd, data, start)
        os.ftruncate(fd, start + len(data))


class _Locked:
    def __init__(self, path: Path):
        self.path = path
        self.fd = -1

    def __enter__(self) -> int:
        self.fd = os.open(self.path, os.O_RDWR)  # not O_APPEND: Linux pwrite would ignore offsets
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self.fd

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


@contextlib.contextmanager
def names_in_etc_hosts():
    need(os.access(HOSTS, os.W_OK), f"{HOSTS} is not writable (hostname tests add names to it)")
    hosts = EtcHosts()
    hosts.clear()                 # leftovers of killed runs
    atexit.register(hosts.clear)  # a process that dies between add and teardown still cleans up
    try:
        yield hosts
    finally:
        hosts.clear()
        atexit.unregister(hosts.clear)


@pytest.fixture
def etc_hosts():
    with names_in_etc_hosts() as hosts:
        yield hosts


@pytest.fixture(scope="module")
def etc_hosts_module():
    """The same, for names a whole test module shares."""
    with names_in_etc_hosts() as hosts:
        yield hosts
