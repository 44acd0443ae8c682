"""A lab of real BOINC clients with real local tasks, cut off from the network.

    def test_x(boinc, ssh_lab):                      # boinc: the session BoincLab
        client = boinc.start([("wu1_0", 300)])       # real `boinc` + apisleep tasks, ready
        settings = client.settings()                 # BoincSettings for roost (port, auth file)

How it is wired (no socat needed):
- Every client runs inside ONE network namespace made for the session (`ip netns add`, only
  `lo` up), so it cannot reach anything; its project URL is lab.invalid anyway.
- A small bridge process per client listens on 127.0.0.1:PORT in the host namespace, then
  setns()es into the lab namespace, so each accepted connection is relayed to the client's GUI
  RPC port there. A lab sshd node (host namespace) therefore reaches the client at
  127.0.0.1:PORT through an SSH direct-tcpip channel, exactly as roost reaches a real node's
  client at 127.0.0.1:31416.
- Tasks come from a hand-written client_state.xml (after LAB.md's mkstate) whose app is
  tests/lab/apisleep.cpp, built once per session against libboinc-app-dev.
- gui_rpc_auth.cfg is owned by the lab login user, mode 600, so roost reads it over SSH.

Each client is stopped (its whole process tree killed) at the end of the test that started it;
the namespace is deleted at session end. A Debian boinc-client service found running is stopped
first. Missing boinc, g++, headers or root skip (fail under ROOST_REQUIRE_PEERS=1).
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from console.jobs.boinc import BoincSettings
from tests.conftest import ROOT, need
from tests.lab.peers import starting
from tests.lab.sshd import USER, descendants, ensure_user, signal_all, wait_gone

BOINC = shutil.which("boinc") or "/usr/bin/boinc"
APP_SOURCE = Path(__file__).with_name("apisleep.cpp")
URL = "http://lab.invalid/test/"
PROJECT_DIR = "lab.invalid_test"
CLONE_NEWNET = 0x40000000


# ---- the bridge (runs as `python -m tests.lab.boinc bridge NETNS PORT`) ---------------------

def _setns(netns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{netns}") as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")


async def _pipe(reader, writer) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _bridge(netns: str, port: int) -> None:
    async def relay(r1, w1):
        try:
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)  # created inside netns
        except OSError:
            w1.close()
            return
        await asyncio.gather(_pipe(r1, w2), _pipe(r2, w1))

    listener = socket.create_server(("127.0.0.1", 0))   # bound in the host namespace
    _setns(netns)                                          # later sockets live in the lab's
    server = await asyncio.start_server(relay, sock=listener)
    print(listener.getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


# ---- client state (after LAB.md's mkstate) ---------------------------------------------------

CC_CONFIG = ("<cc_config><options><no_info_fetch>1</no_info_fetch><dont_contact_ref_site>1"
             "</dont_contact_ref_site><skip_cpu_benchmarks>1</skip_cpu_benchmarks><no_gpus>1"
             "</no_gpus><ncpus>{ncpus}</ncpus></options></cc_config>\n")
# other tests load the 2 shared cores: never let BOINC pause for "CPU busy" or a user
PREFS = ("<global_preferences><run_if_user_active>1</run_if_user_active><suspend_cpu_usage>0"
         "</suspend_cpu_usage><max_ncpus_pct>100</max_ncpus_pct><cpu_usage_limit>100"
         "</cpu_usage_limit><run_on_batteries>1</run_on_batteries></global_preferences>\n")


def write_state(d: Path, exe: Path, tasks: list[tuple[str, int]], project: str,
                password: str) -> None:
    pdir = d / "projects" / PROJECT_DIR
    pdir.mkdir(parents=True)
    shutil.copy(exe, pdir / "apisleep")
    (d / "gui_rpc_auth.cfg").write_text(password)
    (d / "cc_config.xml").write_text(CC_CONFIG.format(ncpus=max(len(tasks), 1)))
    (d / "global_prefs_override.xml").write_text(PREFS)
    (d / f"account_{PROJECT_DIR}.xml").write_text(
        f"<account><master_url>{URL}</master_url><authenticator>0123456789abcdef</authenticator>"
        f"<project_name>{escape(project)}</project_name></account>\n")
    (d / "client_state.xml").write_text(_client_state(pdir / "apisleep", tasks, project))


def _client_state(exe: Path, tasks: list[tuple[str, int]], project: str) -> str:
    import hashlib
    md5 = hashlib.md5(exe.read_bytes()).hexdigest()
    x = (f"<client_state>\n<project><master_url>{URL}</master_url><project_name>{escape(project)}"
         "</project_name><user_name>lab</user_name><dont_request_more_work/></project>\n"
         "<app><name>apisleep</name><user_friendly_name>Sleeper</user_friendly_name></app>\n"
         f"<file_info><name>apisleep</name><nbytes>{exe.stat().st_size}</nbytes><md5_cksum>{md5}"
         "</md5_cksum><status>1</status><executable/></file_info>\n"
         "<app_version><app_name>apisleep</app_name><version_num>100</version_num>"
         "<platform>x86_64-pc-linux-gnu</platform><api_version>7.20.5</api_version>"
         "<avg_ncpus>1</avg_ncpus><flops>1e9</flops><file_ref><file_name>apisleep</file_name>"
         "<main_program/></file_ref></app_version>\n")
    return x + "".join(_task(i, n, s) for i, (n, s) in enumerate(tasks, 1)) + \
        "<user_network_request>3</user_network_request>\n</client_state>\n"


def _task(i: int, name: str, seconds: int) -> str:
    now = time.time()
    wu = escape(f"wu{i}")
    return (f"<workunit><name>{wu}</name><app_name>apisleep</app_name><version_num>100</version_num>"
            f"<command_line>{seconds}</command_line><rsc_fpops_est>{1e9 * seconds}</rsc_fpops_est>"
            "<rsc_fpops_bound>1e16</rsc_fpops_bound><rsc_memory_bound>1e8</rsc_memory_bound>"
            "<rsc_disk_bound>1e8</rsc_disk_bound></workunit>\n"
            f"<result><name>{escape(name)}</name><wu_name>{wu}</wu_name>"
            "<platform>x86_64-pc-linux-gnu</platform><version_num>100</version_num><state>2</state>"
            f"<received_time>{now:.0f}</received_time><report_deadline>{now + 7 * 86400:.0f}"
            "</report_deadline></result>\n")


# ---- clients ---------------------------------------------------------------------------------

@dataclass
class BoincClient:
    lab: BoincLab
    dir: Path
    port: int                    # GUI RPC port inside the namespace
    password: str
    tasks: list[tuple[str, int]]
    proc: subprocess.Popen | None = None
    bridge: subprocess.Popen | None = None
    bridge_port: int = 0         # 127.0.0.1:bridge_port in the host namespace
    pids: list[int] = field(default_factory=list)

    @property
    def auth_file(self) -> Path:
        return self.dir / "gui_rpc_auth.cfg"

    def settings(self, **overrides) -> BoincSettings:
        values = dict(port=self.bridge_port, auth_files=(str(self.auth_file),), timeout=10.0)
        return BoincSettings(**{**values, **overrides})

    def start(self) -> None:
        starting("boinc-client")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.netns, BOINC, "--dir", str(self.dir),
             "--gui_rpc_port", str(self.port), "--no_info_fetch", "--skip_cpu_benchmarks",
             "--no_gpus", "--redirectio"],
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        self.bridge = subprocess.Popen(
            [sys.executable, "-m", "tests.lab.boinc", "bridge", self.lab.netns, str(self.port)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
        self.bridge_port = int(self.bridge.stdout.readline() or 0)
        self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until the client answers a GUI RPC request through the bridge with every task."""
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "stdoutdae.txt")
                tail = log.read_text()[-400:] if log.exists() else ""
                raise RuntimeError(f"boinc client did not come up: {tail}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.bridge_port), timeout=1) as s:
                s.sendall(b"<boinc_gui_rpc_request>\n<get_results/>\n</boinc_gui_rpc_request>\n\003")
                buf = b""
                while not buf.endswith(b"\003"):
                    chunk = s.recv(65536)
                    if not chunk:
                        return False
                    buf += chunk
                return buf.count(b"<result>") == len(self.tasks)
        except OSError:
            return False

    def app_pids(self) -> list[int]:
        return [p for p in descendants(self.proc.pid) if p != self.proc.pid] if self.proc else []

    def stop(self) -> None:
        """SIGKILL the client, its science apps and the bridge; wait until they are gone."""
        for proc in (self.proc, self.bridge):
            if proc is None or proc.poll() is not None:
                continue
            os.kill(proc.pid, signal.SIGSTOP)     # nothing forks while the tree is collected
            tree = descendants(proc.pid)
            signal_all(tree, signal.SIGKILL)
            proc.wait()
            wait_gone(tree)
        if self.bridge and self.bridge.stdout:
            self.bridge.stdout.close()


class BoincLab:
    def __init__(self):
        self.id = secrets.token_hex(3)
        self.netns = f"roost-boinc-{self.id}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"roost-boinc-{self.id}-"))
        self.dir.chmod(0o755)                 # the lab login user reads auth files below
        self.clients: list[BoincClient] = []
        self.app: Path | None = None

    def setup(self) -> None:
        stop_system_client()
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True,
                       capture_output=True)
        self.app = self.dir / "apisleep"
        subprocess.run(["g++", str(APP_SOURCE), "-o", str(self.app), "-I/usr/include/boinc",
                        "-lboinc_api", "-lboinc", "-lpthread"], check=True, capture_output=True)

    def start(self, tasks: list[tuple[str, int]], *, project: str = "LabTest",
              password: str | None = None) -> BoincClient:
        """A running client whose tasks (name, seconds of fake work) all run at once."""
        d = Path(tempfile.mkdtemp(prefix="client-", dir=self.dir))
        d.chmod(0o755)
        password = secrets.token_hex(8) if password is None else password
        write_state(d, self.app, tasks, project, password)
        _owned_by_login_user(d / "gui_rpc_auth.cfg")
        client = BoincClient(self, d, 31416 + len(self.clients), password, tasks)
        self.clients.append(client)
        client.start()
        return client

    def stop_all(self) -> None:
        for client in self.clients:
            client.stop()
        self.clients.clear()

    def close(self) -> None:
        self.stop_all()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def _owned_by_login_user(path: Path) -> None:
    ensure_user()
    user = pwd.getpwnam(USER)
    os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o600)


def stop_system_client() -> None:
    """The Debian package may start its own client (/var/lib/boinc-client): stop it."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if (Path(entry.path, "comm").read_text().strip() == "boinc"
                    and os.readlink(Path(entry.path, "cwd")) == "/var/lib/boinc-client"):
                _stop_service(int(entry.name))
        except OSError:
            continue


def _stop_service(pid: int) -> None:
    script = Path("/etc/init.d/boinc-client")
    if script.exists():
        subprocess.run([str(script), "stop"], capture_output=True, timeout=60)
    signal_all([pid], signal.SIGTERM)


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "the BOINC lab needs root (network namespaces)"
    if not os.path.exists(BOINC):
        return "boinc client missing; install boinc-client"
    if not Path("/usr/include/boinc/boinc_api.h").exists():
        return "BOINC app headers missing; install libboinc-app-dev"
    if shutil.which("g++") is None:
        return "g++ missing (builds the lab's BOINC app)"
    if shutil.which("ip") is None:
        return "ip missing; install iproute2"
    return None


@pytest.fixture(scope="session")
def boinc_lab():
    reason = _missing()
    need(reason is None, reason or "")
    lab = BoincLab()
    try:
        lab.setup()
    except subprocess.CalledProcessError as exc:
        lab.close()
        need(False, f"BOINC lab setup failed: {' '.join(exc.cmd)}: {exc.stderr.decode()[:200]}")
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def boinc(boinc_lab):
    """The session's BoincLab; clients started by the test stop when it ends."""
    try:
        yield boinc_lab
    finally:
        boinc_lab.stop_all()


if __name__ == "__main__" and sys.argv[1:2] == ["bridge"]:
    asyncio.run(_bridge(sys.argv[2], int(sys.argv[3])))
