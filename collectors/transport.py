"""One asyncssh connection per node: connect with verified host keys, run commands, budget channels.

Host keys are always verified, as OpenSSH does (collectors.hostkeys: by the name given or its
HostKeyAlias, [name]:port, hashed entries, CheckHostIP). host_keys="strict" refuses a key not in
known_hosts; "accept-new" records an unknown host's key in target.accept_new_store (trust on
first use) and still refuses a CHANGED key. Keepalive is 2 s x 3, so a dead peer is noticed in about 6-8 s.

Channel budget: OpenSSH's sshd allows MaxSessions=10 channels per connection by default, and the
11th fails. Everything that opens a channel on a roost connection (sampler, commands, jobs, SFTP)
takes a slot from channel_slot(conn) first: at most CHANNELS_PER_CONNECTION=8 at a time, so a busy
node queues work instead of failing it. sshd may count a just-closed session for a few more
milliseconds, so open_process() retries a refused channel open briefly before giving up.

Every failure reaches callers as TransportError(node, message): one line, naming what and where;
connect() lets no other exception out.
"""
from __future__ import annotations

import asyncio
import os
import socket
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import asyncssh

from collectors.errors import RoostError
from collectors.hostkeys import HostKeyCheck, fold_case, host_pattern, refusal
from collectors.model import NodeTarget

KEEPALIVE_INTERVAL = 2.0
KEEPALIVE_COUNT = 3
CHANNELS_PER_CONNECTION = 8
CLOSE_WAIT = 2.0  # seconds to wait for a channel to close after a timeout
OPEN_RETRIES = (0.02, 0.05, 0.1, 0.2, 0.4)  # seconds between channel-open attempts
HOST_KEY_MODES = ("strict", "accept-new")
# AES-GCM first: in asyncssh it costs the console about 25% less per frame than chacha20-poly1305
# (measured by bench/bench_fleet.py), and the console pays it for every node; the rest stay as
# fallbacks for servers without GCM.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
           "aes128-ctr", "aes192-ctr", "aes256-ctr")


class TransportError(RoostError):
    """One node's connection or command failure, as a single line: "n3: what went wrong"."""

    def __init__(self, node: str, message: str):
        super().__init__(f"{node}: {message}")
        self.node = node
        self.message = message


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_status: int | None      # negative: killed by that signal; None: no status reported
    stdout: str
    stderr: str


_slots: weakref.WeakKeyDictionary[object, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def channel_slot(conn: asyncssh.SSHClientConnection) -> asyncio.Semaphore:
    """The connection's channel budget; hold it (async with) while a channel is open."""
    slot = _slots.get(conn)
    if slot is None:
        slot = _slots[conn] = asyncio.Semaphore(CHANNELS_PER_CONNECTION)
    return slot


# ---- host keys -------------------------------------------------------------------------------

def known_hosts_files(target: NodeTarget) -> list[str]:
    files = list(target.known_hosts) if target.known_hosts is not None else [
        str(Path("~/.ssh/known_hosts").expanduser())]
    if target.host_keys == "accept-new" and target.accept_new_store:
        files.append(target.accept_new_store)
    return files


def load_known_hosts(target: NodeTarget) -> asyncssh.SSHKnownHosts:
    """All readable files merged; a missing file simply trusts nothing (never disables checks).

    Parsed once per file version (path, mtime, size): a fleet shares one known_hosts.
    """
    try:
        return _parse_known_hosts(tuple(_version(p) for p in known_hosts_files(target)))
    except OSError as e:
        raise TransportError(target.name, f"cannot read known_hosts {e.filename}: {e.strerror}") from None
    except (ValueError, asyncssh.KeyImportError) as e:
        raise TransportError(target.name, f"bad known_hosts ({', '.join(known_hosts_files(target))}): {e}") from None


def _version(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return path, -1, -1
    return path, st.st_mtime_ns, st.st_size


@lru_cache(maxsize=64)
def _parse_known_hosts(versions: tuple[tuple[str, int, int], ...]) -> asyncssh.SSHKnownHosts:
    texts = [Path(path).read_text() for path, _, size in versions if size >= 0]
    return asyncssh.import_known_hosts(fold_case("\n".join(texts)))


class _Client(asyncssh.SSHClient):
    """Hands keys that known_hosts did not trust to the HostKeyCheck (accept-new records them)."""

    def __init__(self, check: HostKeyCheck):
        self.check = check

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self.check.judge(key)


# ---- connect ---------------------------------------------------------------------------------

def _parse_jump(spec: str) -> tuple[str | None, str, int]:
    """"[user@]host[:port]" as ssh -J takes it (first hop only)."""
    spec = spec.split(",", 1)[0].strip()
    user, _, hostport = spec.rpartition("@")
    host, port = hostport, 22
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 22
    elif hostport.count(":") == 1:
        host, p = hostport.split(":")
        port = int(p)
    return user or None, host, port


def _jump_target(target: NodeTarget) -> NodeTarget:
    from dataclasses import replace
    try:
        user, host, port = _parse_jump(target.proxy_jump or "")
    except ValueError:
        raise TransportError(target.name, f"bad proxy_jump {target.proxy_jump!r}: want [user@]host[:port]") from None
    return replace(target, name=f"{target.name} via {host}", host=host, port=port,
                   user=user or target.user, proxy_jump=None, host_key_alias=None)


def _options(target: NodeTarget, check: HostKeyCheck) -> dict[str, Any]:
    # host_key_alias is passed even when None: asyncssh would otherwise take one from the
    # login user's ~/.ssh/config, which is not the ssh_config roost resolved this node with
    opts = dict(port=target.port, known_hosts=check.match, host_key_alias=target.host_key_alias,
                connect_timeout=target.connect_timeout,
                encryption_algs=list(CIPHERS),
                keepalive_interval=KEEPALIVE_INTERVAL, keepalive_count_max=KEEPALIVE_COUNT)
    if target.user:
        opts["username"] = target.user
    if target.identity_files:
        opts["client_keys"] = list(target.identity_files)
    return opts


def _error_message(target: NodeTarget, check: HostKeyCheck, exc: BaseException) -> str:
    where = host_pattern(target.host, target.port)
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return refusal(check, known_hosts_files(target), exc)
    if isinstance(exc, asyncssh.PermissionDenied):
        keys = ", ".join(target.identity_files) or "default keys and ssh-agent"
        return f"authentication failed for user {target.user or os.environ.get('USER', '?')} at {where} (tried {keys})"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"connect timeout after {target.connect_timeout:g} s ({where})"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused ({where}): is sshd running?"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {target.host!r}: {exc.strerror}"
    if isinstance(exc, asyncssh.KeyImportError):
        return f"cannot load identity file ({', '.join(target.identity_files)}): {exc}"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"ssh disconnected ({where}): {exc.reason}"
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if exc.filename else ""
        return f"cannot connect to {where}{name}: {exc.strerror or exc}"
    return f"ssh error ({where}): {type(exc).__name__}: {exc}"


async def connect(target: NodeTarget) -> asyncssh.SSHClientConnection:
    """An authenticated connection to target, or TransportError with one clear line.

    Nothing else escapes: whatever fails for one node (a name that does not resolve, a
    known_hosts entry asyncssh cannot parse, a bug) is that node's TransportError.
    """
    try:
        return await _connect(target)
    except TransportError:
        raise
    except Exception as e:  # noqa: BLE001 - one node's failure must never become another's
        where = host_pattern(target.host, target.port)
        raise TransportError(target.name, f"ssh error ({where}): {type(e).__name__}: {e}") from None


async def _connect(target: NodeTarget) -> asyncssh.SSHClientConnection:
    if target.host_keys not in HOST_KEY_MODES:
        raise TransportError(target.name, f"host_keys must be one of {HOST_KEY_MODES}, got {target.host_keys!r}")
    check = HostKeyCheck(target, load_known_hosts(target))
    opts = _options(target, check)
    jump = await connect(_jump_target(target)) if target.proxy_jump else None
    try:
        conn, _ = await asyncssh.create_connection(lambda: _Client(check), target.host, tunnel=jump, **opts)
    except (TimeoutError, OSError, asyncssh.Error, ValueError) as e:
        if jump is not None:
            jump.close()
        raise TransportError(target.name, _error_message(target, check, e)) from None
    if jump is not None:
        task = asyncio.get_running_loop().create_task(_close_after(conn, jump))
        _jump_closers.add(task)  # held: the loop keeps only weak references to tasks
        task.add_done_callback(_jump_closers.discard)
    return conn


_jump_closers: set[asyncio.Task[None]] = set()


async def _close_after(conn: asyncssh.SSHClientConnection, jump: asyncssh.SSHClientConnection) -> None:
    await conn.wait_closed()
    jump.close()


# ---- commands --------------------------------------------------------------------------------

def _peer(conn: asyncssh.SSHClientConnection) -> str:
    peer = conn.get_extra_info("peername") or ("?", 0)
    return f"{peer[0]}:{peer[1]}"


async def run(conn: asyncssh.SSHClientConnection, command: str, timeout: float,
              *, node: str | None = None) -> CommandResult:
    """Run one command on its own channel (within the connection's channel budget)."""
    name = node or _peer(conn)
    try:
        async with channel_slot(conn):
            result = await _run_closed(conn, command, timeout)
    except asyncssh.TimeoutError:
        raise TransportError(name, f"command timed out after {timeout:g} s") from None
    except asyncssh.ChannelOpenError as e:
        raise TransportError(name, f"cannot open a channel (sshd MaxSessions?): {e.reason}") from None
    except (asyncssh.Error, OSError) as e:
        raise TransportError(name, f"command failed: connection lost ({e})") from None
    return CommandResult(result.returncode, _text(result.stdout), _text(result.stderr))


async def open_process(conn: asyncssh.SSHClientConnection, command: str,
                       **kw: Any) -> asyncssh.SSHClientProcess[Any]:
    """conn.create_process, retried briefly when sshd refuses the channel.

    asyncssh hands a closed channel back before sshd has processed its close, so sshd can still
    count a just-finished session against MaxSessions for a few milliseconds.
    """
    for delay in OPEN_RETRIES:
        try:
            return await conn.create_process(command, **kw)
        except asyncssh.ChannelOpenError:
            await asyncio.sleep(delay)
    return await conn.create_process(command, **kw)


async def _run_closed(conn: asyncssh.SSHClientConnection, command: str,
                      timeout: float) -> asyncssh.SSHCompletedProcess:
    # the slot is given back only once the channel is closed on both sides (and on timeout the
    # channel is closed, not left running)
    proc = await open_process(conn, command)
    try:
        return await proc.wait(check=False, timeout=timeout)
    except asyncssh.TimeoutError:
        proc.send_signal("TERM")  # sshd would keep the channel until the command ends
        raise
    finally:
        proc.close()
        try:
            async with asyncio.timeout(CLOSE_WAIT):
                await proc.wait_closed()
        except TimeoutError:
            pass


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
