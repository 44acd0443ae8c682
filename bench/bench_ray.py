"""Ray on the lab fleet: roost's `ray up`, a job round trip and `ray down`, beside Ray's own
CLI and REST API driven directly on the same two nodes (the peer), and the memory (PSS from
/proc/PID/smaps_rollup) each Ray node uses idle and while a job runs.

Two real sshd lab nodes (127.0.0.x, user roostlab) as in tests/lab/ray.py. Per round:
  roost   `roost ray up` (both nodes, until the head lists them ALIVE); `roost submit --wait`
          of a job that starts a driver and runs 4 tasks; `roost ray down` (both nodes gone)
  peer    Ray's CLI as roostlab on this host with roost's arguments, no SSH: `ray start
          --block` for the head, then the worker (until the same ALIVE check); the same job by
          POST /api/jobs/ + polling GET on the head's dashboard directly; each `ray start
          --block` SIGTERMed (never `ray stop`: it is host-wide)
Medians over --rounds. Usage: .venv/bin/python bench/bench_ray.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from console.config import load_config  # noqa: E402
from console.ray import plan, remote  # noqa: E402
from tests.lab.ray import NAMES, RayLab, wait_until  # noqa: E402
from tests.lab.sshd import USER, SshLab, ensure_user  # noqa: E402

JOB = ("python -c 'import ray; ray.init(); "
       "print(sum(ray.get([ray.remote(lambda x: x * x).remote(i) for i in range(4)])))'")


def pss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def alive_nodes(port: int) -> int:
    try:
        doc = httpx.get(f"http://127.0.0.1:{port}/api/v0/nodes", params={"detail": 1},
                        timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return 0
    return sum(1 for n in doc["data"]["result"]["result"] if n["state"] == "ALIVE")


def roost_round(lab: RayLab) -> dict:
    t0 = time.monotonic()
    code, out, err = lab.roost("ray", "up")
    up = time.monotonic() - t0
    assert code == 0, err
    idle = {n: pss_kb(lab.ray_pids(n)) for n in NAMES}
    t0 = time.monotonic()
    code, out, err = lab.roost("submit", "--wait", "--wrap", JOB)
    job = time.monotonic() - t0
    assert code == 0, err
    t0 = time.monotonic()
    code, out, err = lab.roost("ray", "down")
    down = time.monotonic() - t0
    assert code == 0 and wait_until(lambda: not any(lab.ray_pids(n) for n in NAMES), 10)
    return {"up": up, "job": job, "down": down, "pss_idle_kb": idle}


def peer_round(lab: RayLab) -> dict:
    """Ray's own CLI as roostlab on this host, no SSH: `ray start --block` with roost's
    arguments, each in its own session, stopped by SIGTERM (as Ray documents for --block)."""
    config = load_config(lab.config, ssh_config=lab.ssh_config, state_dir=lab.state_dir)
    ray = config.ray
    facts = {n: remote.Facts(arch="x86_64", cores=os.cpu_count() or 1, ip=lab.nodes[n].host,
                             python="x", ray="x", dashboard=True) for n in NAMES}
    settings = {n: ray.settings(config.node(n).groups) for n in NAMES}
    procs = []
    t0 = time.monotonic()
    for p in plan.plans(ray, NAMES[0], facts, settings):
        log = lab.root / f"peer-{p.node}.log"
        env = {**os.environ, **p.env, "HOME": os.path.expanduser(f"~{USER}"),
               "PATH": f"{p.bin_dir}:{os.environ['PATH']}"}
        with open(log, "w") as out:
            procs.append(subprocess.Popen(list(p.argv), user=USER, env=env, cwd="/",
                                          start_new_session=True, stdout=out, stderr=out))
        assert wait_until(lambda log=log: remote.UP_MARK in log.read_text(), 120)
    assert wait_until(lambda: alive_nodes(ray.dashboard_port) == 2, 60)
    up = time.monotonic() - t0
    base = f"http://127.0.0.1:{ray.dashboard_port}"
    t0 = time.monotonic()
    sid = httpx.post(f"{base}/api/jobs/", json={"entrypoint": JOB}, timeout=30).json()
    sid = sid["submission_id"]
    assert wait_until(lambda: httpx.get(f"{base}/api/jobs/{sid}", timeout=5).json()["status"]
                      in ("SUCCEEDED", "FAILED", "STOPPED"), 60, every=0.5)
    job = time.monotonic() - t0
    t0 = time.monotonic()
    for proc in reversed(procs):                     # the worker, then the head
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    gone = wait_until(lambda: not _ray_pids(lab), 5)
    down = time.monotonic() - t0
    left = _ray_pids(lab)
    for pid in left:                                 # the peer has no sweep
        _signal(pid, signal.SIGKILL)
    return {"up": up, "job": job, "down": down, "down_clean": bool(gone), "left": len(left)}


def _ray_pids(lab: RayLab) -> list[int]:
    """roostlab's processes of the lab's Ray: its python, or its temp dir in the command."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmd = Path(entry.path, "cmdline").read_bytes()
                if (lab.python.encode() in cmd or str(lab.temp_dir).encode() in cmd) and \
                        os.stat(entry.path).st_uid == lab_uid():
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def lab_uid() -> int:
    import pwd
    return pwd.getpwnam(USER).pw_uid


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return pid


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rounds", type=int, default=3)
    rounds = args.parse_args().rounds
    ensure_user()
    ssh = SshLab()
    lab = RayLab.create(ssh)
    assert lab is not None, "no python the lab user can run imports ray"
    try:
        roost, peer = [], []
        for _ in range(rounds):
            roost.append(roost_round(lab))
            peer.append(peer_round(lab))
        report(roost, peer)
    finally:
        lab.roost("ray", "down")
        for pid in _ray_pids(lab):
            _signal(pid, signal.SIGKILL)
        lab.close()
        ssh.close()


def report(roost: list[dict], peer: list[dict]) -> None:
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    out = {k: {"roost_s": round(med(roost, k), 2), "peer_s": round(med(peer, k), 2),
               "ratio": round(med(roost, k) / med(peer, k), 2)} for k in ("up", "job", "down")}
    out["pss_idle_mb"] = {n: round(statistics.median(r["pss_idle_kb"][n] for r in roost) / 1024)
                          for n in NAMES}
    out["peer_leftovers_after_sigterm"] = [r["left"] for r in peer]
    out["rounds"] = len(roost)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
