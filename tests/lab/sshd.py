"""A lab of real OpenSSH nodes for tests: one `/usr/sbin/sshd -D` per node on 127.0.0.N:PORT.

Use it from any test module (tests/conftest.py loads this file as a pytest plugin)::

    async def test_something(ssh_lab):          # session-scoped SshLab
        node, = ssh_lab.start(1)                # real sshd, ready when start() returns
        target = node.target()                  # NodeTarget: user, key, known_hosts filled in
        target = node.target(procfs="/x/proc")  # any NodeTarget field can be overridden
        node.kill()                             # sshd and every process of its sessions die
        node.restart()                          # same address, port and host key
        node.restart(new_host_key=True)         # same address, a different host key
        node.session_pids()                     # user processes started by this node's sessions

`ssh_lab.start(n, no_bash=True)` starts nodes whose sessions see a PATH without bash (a real
sh must run what they are given); `ssh_lab.start(n, host="::1")` puts them all on one address
(IPv6 loopback, or 127.0.0.1 which `localhost` names), each on its own port;
`ssh_lab.start(n, config={"MaxSessions": "10"})` overrides sshd_config keywords (the lab raises
MaxSessions to 200 and MaxStartups to 400:30:800). Nodes started by a test are not stopped for it: call
`node.stop()` (or `ssh_lab.stop(nodes)`) when a test wants to free them early; all nodes stop at
session end. When sshd is missing the fixture skips (fails under ROOST_REQUIRE_PEERS=1).

Per session the lab writes, under one temp dir: a host key, a client key, an authorized_keys
(mode 644), a known_hosts naming every node, and a config per node. Logins use the account
`roostlab` (shell /bin/sh, no password, created when missing; the tests run as root). Each node's
sessions carry ROOST_LAB_NODE=<lab id>-<name> in their environment, which is how session
processes are found even after their sshd parent died.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncssh
import pytest

from collectors.model import NodeTarget
from tests.conftest import need
from tests.lab.peers import starting

SSHD = "/usr/sbin/sshd"
USER = "roostlab"

CONFIG = """\
ListenAddress {listen}
HostKey {host_key}
PidFile {dir}/{name}.pid
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
MaxStartups 400:30:800
MaxSessions 200
ClientAliveInterval 5
LogLevel ERROR
Subsystem sftp internal-sftp
SetEnv ROOST_LAB_NODE={token}{extra_env}
{extra_config}"""


class LabError(RuntimeError):
    pass


def ensure_user() -> None:
    """Create the login account once per machine; concurrent sessions may race, so re-check."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/bin/sh", USER], capture_output=True)
        subprocess.run(["usermod", "-p", "*", USER], check=True, capture_output=True)
    home = Path(pwd.getpwnam(USER).pw_dir)
    if not home.is_dir():  # jobs need a writable home; sshd warns on every command without one
        home.mkdir(parents=True, exist_ok=True)
        shutil.chown(home, USER, USER)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir


def free_port(addr: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def host_port(host: str, port: int) -> str:
    """host:port as sshd_config and known_hosts write it ([::1]:2222 for IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def write_key(path: Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    path.chmod(0o600)
    key.write_public_key(str(path) + ".pub")
    return key


def pids_with_env(marker: bytes) -> list[int]:
    """Processes whose environment holds marker (e.g. b"ROOST_LAB_NODE=ab12-n3")."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            env = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        if marker in env.split(b"\0"):
            found.append(int(entry.name))
    return found


def descendants(root: int) -> list[int]:
    """root and every process below it, from /proc/*/stat parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], timeout: float = 5.0) -> None:
    """Until every pid has exited (zombies count as gone: init reaps them)."""
    deadline = time.monotonic() + timeout
    while any(running(p) for p in pids):
        if time.monotonic() > deadline:
            raise LabError(f"processes survived SIGKILL: {[p for p in pids if running(p)]}")
        time.sleep(0.005)


@dataclass
class LabNode:
    name: str
    host: str
    port: int
    lab: SshLab
    pid: int = 0
    host_key_path: Path = Path()
    extra_env: str = ""
    extra_config: str = ""
    listed: str = ""  # the known_hosts line written when first started
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def token(self) -> str:
        return f"{self.lab.id}-{self.name}"

    @property
    def conf_path(self) -> Path:
        return self.lab.dir / f"{self.name}.conf"

    @property
    def log_path(self) -> Path:
        return self.lab.dir / f"{self.name}.log"

    @property
    def known_host_line(self) -> str:
        return self.known_host_line_for(self.host)

    @property
    def host_public_key(self) -> asyncssh.SSHKey:
        return asyncssh.read_public_key(str(self.host_key_path) + ".pub")

    def known_host_line_for(self, name: str) -> str:
        """A known_hosts line naming this node's current key as `[name]:port`."""
        key = self.host_public_key.export_public_key().decode().strip()
        return f"[{name}]:{self.port} {key}\n"

    def target(self, **overrides) -> NodeTarget:
        base = NodeTarget(
            name=self.name, host=self.host, port=self.port, user=USER,
            identity_files=(str(self.lab.client_key),), known_hosts=(str(self.lab.known_hosts),),
            connect_timeout=5.0)
        return replace(base, **overrides)

    def targets(self, **overrides) -> list[NodeTarget]:
        return [self.target(**overrides)]

    def write_config(self) -> None:
        self.conf_path.write_text(CONFIG.format(
            listen=host_port(self.host, self.port), host_key=self.host_key_path, dir=self.lab.dir,
            name=self.name, token=self.token, extra_env=self.extra_env,
            extra_config=self.extra_config))

    def launch(self) -> None:
        """Start sshd in the foreground (-D) and wait until it listens (pid file written)."""
        starting("sshd")
        pid_file = self.lab.dir / f"{self.name}.pid"
        pid_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            self.sshd_argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 10
        while not pid_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"{self.name}: sshd did not start: {self.error_text()}")
            time.sleep(0.005)

    def sshd_argv(self) -> list[str]:
        """How launch() runs sshd (a subclass may wrap it, e.g. in a namespace)."""
        return [SSHD, "-D", "-f", str(self.conf_path), "-E", str(self.log_path)]

    def error_text(self) -> str:
        err = self.proc.stderr.read().decode() if self.proc and self.proc.poll() is not None else ""
        log = self.log_path.read_text() if self.log_path.exists() else ""
        return (err + log).strip().replace("\n", " | ")[-300:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def session_pids(self) -> list[int]:
        return pids_with_env(f"ROOST_LAB_NODE={self.token}".encode())

    def kill(self) -> None:
        """SIGKILL sshd, its per-connection children and every session process, like a crash.

        Stop first so nothing forks while the tree is collected, then kill it all.
        """
        if self.alive():
            os.kill(self.pid, signal.SIGSTOP)
            tree = descendants(self.pid) + self.session_pids()
            signal_all(tree, signal.SIGSTOP)
            tree = sorted(set(tree + descendants(self.pid) + self.session_pids()))
            signal_all(tree, signal.SIGKILL)
            self.proc.wait()
            wait_gone(tree)
        rest = self.session_pids()
        signal_all(rest, signal.SIGKILL)
        wait_gone(rest)

    stop = kill

    def restart(self, new_host_key: bool = False) -> None:
        """Kill (if running) and start again on the same address and port."""
        self.kill()
        if new_host_key:
            self.host_key_path = self.lab.dir / f"{self.name}_host_ed25519"
            write_key(self.host_key_path)
            self.write_config()
        self.launch()


def _match_all(config: dict[str, str]) -> str:
    # sshd takes the FIRST value of a keyword, so overrides go in a trailing "Match all" block
    if not config:
        return ""
    return "Match all\n" + "".join(f"    {k} {v}\n" for k, v in config.items())


class SshLab:
    def __init__(self, base: Path | None = None):
        self.id = secrets.token_hex(3)
        self.dir = Path(tempfile.mkdtemp(prefix=f"roost-lab-{self.id}-", dir=base))
        self.dir.chmod(0o755)  # sshd reads authorized_keys as the login user
        self.nodes: list[LabNode] = []
        self.host_key = self.dir / "host_ed25519"
        self.client_key = self.dir / "client_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self._nobash_dir: Path | None = None
        write_key(self.host_key)
        self.client = write_key(self.client_key)
        auth = self.dir / "authorized_keys"
        auth.write_bytes(self.client.export_public_key())
        auth.chmod(0o644)
        self.known_hosts.write_text("")

    def start(self, n: int, *, no_bash: bool = False, config: dict[str, str] | None = None,
              host: str | None = None) -> list[LabNode]:
        """Start n more nodes, each on its own loopback address and a free port.

        config: sshd_config keywords that override the lab's (e.g. {"MaxSessions": "10"}).
        host: one address for all n (e.g. "127.0.0.1", which `localhost` resolves to, or "::1"),
        each node on its own port.
        """
        extra = f" PATH={self.nobash_path()}" if no_bash else ""
        started = [self._start_one(extra, config or {}, host) for _ in range(n)]
        self.write_known_hosts()
        return started

    def _start_one(self, extra_env: str, config: dict[str, str], host: str | None = None) -> LabNode:
        index = len(self.nodes) + 1
        host = host or f"127.0.0.{2 + (index - 1) % 250}"
        for attempt in range(5):  # another session may grab the port between probe and bind
            node = LabNode(f"n{index}", host, free_port(host), self, host_key_path=self.host_key,
                           extra_env=extra_env, extra_config=_match_all(config))
            node.write_config()
            try:
                node.launch()
                node.listed = node.known_host_line
                break
            except LabError:
                if attempt == 4:
                    raise
        self.nodes.append(node)
        return node

    def write_known_hosts(self) -> None:
        """One line per node; a node restarted with a new key keeps its OLD line (changed key)."""
        tmp = self.dir / "known_hosts.tmp"
        tmp.write_text("".join(n.listed for n in self.nodes))
        tmp.replace(self.known_hosts)  # atomic: live connections may be reading it

    def nobash_path(self) -> Path:
        """A PATH directory holding every /usr/bin and /bin program except bash."""
        if self._nobash_dir is None:
            self._nobash_dir = self.dir / "nobash"
            self._nobash_dir.mkdir()
            for src in (Path("/usr/bin"), Path("/bin")):
                for entry in os.scandir(src):
                    link = self._nobash_dir / entry.name
                    if entry.name not in ("bash", "rbash") and not link.exists():
                        link.symlink_to(entry.path)
        return self._nobash_dir

    def targets(self, nodes: list[LabNode] | None = None, **overrides) -> list[NodeTarget]:
        return [n.target(**overrides) for n in (self.nodes if nodes is None else nodes)]

    def stop(self, nodes: list[LabNode] | None = None) -> None:
        for node in list(self.nodes if nodes is None else nodes):
            node.kill()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ssh_lab():
    need(os.path.exists(SSHD), f"OpenSSH server missing ({SSHD}); install openssh-server")
    need(os.geteuid() == 0, "the sshd lab needs root (it runs sshd and creates a test user)")
    ensure_user()
    lab = SshLab()
    try:
        yield lab
    finally:
        lab.close()
