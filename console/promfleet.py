"""The console's fleet read from Prometheus ([source] prometheus = URL), built from the Config.

Service layer, UI-free: reads the secret the config names (an environment variable, or a file
that must still be 0600 when it is read; the value goes to the HTTP client only), maps target
labels to the configured nodes (by name, then by host), and gives the source an on-demand SSH
pool whose targets come from the config, or, for a node only Prometheus knows, from
ssh_config and [defaults] under the node's own name.
"""
from __future__ import annotations

import os
import stat
from dataclasses import replace

from collectors.model import NodeTarget
from collectors.promql import Credentials, PromClient
from collectors.promsource import NodeNames, PromSource
from collectors.sshpool import SshPool
from console.config import Config, ConfigError, NodeSpec, SourceConfig


def open_prom_source(config: Config) -> PromSource:
    """The PromSource for config.source (ConfigError, one line, when a secret is missing)."""
    src = config.source
    client = PromClient(src.prometheus or "", credentials=credentials(src),
                        verify=_verify(src))
    known = {spec.name: spec for spec in config.nodes}
    hosts = {t.host: t.name for t in config.targets() if not t.local}
    names = NodeNames(src.node_label, src.strip_port, hosts=hosts, names=known)
    pool = SshPool(lambda node: target_of(config, known, node), cap=src.ssh_cap, idle=src.ssh_idle)
    return PromSource(client, names, interval=src.interval, budget=src.query_budget,
                      window=src.rate_window, selector=src.selector, pool=pool,
                      timeout=src.timeout, parallel=src.parallel, overrides=src.queries)


def target_of(config: Config, known: dict[str, NodeSpec], node: str) -> NodeTarget | None:
    """How to reach a node over SSH: its configured settings, else ssh_config and [defaults]
    for a node Prometheus discovered (reached by its name, as `ssh NAME` would)."""
    spec = known.get(node)
    if spec is None:
        try:
            spec = NodeSpec(name=node, index=0)
            return config.target(spec)
        except ConfigError:
            return None
    return config.target(spec)


def stale_after(config: Config) -> float:
    """A node read from Prometheus is stale when two ticks brought nothing for it."""
    src = config.source
    return max(config.thresholds.stale_after, 2 * src.interval + src.query_budget)


def with_source_thresholds(config: Config) -> Config:
    return replace(config, thresholds=replace(config.thresholds, stale_after=stale_after(config)))


def credentials(src: SourceConfig, env=os.environ) -> Credentials:
    token = _secret(src, "bearer_token", env)
    password = _secret(src, "password", env)
    return Credentials(token=token, basic=(src.user or "", password) if password is not None else None)


def _secret(src: SourceConfig, key: str, env) -> str | None:
    name, path = getattr(src, f"{key}_env"), getattr(src, f"{key}_file")
    if name:
        if name not in env:
            raise ConfigError(f"{src.where}: source.{key}_env: environment variable {name} is not set")
        return env[name]
    if path:
        return _read_private(src, f"source.{key}_file", path)
    return None


def _read_private(src: SourceConfig, key: str, path: str) -> str:
    """Read a secret file through one descriptor: refuse a symlink, a non-regular file, or one
    group/world can read (checked on the open file, so it cannot change in between)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"{src.where}: {key}: {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{src.where}: {key}: {path} must be a regular file readable by its "
                              f"owner only (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it")
        text = fh.read(64 * 1024).decode("utf-8", "replace")
    return text.strip()


def _verify(src: SourceConfig) -> bool | str:
    if src.insecure:
        return False
    return src.ca_file or True
