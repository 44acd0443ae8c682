"""A real Redfish BMC for tests: sushy-tools' emulator (fake driver) on 127.0.0.1, basic auth.

    bmc = SushyBmc.start(tmp_dir, systems=("node1", "node2"))
    bmc.url, bmc.user, bmc.password_file (0600), bmc.stop()

As a pytest plugin (tests/conftest.py) it gives the fixture `sushy`: one emulator per test module
with the systems node1 and node2.

The fake driver applies a power change 1-11 s after the request (like slow hardware): tests poll.
"""
from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import need
from tests.lab.peers import starting

CONF = """\
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = {port}
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_STATE_DIR = '{dir}/state'
SUSHY_EMULATOR_AUTH_FILE = '{dir}/htpasswd'
SUSHY_EMULATOR_FAKE_SYSTEMS = [
    {{'uuid': '00000000-0000-0000-0000-0000000000%02d' % i, 'name': name, 'power_state': 'Off',
      'external_notifier': False, 'nics': []}}
    for i, name in enumerate({systems!r}, 1)
]
"""


def emulator() -> str | None:
    here = Path(sys.executable).parent / "sushy-emulator"
    return str(here) if here.exists() else shutil.which("sushy-emulator")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SushyBmc:
    dir: Path
    port: int = 0
    user: str = "admin"
    password: str = field(default_factory=lambda: secrets.token_hex(8))
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password_file(self) -> Path:
        return self.dir / "bmc.pw"

    @classmethod
    def start(cls, base: Path, systems=("node1",)) -> SushyBmc:
        import bcrypt
        bmc = cls(Path(base) / f"sushy-{secrets.token_hex(3)}")
        (bmc.dir / "state").mkdir(parents=True)
        bmc.password_file.write_text(bmc.password + "\n")
        bmc.password_file.chmod(0o600)
        hashed = bcrypt.hashpw(bmc.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (bmc.dir / "htpasswd").write_text(f"{bmc.user}:{hashed}\n")
        bmc._launch(tuple(systems))
        return bmc

    def _launch(self, systems: tuple) -> None:
        starting("sushy-emulator")
        for _ in range(5):
            self.port = free_port()
            conf = self.dir / "emulator.conf"
            conf.write_text(CONF.format(port=self.port, dir=self.dir, systems=list(systems)))
            with open(self.dir / "sushy.log", "wb") as log:
                self.proc = subprocess.Popen([emulator(), "--config", str(conf)], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
            if self._ready():
                return
            self.stop()
        raise RuntimeError(f"sushy-emulator did not start: {(self.dir / 'sushy.log').read_text()[-300:]}")

    def _ready(self, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                urllib.request.urlopen(self.url + "/redfish/v1", timeout=1).read()
                return True
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


@pytest.fixture(scope="module")
def sushy(tmp_path_factory):
    need(emulator() is not None, "sushy-emulator missing; pip install sushy-tools (test extra)")
    bmc = SushyBmc.start(tmp_path_factory.mktemp("redfish"), systems=("node1", "node2"))
    yield bmc
    bmc.stop()
