"""The user's OpenSSH client config (~/.ssh/config), read per node name.

asyncssh's own parser does the work (Host patterns with * ? and !, Match, Include, %h tokens), so
roost resolves a node exactly as `ssh NAME` would. Only the options roost uses are kept. Where
they land among other sources (documented in examples/roost.toml):

    roost.toml explicit node values > ssh_config > roost.toml [defaults] > built-ins

An absent file is fine (no ssh_config), so is /dev/null (an empty one); a broken one is a
one-line SshConfigError with file:line. The values roost uses are checked as roost.toml's are
(a Port of 99999, a HostName or User that could be read as an option or a shell word), and an
Include loop is an error, not a RecursionError.
"""
from __future__ import annotations

import getpass
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from console.errors import RoostError
from console.userfile import MiB, UserFileError, read_text

if TYPE_CHECKING:
    from asyncssh.config import SSHClientConfig

MAX_SSH_CONFIG_BYTES = MiB // 4   # parsed once per node name
MAX_INCLUDE_DEPTH = 16          # OpenSSH's own limit (READCONF_MAX_DEPTH)


class SshConfigError(RoostError):
    """One line: "FILE:LINE: reason"."""


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
        host = SshHost(
            hostname=_text(opts, "Hostname"),
            port=_number(opts, "Port"),
            user=_text(opts, "User"),
            identity_files=_paths(opts.get("IdentityFile")),
            known_hosts=_paths(opts.get("UserKnownHostsFile")),
            global_known_hosts=_paths(opts.get("GlobalKnownHostsFile")),
            proxy_jump=_jump(opts.get("ProxyJump")),
            host_key_alias=_text(opts, "HostKeyAlias"),
            check_host_ip=_flag(opts, "CheckHostIP"),
            hash_known_hosts=_flag(opts, "HashKnownHosts"),
        )
        _check(self.path, name, host)
        return host


# what roost.toml allows for the same values (console.config): nothing an ssh or a shell could
# read as an option or a second word
_HOST = re.compile(r"[A-Za-z0-9_:\[\]%][A-Za-z0-9._:\[\]%-]{0,252}")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\$?")
_HOP = re.compile(r"([A-Za-z0-9_][A-Za-z0-9._-]*@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9._-]*)(:\d{1,5})?")


def _check(path: Path, name: str, host: SshHost) -> None:
    if host.port is not None and not (isinstance(host.port, int) and 0 < host.port < 65536):
        _bad(path, name, "Port", host.port, "a port number 1-65535")
    if host.hostname is not None and not _HOST.fullmatch(host.hostname):
        _bad(path, name, "HostName", host.hostname, "a host name or address")
    if host.user is not None and not _USER.fullmatch(host.user):
        _bad(path, name, "User", host.user, "a user name")
    if host.proxy_jump is not None and not all(_HOP.fullmatch(h) for h in host.proxy_jump.split(",")):
        _bad(path, name, "ProxyJump", host.proxy_jump, "[user@]host[:port]")
    if host.host_key_alias is not None and not _HOST.fullmatch(host.host_key_alias):
        _bad(path, name, "HostKeyAlias", host.host_key_alias, "a host name")


def _bad(path: Path, name: str, option: str, value: object, expected: str) -> None:
    line = _line_of(path, option, str(value))
    where = f"{path}:{line}" if line else f"{path}: Host {name}"
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise SshConfigError(f"{where}: {option}: expected {expected}, got {shown}")


def _line_of(path: Path, option: str, value: str) -> int | None:
    """The line setting option (to value, when one does) in the file itself (not its Includes)."""
    try:
        text = read_text(path, "ssh config", MAX_SSH_CONFIG_BYTES)
    except UserFileError:
        return None
    first = None
    for lineno, line in enumerate(text.split("\n"), 1):
        words = line.strip().replace("=", " ", 1).split(None, 1)
        if words and words[0].lower() == option.lower():
            if value in line:
                return lineno
            first = first or lineno
    return first


def default_path(env: Mapping[str, str] = os.environ) -> Path:
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".ssh" / "config"


def load_ssh_config(path: str | os.PathLike[str] | None = None,
                    env: Mapping[str, str] = os.environ) -> SshConfig | None:
    """The config at path (ROOST_SSH_CONFIG, else ~/.ssh/config); None when the default is absent.

    An explicitly named file that is missing is an error: the user asked for it.
    """
    chosen = path or env.get("ROOST_SSH_CONFIG")
    p = Path(chosen).expanduser() if chosen else default_path(env)
    if not chosen and not p.exists():
        return None
    try:   # missing (when named), a directory, a FIFO, too big, not UTF-8: one line
        _check_includes(p, read_text(p, "ssh config", MAX_SSH_CONFIG_BYTES), (p.resolve(),), {})
    except UserFileError as exc:
        raise SshConfigError(str(exc)) from None
    cfg = SshConfig(p)
    cfg.lookup("roost-validate")  # parse once now so syntax errors surface at load time
    return cfg


_INCLUDE = re.compile(r"^[ \t]*include(?:[ \t]*=[ \t]*|[ \t]+)(.*)$", re.IGNORECASE | re.MULTILINE)


def _check_includes(path: Path, text: str, chain: tuple[Path, ...], seen: dict[Path, int]) -> None:
    """Every file reached through Include is readable text, and Include nests at most
    MAX_INCLUDE_DEPTH files deep with no loop (asyncssh would recurse until RecursionError)."""
    for m in _INCLUDE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        for included in _included_files(m.group(1)):
            if included in chain or len(chain) >= MAX_INCLUDE_DEPTH:
                raise SshConfigError(f"{path}:{line}: Include nests more than {MAX_INCLUDE_DEPTH} files deep "
                                     "(does a file include itself?)")
            if seen.get(included, MAX_INCLUDE_DEPTH + 1) <= len(chain):
                continue
            seen[included] = len(chain)
            child = read_text(included, "ssh config", MAX_SSH_CONFIG_BYTES)
            _check_includes(included, child, chain + (included,), seen)


def _included_files(words: str) -> list[Path]:
    # as asyncssh resolves them: absolute patterns from /, relative ones from ~/.ssh; files only
    try:
        patterns = shlex.split(words)
    except ValueError:
        return []                   # the parser says what is wrong with the line
    found = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        base = Path(path.anchor) if path.anchor else Path("~", ".ssh").expanduser()
        rel = str(Path(*path.parts[1:])) if path.anchor else pattern
        try:
            found += sorted(p.resolve() for p in base.glob(rel) if p.is_file())
        except (OSError, ValueError):
            continue
    return found


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
    except (ConfigParseError, ValueError, OSError) as exc:   # UnicodeDecodeError is a ValueError
        raise SshConfigError(_asyncssh_error(path, exc)) from None
    except RecursionError:
        raise SshConfigError(f"{path}: Include nests too deeply (does a file include itself?)") from None
    return cfg.get_options(False)


def _client_config_class() -> type[SSHClientConfig]:
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


_ClientConfig: type[SSHClientConfig] | None = None
_LINE = re.compile(r"^(.*) line (\d+): ")


def _asyncssh_error(path: Path, exc: Exception) -> str:
    # asyncssh says "FILE line N: reason"; roost's style is "FILE:N: reason"
    text = " ".join(str(exc).split())
    if isinstance(exc, UnicodeDecodeError):
        return f"{path}: cannot read ssh config (or a file it includes): not UTF-8 text"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: cannot read ssh config: {(exc.strerror or text).lower()}"
    text = _LINE.sub(lambda m: f"{m.group(1)}:{m.group(2)}: ", text, count=1)
    return text if text.startswith(str(path)) or ":" in text.split(" ", 1)[0] else f"{path}: {text}"


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"


def _paths(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    items = list(value) if isinstance(value, Iterable) and not isinstance(value, str) else [value]
    return tuple(os.path.expanduser(str(v)) for v in items if str(v).lower() != "none")


def _text(opts: Mapping[str, object], key: str) -> str | None:
    value = opts.get(key)    # asyncssh's parsed options: str, int, bool or lists of str
    return value if isinstance(value, str) and value else None


def _number(opts: Mapping[str, object], key: str) -> int | None:
    value = opts.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flag(opts: Mapping[str, object], key: str) -> bool | None:
    value = opts.get(key)
    return value if isinstance(value, bool) else None


def _jump(value: object) -> str | None:
    text = str(value).strip() if value else ""
    return None if text.lower() in ("", "none") else text
