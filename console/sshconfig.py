"""The user's OpenSSH client config (~/.ssh/config), read per node name.

asyncssh's own parser does the work (Host patterns with * ? and !, Match, Include, %h tokens), so
roost resolves a node exactly as `ssh NAME` would. Only the options roost uses are kept. Where
they land among other sources (documented in examples/roost.toml):

    roost.toml explicit node values > ssh_config > roost.toml [defaults] > built-ins

An absent file is fine (no ssh_config); a broken one is a one-line SshConfigError with file:line.
"""
from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


class SshConfigError(Exception):
    """One line: "FILE line N: reason"."""


@dataclass(frozen=True, slots=True)
class SshHost:
    """What ssh_config says about one name; None/() where it says nothing."""
    hostname: str | None = None
    port: int | None = None
    user: str | None = None
    identity_files: tuple[str, ...] = ()
    known_hosts: tuple[str, ...] = ()
    global_known_hosts: tuple[str, ...] = ()
    proxy_jump: str | None = None
    host_key_alias: str | None = None
    check_host_ip: bool | None = None
    hash_known_hosts: bool | None = None


@dataclass(frozen=True, slots=True)
class SshConfig:
    path: Path

    def lookup(self, name: str) -> SshHost:
        opts = _load(self.path, name)
        return SshHost(
            hostname=opts.get("Hostname") or None,
            port=opts.get("Port"),
            user=opts.get("User") or None,
            identity_files=_paths(opts.get("IdentityFile")),
            known_hosts=_paths(opts.get("UserKnownHostsFile")),
            global_known_hosts=_paths(opts.get("GlobalKnownHostsFile")),
            proxy_jump=_jump(opts.get("ProxyJump")),
            host_key_alias=opts.get("HostKeyAlias") or None,
            check_host_ip=opts.get("CheckHostIP"),
            hash_known_hosts=opts.get("HashKnownHosts"),
        )


def default_path(env: Mapping[str, str] = os.environ) -> Path:
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".ssh" / "config"


def load_ssh_config(path: str | os.PathLike | None = None,
                    env: Mapping[str, str] = os.environ) -> SshConfig | None:
    """The config at path (ROOST_SSH_CONFIG, else ~/.ssh/config); None when the default is absent.

    An explicitly named file that is missing is an error: the user asked for it.
    """
    chosen = path or env.get("ROOST_SSH_CONFIG")
    if chosen:
        p = Path(chosen).expanduser()
        if not p.is_file():
            raise SshConfigError(f"{p}: ssh config file not found")
        cfg = SshConfig(p)
    else:
        p = default_path(env)
        if not p.is_file():
            return None
        cfg = SshConfig(p)
    cfg.lookup("roost-validate")  # parse once now so syntax errors surface at load time
    return cfg


_cache: dict[tuple[Path, float, str], Mapping[str, object]] = {}


def _load(path: Path, name: str) -> Mapping[str, object]:
    # one parse per (file version, name): `roost nodes` on 200 nodes reads the file 200 times
    key = (path, path.stat().st_mtime if path.exists() else 0.0, name)
    if key not in _cache:
        _cache[key] = _parse(path, name)
    return _cache[key]


def _parse(path: Path, name: str) -> Mapping[str, object]:
    from asyncssh.config import ConfigParseError  # heavy: only when a file exists
    try:
        # user=() and port=() leave those options to the file (first obtained value wins).
        cfg = _client_config_class().load(None, [path], False, False, False,
                                          _local_user(), (), name, ())
    except (ConfigParseError, ValueError, OSError) as exc:
        raise SshConfigError(" ".join(str(exc).split())) from None
    return cfg.get_options(False)


def _client_config_class():
    """asyncssh's client config parser, also reading the host key options it does not know.

    asyncssh keeps no CheckHostIP or HashKnownHosts; OpenSSH semantics (first value wins,
    yes/no) come from its own boolean handler.
    """
    global _ClientConfig
    if _ClientConfig is None:
        from asyncssh.config import SSHClientConfig, SSHConfig

        class RoostClientConfig(SSHClientConfig):
            _handlers = {**SSHClientConfig._handlers,
                         "checkhostip": ("CheckHostIP", SSHConfig._set_bool),
                         "hashknownhosts": ("HashKnownHosts", SSHConfig._set_bool)}
        _ClientConfig = RoostClientConfig
    return _ClientConfig


_ClientConfig = None


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"


def _paths(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple(os.path.expanduser(str(v)) for v in items if str(v).lower() != "none")


def _jump(value: object) -> str | None:
    text = str(value).strip() if value else ""
    return None if text.lower() in ("", "none") else text
