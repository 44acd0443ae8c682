"""BOINC tasks across the fleet, over each node's existing SSH connection (UI-free).

roost talks BOINC's GUI RPC to the client on the node through an SSH direct-tcpip channel
(``conn.open_connection(host, port)``, what ``ssh -L`` does), so the client keeps its default
"local connections only" setting and nothing new listens on the network.

The password (gui_rpc_auth.cfg) comes from, first found:
  1. ``password_env``: the name of an environment variable of the roost process;
  2. ``password_file``: a local file that only its owner may read (mode 0600 or stricter);
  3. ``auth_file``: the client's own gui_rpc_auth.cfg on the node, read over SSH (``cat``); the
     login user needs read access (Debian: add it to group ``boinc``).
It is never put in argv, messages or logs. Listing works without it (the client answers
read-only requests from local connections); suspend/resume/abort need it.

Config, all optional (per-node tables override the [jobs.boinc] values)::

    [jobs.boinc]
    port = 31416                      # the GUI RPC port as the node sees it
    host = "127.0.0.1"
    auth_file = ["/var/lib/boinc-client/gui_rpc_auth.cfg", "/etc/boinc-client/gui_rpc_auth.cfg"]
    password_file = "~/.config/roost/boinc.pw"
    password_env = "BOINC_PW"
    timeout = 10.0
    [jobs.boinc.nodes.n3]
    port = 31417
"""
from __future__ import annotations

import asyncio
import os
import shlex
import stat
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import asyncssh

from collectors.model import NodeTarget
from collectors.transport import TransportError, channel_slot, run
from console.errors import RoostError
from console.jobs import boinc_rpc as rpc
from console.jobs.boinc_rpc import BoincRpcError, BoincTask

DEFAULT_AUTH_FILES = ("/var/lib/boinc-client/gui_rpc_auth.cfg", "/etc/boinc-client/gui_rpc_auth.cfg")
MAX_REPLY = 64 << 20          # a client with thousands of tasks answers a few MB; cap the buffer


class BoincError(RoostError):
    """One node's BOINC failure as one line: "n3: what went wrong"."""

    def __init__(self, node: str, message: str):
        super().__init__(f"{node}: {message}")
        self.node = node
        self.message = message


class BoincConfigError(RoostError, ValueError):
    """A bad [jobs.boinc] value; str() names the key path ("jobs.boinc.port: expected ...")."""

    def __init__(self, message: str, keypath: tuple[str, ...] | None = None):
        self.message, self.keypath = message, keypath or ()
        where = ".".join(("jobs", "boinc") + self.keypath)
        super().__init__(message if keypath is None else f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class BoincSettings:
    host: str = "127.0.0.1"
    port: int = 31416
    auth_files: tuple[str, ...] = DEFAULT_AUTH_FILES
    password_file: str | None = None
    password_env: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class BoincView:
    """Tasks of every node that answered; notes say why a node shows none (no client, auth ...)."""
    tasks: tuple[BoincTask, ...] = ()
    notes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


# ---- settings --------------------------------------------------------------------------------

_KEYS: dict[str, type | tuple[type, ...]] = {"host": str, "port": int, "auth_file": (str, list), "password_file": str,
         "password_env": str, "timeout": (int, float), "nodes": Mapping}


def settings_for(boinc: Mapping[str, Any], node: str) -> BoincSettings:
    """[jobs.boinc] (config.jobs.boinc) with [jobs.boinc.nodes.NODE] on top; BoincConfigError
    names a bad key."""
    check_settings_table(boinc)
    node_table = dict(boinc.get("nodes", {})).get(node, {})
    return _apply(_apply(BoincSettings(), boinc), node_table)


def check_settings_table(table: Mapping[str, Any]) -> None:
    """The whole [jobs.boinc] table, per-node tables included (config load calls this)."""
    _check(table, ())
    for node, node_table in dict(table.get("nodes", {})).items():
        _check(node_table, ("nodes", node))


def _check(table: object, path: tuple[str, ...]) -> None:
    if not isinstance(table, Mapping):
        raise BoincConfigError(f"expected a table, got {type(table).__name__}", path)
    for key, value in table.items():
        want = _KEYS.get(key)
        if want is None:
            raise BoincConfigError(f"unknown key (expected one of: {', '.join(_KEYS)})",
                                   path + (key,))
        if not isinstance(value, want) or isinstance(value, bool):
            raise BoincConfigError(f"expected {_type_text(want)}, got {value!r}", path + (key,))
    port = table.get("port", 1)
    if not 0 < port < 65536:
        raise BoincConfigError(f"expected a port 1-65535, got {port}", path + ("port",))


def _type_text(want: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "a list", Mapping: "a table"}
    return " or ".join(names[t] for t in (want if isinstance(want, tuple) else (want,)))


def _apply(base: BoincSettings, table: Mapping[str, Any]) -> BoincSettings:
    values = {k: v for k, v in table.items() if k in ("host", "port", "password_env")}
    if "auth_file" in table:
        files = table["auth_file"]
        values["auth_files"] = (files,) if isinstance(files, str) else tuple(map(str, files))
    if "password_file" in table:
        values["password_file"] = os.path.expanduser(table["password_file"])
    if "timeout" in table:
        values["timeout"] = float(table["timeout"])
    return replace(base, **values)


# ---- password --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Password:
    value: str | None            # None: none found (why says so)
    source: str                  # where it came from, for messages (never the value)


def local_password(settings: BoincSettings) -> Password | None:
    """From password_env or password_file; None when neither is configured."""
    if settings.password_env:
        value = os.environ.get(settings.password_env)
        if value is None:
            return Password(None, f"environment variable {settings.password_env} is not set")
        return Password(value.strip(), f"${settings.password_env}")
    if settings.password_file:
        return Password(_read_private(settings.password_file), settings.password_file)
    return None


def _read_private(path: str) -> str:
    try:
        info = os.stat(path)
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise BoincConfigError(f"password_file {path}: readable by others "
                                   f"(mode {stat.S_IMODE(info.st_mode):o}); chmod 600 it")
        return Path(path).read_text().strip()
    except OSError as exc:
        raise BoincConfigError(f"password_file {path}: {exc.strerror}") from None


async def remote_password(conn: asyncssh.SSHClientConnection, node: str,
                          settings: BoincSettings) -> Password:
    """The first readable auth file on the node; its content travels only on the SSH channel."""
    why: list[str] = []
    for path in settings.auth_files:
        result = await run(conn, f"cat -- {shlex.quote(path)}", settings.timeout, node=node)
        if result.exit_status == 0:
            return Password(result.stdout.strip(), f"{node}:{path}")
        reason = result.stderr.strip().rsplit(": ", 1)[-1] or f"exit {result.exit_status}"
        why.append(f"{path} ({reason})")
    return Password(None, "cannot read " + ", ".join(why))


async def find_password(conn: asyncssh.SSHClientConnection, node: str,
                        settings: BoincSettings) -> Password:
    return local_password(settings) or await remote_password(conn, node, settings)


# ---- one client ------------------------------------------------------------------------------

class BoincClient:
    """A GUI RPC session on one direct-tcpip channel. Requests are sequential (one at a time)."""

    def __init__(self, node: str, reader: asyncssh.SSHReader[bytes],
                 writer: asyncssh.SSHWriter[bytes], timeout: float):
        self.node, self.reader, self.writer, self.timeout = node, reader, writer, timeout

    async def call(self, body: str) -> str:
        try:
            self.writer.write(rpc.frame(body))
            raw = await asyncio.wait_for(self.reader.readuntil(rpc.END), self.timeout)
        except TimeoutError:
            raise BoincError(self.node, f"BOINC client did not answer within {self.timeout:g} s") from None
        except (asyncio.IncompleteReadError, asyncssh.Error, OSError) as exc:
            raise BoincError(self.node, f"BOINC client closed the connection ({_why(exc)})") from None
        try:
            return rpc.reply_body(raw)
        except BoincRpcError as exc:
            raise BoincError(self.node, str(exc)) from None

    async def authorize(self, password: Password) -> None:
        try:
            nonce = rpc.parse_nonce(await self.call("<auth1/>"))
        except BoincRpcError as exc:
            raise BoincError(self.node, f"GUI RPC auth1 failed: {exc}") from None
        if not rpc.parse_authorized(await self.call(rpc.auth2_body(nonce, password.value or ""))):
            raise BoincError(self.node, f"BOINC client refused the GUI RPC password "
                                        f"(from {password.source})")

    async def tasks(self) -> list[BoincTask]:
        projects = rpc.parse_projects(await self.call("<get_project_status/>"))
        return rpc.parse_results(await self.call("<get_results/>"), self.node, projects)

    async def control(self, op: str, project_url: str, name: str) -> None:
        try:
            rpc.parse_success(await self.call(rpc.op_body(op, project_url, name)))
        except BoincRpcError as exc:
            raise BoincError(self.node, f"BOINC refused to {op} task {name!r}: {exc}") from None


def _why(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or str(exc) or type(exc).__name__


@asynccontextmanager
async def open_client(conn: asyncssh.SSHClientConnection, node: str, settings: BoincSettings,
                      password: Password | None = None) -> AsyncIterator[BoincClient]:
    """A client on a new channel of conn, authorized when a password is given."""
    where = f"{settings.host}:{settings.port}"
    async with channel_slot(conn):
        try:
            reader, writer = await asyncio.wait_for(
                conn.open_connection(settings.host, settings.port), settings.timeout)
        except asyncssh.ChannelOpenError as exc:
            raise BoincError(node, f"no BOINC client at {where} ({exc.reason})") from None
        except TimeoutError:
            raise BoincError(node, f"no answer from {where} within {settings.timeout:g} s") from None
        except (asyncssh.Error, OSError) as exc:
            raise BoincError(node, f"cannot reach {where}: {_why(exc)}") from None
        try:
            client = BoincClient(node, reader, writer, settings.timeout)
            if password is not None and password.value is not None:
                await client.authorize(password)
            yield client
        finally:
            writer.close()


# ---- the fleet -------------------------------------------------------------------------------

Settings = BoincSettings | Mapping[str, BoincSettings]


def _settings(settings: Settings | None, node: str) -> BoincSettings:
    if settings is None:
        return BoincSettings()
    return settings if isinstance(settings, BoincSettings) else settings.get(node, BoincSettings())


async def node_tasks(conn: asyncssh.SSHClientConnection, node: str,
                     settings: BoincSettings) -> list[BoincTask]:
    password = local_password(settings)   # a configured wrong password is an error, even here
    async with open_client(conn, node, settings, password) as client:
        return await client.tasks()


async def boinc_tasks(conns: Mapping[str, asyncssh.SSHClientConnection | None],
                      settings: Settings | None = None) -> BoincView:
    """Every node's tasks, concurrently; a node that fails gets a note, the others still count.

    A node mapped to None (not connected) gets a note too.
    """
    nodes = list(conns)
    results = await asyncio.gather(*(_one_node(conns[n], n, _settings(settings, n)) for n in nodes),
                                   return_exceptions=True)
    results = [f"{type(r).__name__}: {r}" if isinstance(r, Exception) else r for r in results]
    tasks = [t for r in results if isinstance(r, list) for t in r]
    notes = {n: r for n, r in zip(nodes, results) if isinstance(r, str)}
    return BoincView(tuple(tasks), MappingProxyType(notes))


async def _one_node(conn: asyncssh.SSHClientConnection | None, node: str,
                    settings: BoincSettings) -> list[BoincTask] | str:
    if conn is None:
        return "not connected"
    try:
        return await node_tasks(conn, node, settings)
    except (BoincError, TransportError) as exc:
        return exc.message
    except BoincConfigError as exc:
        return str(exc)


async def boinc_control(conn: asyncssh.SSHClientConnection, node: str, op: str,
                        project_url: str, name: str, settings: BoincSettings | None = None) -> None:
    """Suspend, resume or abort one task (BoincError when the client refuses)."""
    settings = settings or BoincSettings()
    password = await find_password(conn, node, settings)
    try:
        async with open_client(conn, node, settings, password) as client:
            await client.control(op, project_url, name)
    except BoincError as exc:
        if password.value is None and "unauthorized" in exc.message:
            raise BoincError(node, f"{exc.message}; no GUI RPC password: {password.source} (let the "
                                   f"login user read it, e.g. group boinc, or set "
                                   f"jobs.boinc.password_file)") from None
        raise


async def suspend_task(conn: asyncssh.SSHClientConnection, node: str, project_url: str,
                       name: str, settings: BoincSettings | None = None) -> None:
    await boinc_control(conn, node, "suspend", project_url, name, settings)


async def resume_task(conn: asyncssh.SSHClientConnection, node: str, project_url: str,
                      name: str, settings: BoincSettings | None = None) -> None:
    await boinc_control(conn, node, "resume", project_url, name, settings)


async def abort_task(conn: asyncssh.SSHClientConnection, node: str, project_url: str,
                     name: str, settings: BoincSettings | None = None) -> None:
    await boinc_control(conn, node, "abort", project_url, name, settings)


# ---- the console's Fleet ---------------------------------------------------------------------

@runtime_checkable
class BoincFleet(Protocol):
    """A running fleet whose connections BOINC calls reuse (collectors.fleet.Fleet)."""

    @property
    def targets(self) -> Mapping[str, NodeTarget]: ...

    def connection(self, node: str) -> asyncssh.SSHClientConnection | None: ...


def fleet_settings(boinc: Mapping[str, Any], nodes: Iterable[str]) -> dict[str, BoincSettings]:
    """Per-node settings from config.jobs.boinc (BoincConfigError names a bad key)."""
    return {node: settings_for(boinc, node) for node in nodes}


async def fleet_tasks(fleet: BoincFleet,
                      boinc: Mapping[str, Any] = MappingProxyType({})) -> BoincView:
    """boinc_tasks over a running collectors.fleet.Fleet, reusing its live connections
    (a node that is down right now gets the note "not connected")."""
    nodes = list(fleet.targets)
    conns = {node: fleet.connection(node) for node in nodes}
    return await boinc_tasks(conns, fleet_settings(boinc, nodes))


async def fleet_control(fleet: BoincFleet, node: str, op: str, project_url: str, name: str,
                        boinc: Mapping[str, Any] = MappingProxyType({})) -> None:
    conn = fleet.connection(node)
    if conn is None:
        raise BoincError(node, "not connected")
    await boinc_control(conn, node, op, project_url, name, settings_for(boinc, node))
