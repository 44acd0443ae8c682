"""Lab nodes of chosen sizes behind a `roost serve` shard scraped by the lab's Prometheus (the
scheduler-on-Prometheus tests and bench/bench_sched_prom.py): each node reads a procfs of its
own, a board tree copied with its /proc/stat cut to a core count and its loadavg fixed. The
nodes come from an SshLab of their own (a NamedLab), so starting them never renumbers the
nodes of the Prometheus lab's other users."""
from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.trees import copy_board
from tests.lab.prometheus import FIXTURES, PromLab, free_port
from tests.lab.sshd import LabNode, SshLab, descendants, signal_all


def fake_proc(root: Path, cores: int, load: str) -> Path:
    """A board's procfs with `cores` cores and a fixed load average."""
    proc = copy_board(FIXTURES / "boards" / "cm4-emmc-worn" / "proc", root / "proc")
    lines = (proc / "stat").read_text().splitlines()
    total = [ln for ln in lines if ln.startswith("cpu ")]
    one = next(ln for ln in lines if ln.startswith("cpu0 "))
    rest = [ln for ln in lines if not ln.startswith("cpu")]
    cpus = [one.replace("cpu0 ", f"cpu{i} ", 1) for i in range(cores)]
    (proc / "stat").write_text("\n".join(total + cpus + rest) + "\n")
    (proc / "loadavg").write_text(f"{load} {load} {load} 1/200 4242\n")
    return proc


def nodes_toml(ssh: SshLab, nodes, procs, extra: str = "", hosts: dict[str, str] | None = None,
               known_hosts: Path | None = None) -> str:
    """A roost.toml for ssh's nodes (each reading its procfs); hosts: node -> the host name to
    reach it by (else its address), known_hosts: a file naming them (else the lab's)."""
    hosts = hosts or {}
    body = [f'[defaults]\nuser = "roostlab"\nidentity = "{ssh.client_key}"\n'
            f'known_hosts = "{known_hosts or ssh.known_hosts}"\nconnect_timeout = 5\n\n{extra}\n']
    for n, proc in zip(nodes, procs):
        body.append(f'[[nodes]]\nnames = "{n.name}"\nhost = "{hosts.get(n.name, n.host)}"\n'
                    f'port = {n.port}\nprocfs = "{proc}"\n\n')
    return "".join(body)


@contextlib.contextmanager
def serve_shard(lab: PromLab, ssh: SshLab, nodes, procs, work: Path, job: str) -> Iterator[Path]:
    """One `roost serve` over ssh's nodes, scraped by the lab's Prometheus as scrape job `job`
    (returns once every node's target is up); stopped on exit."""
    work.chmod(0o755)                               # the nodes' login user reads the procfs
    port = free_port()
    shard = work / "shard.toml"
    shard.write_text(nodes_toml(ssh, nodes, procs, f'[serve]\nlisten = "127.0.0.1:{port}"\n'))
    proc = lab.spawn_roost(f"{job}-shard", ["--config", str(shard), "serve", "--interval", "1"],
                           work / "state")
    try:
        lab.wait(lambda: lab._answers(f"http://127.0.0.1:{port}/sd"), 30, "shard /sd")
        block = f"  - job_name: {job}\n    http_sd_configs:\n      - url: http://127.0.0.1:{port}/sd\n"
        lab.add_jobs(block, {(job, n.name) for n in nodes})
        yield shard
    finally:
        lab.stop_roost(proc)


def freeze(node: LabNode) -> None:
    """The node hangs as one powered off or wedged would: its sshd, every connection's process
    and every session (our tasks too) stopped (SIGSTOP). No FIN or RST reaches a client: its
    TCP connections stay open and nothing answers on them. restart() brings it back."""
    os.kill(node.pid, signal.SIGSTOP)
    signal_all(sorted(set(descendants(node.pid) + node.session_pids())), signal.SIGSTOP)


@contextlib.contextmanager
def scrape_refused(lab: PromLab, job: str, node: str) -> Iterator[None]:
    """Prometheus's scrape of one node's target (scrape job `job`) fails (its address is
    relabelled to a port nothing listens on: up == 0) while the node and SSH to it are fine,
    as when only its exporter died; restored (and up again) on exit."""
    head = f"  - job_name: {job}\n"
    i = next(k for k, block in enumerate(lab.extra_jobs) if block.startswith(head))
    block = lab.extra_jobs[i]
    lab.extra_jobs[i] = block + (
        f"    relabel_configs:\n      - source_labels: [__meta_roost_node]\n"
        f"        regex: '{node}'\n        target_label: __address__\n"
        f"        replacement: '127.0.0.1:{free_port()}'\n")
    lab.reload()
    try:
        lab.wait(lambda: (job, node) not in lab.up_targets(), 30, f"{node}'s scrape failing")
        yield
    finally:
        lab.extra_jobs[i] = block
        lab.reload()
        lab.wait(lambda: (job, node) in lab.up_targets(), 30, f"{node}'s scrape back")
