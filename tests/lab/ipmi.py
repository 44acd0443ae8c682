"""A real IPMI BMC for tests: OpenIPMI's ipmi_sim on 127.0.0.1 whose chassis powers a lab sshd.

    bmc = IpmiBmc.start(tmp_dir, node)   # node: a tests.lab.sshd LabNode (already running)
    bmc.port, bmc.user, bmc.password_file (0600)
    bmc.power()                          # what the chassis says: True/False
    bmc.os_halt_command                  # run on the node over SSH = the OS shuts down (power stays on)
    bmc.stop()

Chassis model: a power file (1/0) and the node's OS (its sshd). `set power 0` cuts both at once
like pulling the plug (listener, per-connection sshds and session processes die); `set power 1`
boots (starts sshd again on the same address and host key). An OS shutdown stops sshd and leaves
the power file at 1, as a real board that halted still draws power until the BMC cuts it.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab.peers import starting

IPMI_SIM = shutil.which("ipmi_sim") or "/usr/bin/ipmi_sim"

LAN_CONF = """\
name "{name}"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcd02
  endlan
  chassis_control "{dir}/chassis.sh"
  poweroff_wait 0
  kill_wait 5
  user 1 true  ""      "test"  user  10 none md2 md5 straight
  user 2 true  "{user}" "{password}" admin 10 none md2 md5 straight
"""

EMU = """\
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
"""

# $1 = get|set|halt. Everything is keyed by files of this BMC's own node: no broad kills.
CHASSIS = r"""#!/bin/sh
D={dir}
PIDF={pidfile}
TOKEN='ROOST_LAB_NODE={token}'
echo "$(date +%T.%N) chassis $*" >> $D/chassis.log
listener() {{ [ -f $PIDF ] && kill -0 "$(cat $PIDF)" 2>/dev/null; }}
children() {{  # pids whose parent is $1, from /proc in one awk pass (no procps needed)
  awk -v pp="$1" '{{ sub(/.*\) /, ""); split($0, f, " "); if (f[2] == pp) {{ n = FILENAME;
    sub("/proc/", "", n); sub("/stat", "", n); print n }} }}' /proc/[0-9]*/stat 2>/dev/null
}}
os_down() {{
  {extra_down}
  if listener; then pid=$(cat $PIDF); kill -KILL $(children "$pid") "$pid" 2>/dev/null; fi
  rm -f $PIDF
  for p in /proc/[0-9]*; do
    grep -qxz "$TOKEN" $p/environ 2>/dev/null && kill -KILL "${{p#/proc/}}" 2>/dev/null
  done
  return 0
}}
boot() {{ listener || /usr/sbin/sshd -f {conf} -E {log} </dev/null >/dev/null 2>&1; {extra_boot}; }}
case $1 in
  get) shift; for what in "$@"; do
         case $what in power) echo "power:$(cat $D/power)";; boot) echo "boot:default";; esac
       done ;;
  set) shift; while [ $# -ge 2 ]; do
         case $1 in
           power) if [ "$2" = 1 ]; then echo 1 > $D/power; boot; else os_down; echo 0 > $D/power; fi ;;
           reset) os_down; boot ;;
           shutdown) os_down; echo 0 > $D/power ;;   # ACPI soft-off: OS stops, then power drops
         esac; shift 2
       done ;;
  halt) os_down ;;
esac
exit 0
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class IpmiBmc:
    dir: Path
    node: object
    port: int = 0
    user: str = "admin"
    password: str = field(default_factory=lambda: secrets.token_hex(8))
    proc: subprocess.Popen | None = None
    _halt: threading.Thread | None = None
    extra_boot: str = ":"            # shell run when the board boots (e.g. start slurmd -b)
    extra_down: str = ":"            # shell run when its OS stops

    @property
    def password_file(self) -> Path:
        return self.dir / "bmc.pw"

    @property
    def fifo(self) -> Path:
        return self.dir / "halt.fifo"

    @property
    def os_halt_command(self) -> str:
        """What the node's `poweroff` does in this lab: tell init (a thread here) to stop the OS."""
        return f"echo halt > {self.fifo}"

    @classmethod
    def start(cls, base: Path, node, extra_boot: str = ":", extra_down: str = ":") -> IpmiBmc:
        bmc = cls(Path(base) / f"bmc-{node.name}-{secrets.token_hex(2)}", node,
                  extra_boot=extra_boot, extra_down=extra_down)
        bmc.dir.mkdir(parents=True)
        bmc.dir.chmod(0o755)
        bmc._write_files()
        bmc._launch()
        bmc._start_init()
        return bmc

    def _write_files(self) -> None:
        self.password_file.write_text(self.password + "\n")
        self.password_file.chmod(0o600)
        (self.dir / "power").write_text("1\n" if self.node.alive() else "0\n")
        script = self.dir / "chassis.sh"
        script.write_text(CHASSIS.format(
            dir=self.dir, pidfile=self.node.lab.dir / f"{self.node.name}.pid", token=self.node.token,
            conf=self.node.conf_path, log=self.node.log_path, extra_boot=self.extra_boot,
            extra_down=self.extra_down))
        script.chmod(0o755)
        (self.dir / "node.emu").write_text(EMU)
        (self.dir / "state").mkdir()
        os.mkfifo(self.fifo, 0o622)
        self.fifo.chmod(0o622)   # mkfifo obeys the umask; the lab user must be able to write

    def _launch(self) -> None:
        starting("ipmi_sim")
        for _ in range(5):  # the UDP port may be taken between probe and bind
            self.port = free_udp_port()
            (self.dir / "lan.conf").write_text(LAN_CONF.format(
                name=self.node.name, port=self.port, dir=self.dir, user=self.user, password=self.password))
            with open(self.dir / "ipmi_sim.log", "wb") as log:
                self.proc = subprocess.Popen(
                    [IPMI_SIM, "-c", str(self.dir / "lan.conf"), "-f", str(self.dir / "node.emu"),
                     "-s", str(self.dir / "state"), "-n"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            if self._listening():
                return
            self.proc.kill()
            self.proc.wait()
        raise RuntimeError(f"ipmi_sim did not start: {(self.dir / 'ipmi_sim.log').read_text()[-300:]}")

    def _listening(self, timeout: float = 10.0) -> bool:
        """Wait until ipmi_sim has bound its UDP port (visible in /proc/net/udp)."""
        needle = f":{self.port:04X} "
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if needle in Path("/proc/net/udp").read_text():
                return True
            time.sleep(0.01)
        return False

    def _start_init(self) -> None:
        def init():
            while True:
                with open(self.fifo) as f:      # blocks until the node writes
                    line = f.read().strip()
                if line == "stop":
                    return
                self.chassis("halt")
        self._halt = threading.Thread(target=init, daemon=True)
        self._halt.start()

    def chassis(self, *args: str) -> str:
        return subprocess.run([str(self.dir / "chassis.sh"), *args], capture_output=True,
                              text=True, check=True).stdout

    def mark(self) -> int:
        """A position in the chassis log, for steps(since=...)."""
        log = self.dir / "chassis.log"
        return len(log.read_text()) if log.exists() else 0

    def steps(self, since: int = 0) -> list[str]:
        """What the chassis did ("halt", "set power 0" ...), reads left out. A request the BMC
        client retried (slow script under load) runs twice: consecutive repeats count once."""
        log = self.dir / "chassis.log"
        lines = log.read_text()[since:].splitlines() if log.exists() else []
        steps = [line.split(" ", 2)[2] for line in lines if " chassis get" not in line]
        return [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]

    def power(self) -> bool:
        return self.chassis("get", "power").strip() == "power:1"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.chassis("halt")
        if self._halt and self._halt.is_alive():
            with open(self.fifo, "w") as f:
                f.write("stop\n")
            self._halt.join(5)
