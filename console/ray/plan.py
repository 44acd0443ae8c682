"""[ray] + what each node's probe found -> checks and every node's `ray start` argv. Pure.

Checks, one line each, before anything starts: 32-bit ARM is refused (Ray publishes no 32-bit
ARM builds), the python must exist and hold ray with the dashboard extras, and every node's Ray
and Python versions must equal the head's (Ray itself refuses a patch-level Python mismatch).
A head board with little RAM is a warning, not an error.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from console.config import RayConfig, RayNodeSettings
from console.ray.parse import LABEL, label_value_ok
from console.ray.remote import Facts

HEAD_MIN_MB = 1536         # a head alone is ~650 MB PSS idle (GCS, dashboard, raylet, agents)
ARM32 = ("armv6l", "armv7l", "armv8l", "armhf", "arm")
DRAIN = "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"   # 30 s by default: `down` does not wait


@dataclass(frozen=True, slots=True)
class Checked:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(facts: Mapping[str, Facts], head: str, settings: Mapping[str, RayNodeSettings]
          ) -> Checked:
    """Every problem of every node (facts in node order; the head's versions are the rule)."""
    out = Checked()
    for node, f in facts.items():
        problem = _board(node, f) or _python(node, f, settings[node].python)
        if problem:
            out.errors.append(problem)
    ref = facts.get(head)
    if ref is not None and ref.ray and ref.python:
        for node, f in facts.items():
            if node != head and f.ray and f.python and (f.ray, f.python) != (ref.ray, ref.python):
                out.errors.append(
                    f"{node}: Ray {f.ray}, Python {f.python} ({settings[node].python}); the head "
                    f"{head} has Ray {ref.ray}, Python {ref.python}: install the same on both")
    if ref is not None and ref.mem_mb is not None and ref.mem_mb < HEAD_MIN_MB:
        out.warnings.append(
            f"{head}: {ref.mem_mb} MB RAM; a Ray head alone uses about 650 MB (GCS, dashboard, "
            f"raylet) before any work: a board with 2 GB or more makes a better [ray] head")
    for node in facts:
        if not label_value_ok(node):
            out.warnings.append(f"{node}: not a valid Ray label value; the console maps this "
                                f"node by address instead of the {LABEL} label")
    return out


def _board(node: str, f: Facts) -> str:
    if f.arch in ARM32 or (f.arch.startswith("arm") and f.bits == 32) or \
            (f.arch == "aarch64" and f.bits == 32):
        return (f"{node}: {f.arch} with a 32-bit userland: Ray publishes no 32-bit ARM builds "
                f"(install a 64-bit OS, or leave the node out of [ray] nodes)")
    return ""


def _python(node: str, f: Facts, python: str) -> str:
    if f.problem == "missing":
        return f"{node}: no python at {python!r} (set [ray] python, or python in [ray.groups.*])"
    if f.python is None:
        return f"{node}: {python} did not run: {f.problem or 'no answer'}"
    if f.ray is None:
        return f"{node}: {python} (Python {f.python}) has no ray: pip install 'ray[default]'"
    if not f.dashboard:
        return (f"{node}: ray {f.ray} under {python} lacks the dashboard extras the job API "
                f"needs: pip install 'ray[default]=={f.ray}'")
    return ""


# ---- argv ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NodePlan:
    node: str
    head: bool
    argv: tuple[str, ...]
    bin_dir: str | None
    token: str
    env: Mapping[str, str] = field(default_factory=lambda: {DRAIN: "0"})


def node_argv(node: str, ray: RayConfig, s: RayNodeSettings, f: Facts, *, head: bool,
              head_ip: str) -> tuple[str, ...]:
    """`PYTHON -m ray.scripts.scripts start --block ...` for one node (the `ray` script is
    that module's main; calling it through the configured python needs no PATH)."""
    cpus = s.num_cpus if s.num_cpus is not None else f.cores
    argv = [s.python, "-m", "ray.scripts.scripts", "start", "--block",
            f"--node-ip-address={f.ip}", f"--temp-dir={ray.temp_dir}", f"--node-name={node}",
            "--disable-usage-stats", f"--num-cpus={cpus}",
            f"--node-manager-port={s.node_manager_port}",
            f"--object-manager-port={s.object_manager_port}",
            f"--dashboard-agent-listen-port={s.dashboard_agent_port}",
            f"--dashboard-agent-grpc-port={s.dashboard_agent_grpc_port}",
            f"--runtime-env-agent-port={s.runtime_env_agent_port}",
            f"--metrics-export-port={s.metrics_port}",
            f"--min-worker-port={s.worker_ports[0]}", f"--max-worker-port={s.worker_ports[1]}"]
    if label_value_ok(node):
        argv.append(f"--labels={LABEL}={node}")
    if s.object_store_mb is not None:
        argv.append(f"--object-store-memory={s.object_store_mb * 1024 * 1024}")
    if head:
        # the job API is remote code execution: loopback only, reached through SSH
        argv += ["--head", f"--port={ray.port}", "--dashboard-host=127.0.0.1",
                 f"--dashboard-port={ray.dashboard_port}", "--include-dashboard=true",
                 f"--ray-client-server-port={ray.client_port}"]
    else:
        argv.append(f"--address={head_ip}:{ray.port}")
    return tuple(argv)


def bin_dir(s: RayNodeSettings) -> str | None:
    """The venv's bin goes first on PATH, so a job's `python` is the cluster's python."""
    return os.path.dirname(s.python) if s.python.startswith("/") else None


def plans(ray: RayConfig, head: str, facts: Mapping[str, Facts],
          settings: Mapping[str, RayNodeSettings]) -> list[NodePlan]:
    """The head first, then the workers, each with a fresh token."""
    head_ip = facts[head].ip
    order = [head] + [n for n in facts if n != head]
    return [NodePlan(n, n == head, node_argv(n, ray, settings[n], facts[n], head=n == head,
                                             head_ip=head_ip),
                     bin_dir(settings[n]), secrets.token_hex(8)) for n in order]
