"""Host key verification as OpenSSH does it (sshconnect.c check_host_key), on asyncssh's matcher.

The name looked up in known_hosts is HostKeyAlias when ssh_config sets one (never with a port),
else the host the user gave, lowercased, as `[name]:port` when the port is not 22. When no entry
names `[name]:port`, entries for the bare name still count (OpenSSH's "checking without port
identifier"). Hashed entries (`|1|salt|hash`, as `ssh-keyscan -H` and HashKnownHosts write them)
match because asyncssh hashes the same strings; plain entries match ignoring case, as in OpenSSH.

The resolved address (what the socket connected to) is looked up too, as `[addr]:port`. With
CheckHostIP (ssh_config; OpenSSH's default is no since 8.5) an address entry holding a different
key of the same type refuses the connection (possible DNS spoofing), and accept-new records the
address beside the name. Without it the address only improves the messages. An entry for the
address alone never makes a key trusted for a name: `ssh -o StrictHostKeyChecking=yes NAME`
refuses that too.

The offered key ends in one of: trusted (asyncssh saw it among the returned keys), "revoked"
(@revoked), "changed" (the name holds another key of its type), "address" (CheckHostIP conflict)
or "new" (nothing known: strict refuses, accept-new records it under the name).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from pathlib import Path

import asyncssh
from asyncssh import SSHKey

from collectors.model import NodeTarget

# asyncssh's known_hosts answer: (trusted host keys, trusted CA keys, revoked keys)
KeyLists = tuple[Sequence[SSHKey], Sequence[SSHKey], Sequence[SSHKey]]


def host_pattern(host: str, port: int) -> str:
    """How known_hosts names host:port (OpenSSH's put_host_port)."""
    return host if port == 22 else f"[{host}]:{port}"


def lookup_name(target: NodeTarget) -> str:
    """The known_hosts name of a target: HostKeyAlias as given, else [host]:port, lowercased."""
    if target.host_key_alias:
        return target.host_key_alias.lower()
    return host_pattern(target.host.lower(), target.port)


def fold_case(text: str) -> str:
    """known_hosts text with plain host patterns lowercased: OpenSSH compares them ignoring case
    (asyncssh does not). Hashed patterns, keys and comments are left as they are."""
    return "\n".join(_fold_line(line) for line in text.split("\n"))


def _fold_line(line: str) -> str:
    fields = line.split(None, 2) if line.lstrip().startswith("@") else line.split(None, 1)
    at = 1 if len(fields) == 3 else 0
    if len(fields) < 2 or line.lstrip().startswith("#") or fields[at].startswith("|"):
        return line
    start = line.index(fields[at], len(fields[0]) if at else 0)
    return line[:start] + fields[at].lower() + line[start + len(fields[at]):]


def hashed(name: str, salt: bytes | None = None) -> str:
    """`|1|salt|hash` as HashKnownHosts writes it: HMAC-SHA1 of the name keyed by a random salt."""
    salt = salt or os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def record_host_key(store: str, names: list[str], key: asyncssh.SSHKey, hash_names: bool) -> None:
    """Append key for names to roost's accept-new store (one line, or one per name if hashed)."""
    public = key.export_public_key().decode().strip()
    lines = [f"{hashed(n)} {public}\n" for n in names] if hash_names else [f"{','.join(names)} {public}\n"]
    Path(store).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(store, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a") as f:  # one small append: atomic enough between concurrent writers
        f.write("".join(lines))


class HostKeyCheck:
    """One connection attempt's verdict on the server's host key.

    Give `match` to asyncssh as known_hosts (it calls it with the resolved address once the
    socket is connected) and call `judge` from SSHClient.validate_host_public_key, which asyncssh
    calls only for a key that `match` did not return as trusted.
    """

    def __init__(self, target: NodeTarget, known: asyncssh.SSHKnownHosts):
        self.target, self.known = target, known
        self.name = lookup_name(target)
        self.addr = ""
        self.name_keys: list[asyncssh.SSHKey] = []
        self.addr_keys: list[asyncssh.SSHKey] = []
        self.status: str | None = None       # why the offered key was refused (None: not judged)
        self.offered: asyncssh.SSHKey | None = None
        self.recorded: list[str] = []        # names written to the accept-new store

    @property
    def addr_name(self) -> str:
        return host_pattern(self.addr, self.target.port) if self.addr else ""

    @property
    def check_ip(self) -> bool:
        # OpenSSH skips the address check through a proxy and when the name is the address
        t = self.target
        return t.check_host_ip and bool(self.addr) and not t.proxy_jump and self.addr_name != self.name

    def match(self, _host: str, addr: str, _port: int | None) -> tuple[list[SSHKey], list[SSHKey], list[SSHKey]]:
        """asyncssh's known_hosts callable: (trusted keys, CA keys, revoked keys)."""
        self.addr = addr or ""
        by_name = self._lookup(self.name)
        if not (by_name[0] or by_name[1]) and not self.target.host_key_alias and self.target.port != 22:
            by_name = self._lookup(self.target.host.lower())
        # the address costs a second pass over hashed entries (an HMAC each): only when it decides
        by_addr = self._lookup(self.addr_name) if self.check_ip else ([], [], [])
        self.name_keys, self.addr_keys = list(by_name[0]), list(by_addr[0])
        trusted = [k for k in self.name_keys if not self._address_conflict(k)]
        return trusted, list(by_name[1]), list(by_name[2]) + list(by_addr[2])

    def _lookup(self, name: str) -> KeyLists:
        # the port is already in `name`, so asyncssh adds none and drops none
        return self.known.match(name, "", None)[:3]

    def _address_conflict(self, key: asyncssh.SSHKey) -> bool:
        """CheckHostIP: the address holds a key of this type, but not this one."""
        return self.check_ip and key not in self.addr_keys and not self._addr_new(key)

    def judge(self, key: asyncssh.SSHKey) -> bool:
        """A key `match` did not trust: refuse it, or record it in accept-new mode."""
        self.offered = key
        self.status = self._status(key)
        t = self.target
        if self.status != "new" or t.host_keys != "accept-new" or not t.accept_new_store:
            return False
        self.recorded = [self.name] + ([self.addr_name] if self.check_ip and self._addr_new(key) else [])
        record_host_key(t.accept_new_store, self.recorded, key, t.hash_known_hosts)
        return True

    def _status(self, key: asyncssh.SSHKey) -> str:
        if key in self.name_keys:
            return "address"        # trusted by name, refused by CheckHostIP
        if any(k.algorithm == key.algorithm for k in self.name_keys):
            return "changed"
        return "address" if self._address_conflict(key) else "new"

    def _addr_new(self, key: asyncssh.SSHKey) -> bool:
        return not any(k.algorithm == key.algorithm for k in self.addr_keys)

    def address_lists_offered_key(self) -> bool:
        """For the message only: is the offered key recorded under the address alone?"""
        if self.offered is None or not self.addr or self.addr_name == self.name:
            return False
        return self.offered in self._lookup(self.addr_name)[0]


# ---- saying why: one line naming the key, the files searched and the fix ---------------------

def refusal(check: HostKeyCheck, files: list[str], exc: Exception) -> str:
    """Why the key was refused, for a TransportError (files: the known_hosts files searched)."""
    name = check.name + (f" (HostKeyAlias of {check.target.host})" if check.target.host_key_alias else "")
    offered = check.offered.get_fingerprint() if check.offered else "unknown"
    if check.status == "changed":
        return (f"host key CHANGED for {name} (server offers {offered}; known_hosts: "
                f"{files_text(files)}); refusing: possible man-in-the-middle, or a reinstalled "
                f"node whose old key must be removed (ssh-keygen -R '{check.name}')")
    if check.status == "address":
        return (f"host key for {name} differs from the one known_hosts holds for its address "
                f"{check.addr_name} (CheckHostIP; known_hosts: {files_text(files)}); refusing: "
                f"possible DNS spoofing, or the address now belongs to another node")
    if check.status == "new":
        return _unknown(check, name, offered, files)
    if "revoked" in str(exc).lower():
        return f"host key for {name} is marked @revoked in known_hosts ({files_text(files)}); refusing"
    return f"host key not verifiable for {name}: {exc}"


def _unknown(check: HostKeyCheck, name: str, offered: str, files: list[str]) -> str:
    at = f" at {check.addr_name}" if check.addr_name and check.addr_name != check.name else ""
    listed = (f"; {check.addr_name} is listed with this key, but OpenSSH matches the name: add "
              f"{check.name} to that line" if check.address_lists_offered_key() else "")
    return (f"host key not in known_hosts ({files_text(files)}) for {name}{at}; server offers "
            f"{offered}{listed}; {_keyscan_hint(check.target, files)}")


def _keyscan_hint(target: NodeTarget, files: list[str]) -> str:
    dest = files[0] if files else str(Path("~/.ssh/known_hosts").expanduser())
    folder = os.path.dirname(dest)
    mkdir = "" if os.path.isdir(folder) else f"mkdir -m 700 -p {shown(folder)} && "
    port = f" -p {target.port}" if target.port != 22 else ""
    if target.host_key_alias:  # ssh-keyscan names the host it scanned: rename to the alias
        scan = f"ssh-keyscan{port} {target.host} | sed 's/^[^ ]*/{target.host_key_alias.lower()}/'"
    else:
        scan = f"ssh-keyscan -H{port} {target.host}"
    return (f"to trust it, check that fingerprint and run `{mkdir}{scan} >> {shown(dest)}`, or "
            f'set known_hosts = "FILE" or host_keys = "accept-new" in roost.toml')


def files_text(files: list[str]) -> str:
    """The known_hosts files searched: those present, then those missing."""
    present = [shown(f) for f in files if os.path.isfile(f)]
    missing = [shown(f) for f in files if not os.path.isfile(f)]
    if not files:
        return "no known_hosts file configured"
    if not present:
        return f"none of {', '.join(missing)} exists"
    return ", ".join(present) + (f"; missing: {', '.join(missing)}" if missing else "")


def shown(path: str) -> str:
    """path with the home directory written as ~ (messages stay short and copy-pasteable)."""
    home = str(Path.home())
    return "~" + path[len(home):] if home != "/" and path.startswith(home + "/") else path
