"""One typed, frozen Config loaded once from roost.toml (+ Ansible inventory, + ~/.ssh/config).

Where things come from:
- roost.toml: --config / ROOST_CONFIG, else ./roost.toml, else the XDG config dir (roost.toml).
  None anywhere is fine: an empty Config (the CLI then offers `roost demo`).
- Ansible inventory (--inventory / ROOST_INVENTORY): its hosts become nodes before roost.toml's;
  a [[nodes]] entry naming the same host overrides the values it sets.
- ssh_config (--ssh-config / ROOST_SSH_CONFIG, else ~/.ssh/config when present).

Per node, a connection setting comes from the first of: the node's own roost.toml/inventory value,
ssh_config for the node's name, roost.toml [defaults], the built-in default. known_hosts files
named in roost.toml replace the default set (OpenSSH's: ssh_config's UserKnownHostsFile, else
~/.ssh/known_hosts and known_hosts2, then GlobalKnownHostsFile, else /etc/ssh/ssh_known_hosts
and ssh_known_hosts2); accept-new adds roost's own STATE_DIR/known_hosts store. HostKeyAlias,
CheckHostIP and HashKnownHosts come from ssh_config.

Every mistake is a ConfigError whose text is one line: "FILE:LINE: key.path: expected X, got Y".
Every number is checked (finite, in a sane range, within 64 bits) and every hostlist is counted
before it is expanded (console.hostlist; at most [defaults] max_hostlist names, and at most that
many nodes in all), so no config can hang or exhaust the controller.
"""
from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from console import hostlist, paths
from console.errors import RoostError
from console.hostlist import HostlistError
from console.userfile import MiB, UserFileError, read_text

if TYPE_CHECKING:
    from collectors.model import NodeTarget
    from console.sshconfig import SshConfig, SshHost

# collectors.model, console.inventory (yaml) and console.sshconfig (asyncssh) are imported where
# they are used: `bsub` and `roost submit` read roost.toml and nothing else (a loop of a thousand
# bsub lines pays every import a thousand times)

MAX_CONFIG_BYTES = MiB // 2   # tomllib reads dense arrays at ~0.4 MB/s; 1,000 nodes take ~0.1 MB
MAX_DEPTH = 8                 # tables in tables: roost's deepest key is nodes[i].power.x.y

EMPTY: Mapping[str, Any] = MappingProxyType({})


class ConfigError(RoostError):
    """A config mistake; str() is exactly one line naming the file, line and key path."""


@dataclass(frozen=True, slots=True)
class Defaults:
    user: str | None = None
    port: int = 22
    interval: float = 1.0
    identity: tuple[str, ...] = ()
    host_keys: str = "strict"
    known_hosts: tuple[str, ...] = ()
    connect_timeout: float = 10.0
    max_hostlist: int = hostlist.DEFAULT_LIMIT   # names one hostlist (and the config) may hold


@dataclass(frozen=True, slots=True)
class Thresholds:
    """[thresholds]: the one set of levels behind FleetState's alerts and the cells' colours."""
    temp_warn: float = 70.0
    temp_crit: float = 80.0
    cpu_warn: float = 70.0        # percent busy
    cpu_crit: float = 90.0
    load_warn: float = 1.0        # load1 per core above this: more runnable work than cores
    mem_warn: float = 85.0        # percent used
    mem_crit: float = 95.0
    stale_after: float = 5.0      # seconds without a sample before a node shows stale
    disk_warn: float = 90.0       # percent of a writable filesystem used
    disk_crit: float = 97.0
    io_error_hold: float = 600.0  # seconds a disk I/O error alert stays after the last new error

    # ok below warn, warn from warn, crit from crit; no value is ok (written out: once per row)
    def temp_level(self, celsius: float | None) -> str:
        if celsius is None or celsius < self.temp_warn:
            return "ok"
        return "crit" if celsius >= self.temp_crit else "warn"

    def cpu_level(self, percent: float | None) -> str:
        if percent is None or percent < self.cpu_warn:
            return "ok"
        return "crit" if percent >= self.cpu_crit else "warn"

    def mem_level(self, percent: float | None) -> str:
        if percent is None or percent < self.mem_warn:
            return "ok"
        return "crit" if percent >= self.mem_crit else "warn"

    def disk_level(self, percent: float | None) -> str:
        if percent is None or percent < self.disk_warn:
            return "ok"
        return "crit" if percent >= self.disk_crit else "warn"

    def load_level(self, load1: float | None, cores: int | None) -> str:
        if load1 is None or not cores:
            return "ok"
        return "warn" if load1 / cores > self.load_warn else "ok"


@dataclass(frozen=True, slots=True)
class PowerConfig:
    """[power]: how the safe sequences pace themselves (`roost power` flags override these)."""
    stagger: float = 1.0              # seconds between power-ons (limits inrush current)
    boot_timeout: float = 180.0       # how long `on` waits for SSH
    shutdown_timeout: float = 120.0   # how long `off` waits for the OS to stop answering
    grace: float = 5.0                # after SSH stops answering, let the OS finish halting
    status_every: float = 30.0        # seconds between the console's power read-backs


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """[history]: how long the history database keeps what (durations in seconds; None: forever).

    Every sample for keep_raw, then one point per rollup (gauges averaged, counters their last
    value) for keep_rollup, then nothing: a Pi's SD card holds a day plus a month of minutes.
    """
    keep_raw: float | None = 86400.0
    rollup: float = 60.0
    keep_rollup: float | None = 30 * 86400.0

    def retention(self, keep_raw: float | None = None):
        """The sink's Retention; keep_raw (e.g. `roost collect --retention S`) overrides."""
        from collectors.sinks.sqlite import Retention
        return Retention(keep_raw if keep_raw is not None else self.keep_raw, self.rollup,
                         self.keep_rollup)


@dataclass(frozen=True, slots=True)
class JobsConfig:
    """[jobs]: which backend schedules, and the built-in scheduler's knobs (checked at load)."""
    backend: str = "builtin"          # builtin | slurm | ray (the [ray] head's job API)
    controller: str | None = None     # backend = "slurm": the node that runs sbatch/squeue ...
    slurm_conf: str | None = None     # backend = "slurm": SLURM_CONF for those commands
    squeue_json: bool = True          # backend = "slurm": false never tries `squeue --json`
    cores: Mapping[str, int] = field(default_factory=lambda: EMPTY)  # node -> cores override
    use_load: bool = True             # live load not caused by roost counts as busy cores
    grace: float = 5.0                # TERM -> KILL, seconds
    node_fail_after: float = 30.0     # seconds unreachable before its tasks are NODE_FAIL
    poll_every: float = 2.0           # safety poll of running tasks, seconds
    load_every: float = 5.0           # load refresh, seconds
    workdir: str | None = None        # the submit form's working directory (else your home)
    limits: str = "auto"              # auto: pin cores, hold --mem where a node can | off
    history_days: float = 30.0        # finished jobs kept for `roost acct` (0: forever)
    max_links: int = 64               # on the Prometheus source: scheduler links held at most
    link_idle: float = 30.0           # ... and parked after this many seconds without a task
    probe_timeout: float = 3.0        # ... a link's probe (node reported down) answers within
    probe_every: float = 5.0          # ... and is repeated while the report stays down
    trust_measure: float = 300.0      # ... a parked link's fuller measure beats an unchanged report
    boinc: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # [jobs.boinc]

    @property
    def uses_slurm(self) -> bool:
        return self.backend == "slurm"

    @property
    def uses_ray(self) -> bool:
        return self.backend == "ray"


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """[source]: where the console reads the fleet from. prometheus set: PromQL (a bounded set of
    queries per tick), SSH only on demand; unset: one SSH stream per node. Secrets are named
    here (an environment variable or a 0600 file), read only when the source opens."""
    prometheus: str | None = None     # http(s)://host:port[/prefix] of the Prometheus API
    selector: str = ""                # label matchers every query carries, e.g. job="node"
    node_label: str = "instance"      # the target label that names a node
    strip_port: bool = True           # "10.0.0.5:9100" -> "10.0.0.5" (then matched to a node)
    interval: float = 5.0             # seconds between ticks (queries never overlap)
    budget: float | None = None       # seconds a tick's queries may take (default 0.8 x interval)
    scrape_interval: float = 15.0     # Prometheus' scrape interval: rate() windows are 4x it
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    user: str | None = None           # basic auth (with password_env or password_file)
    password_env: str | None = None
    password_file: str | None = None
    ca_file: str | None = None        # TLS: verify the server against this CA bundle
    insecure: bool = False            # TLS: do not verify the server (say so loudly)
    ssh_cap: int = 32                 # on-demand SSH connections held at most
    ssh_idle: float = 60.0            # seconds an unused on-demand connection stays open
    timeout: float | None = None      # seconds a query may run in all (default 3 x interval)
    parallel: int = 3                 # queries in flight at once (`up` first)
    # [source.queries]: a family's PromQL replaced, e.g. by a recording rule's series
    queries: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    where: str = ""                   # "FILE:LINE" of the [source] table

    @property
    def query_budget(self) -> float:
        return self.budget if self.budget is not None else 0.8 * self.interval

    @property
    def rate_window(self) -> float:
        return 4.0 * self.scrape_interval


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """[serve]: what `roost serve` collects (a shard of a large fleet) and where it listens."""
    nodes: str | None = None          # hostlist/@groups; the command line's NODESET wins
    listen: tuple[str, int] | None = None   # HOST:PORT of the Prometheus endpoint
    history: bool = True              # false: no SQLite history (a shard Prometheus scrapes)
    # a node target's collectors by node_exporter's names: only these (None: all), less the
    # disabled (its --collector.NAME / --no-collector.NAME)
    collectors: tuple[str, ...] | None = None
    disable_collectors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node as configured; None means "not set here" so lower sources can fill it."""
    name: str
    index: int
    host: str | None = None
    port: int | None = None
    user: str | None = None
    identity: tuple[str, ...] = ()
    known_hosts: tuple[str, ...] = ()
    host_keys: str | None = None
    interval: float | None = None
    groups: tuple[str, ...] = ()
    role: str | None = None
    procfs: str = "/proc"
    sysfs: str = "/sys"
    local: bool = False
    proxy_jump: str | None = None
    power: Mapping[str, Any] | None = None
    where: str = ""               # "FILE:LINE" of the entry that defined it


@dataclass(frozen=True, slots=True)
class Config:
    nodes: tuple[NodeSpec, ...] = ()
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: EMPTY)
    defaults: Defaults = Defaults()
    thresholds: Thresholds = Thresholds()
    power: PowerConfig = PowerConfig()
    keymap: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    theme: str | None = None
    jobs: JobsConfig = JobsConfig()
    history: HistoryConfig = HistoryConfig()
    cluster: str | None = None     # names the job queue (default: derived from the config path)
    ray: RayConfig = field(default_factory=lambda: RayConfig())
    source: SourceConfig = SourceConfig()
    serve: ServeConfig = ServeConfig()
    sources: tuple[Path, ...] = ()
    ssh: SshConfig | None = None
    state_dir: Path = field(default_factory=lambda: paths.state_dir())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise ConfigError(f"unknown node {show(name)}")

    def select(self, names: str | None = None, exclude: str | None = None) -> list[NodeSpec]:
        """The nodes named by a NodeSet expression over node names and @groups (None, "all" or
        "@all": every node), less those named by exclude (clush's -x)."""
        wanted = self._named(names)
        if exclude is not None and exclude.strip():
            wanted -= self._named(exclude)
        return [spec for spec in self.nodes if spec.name in wanted]

    def _named(self, expr: str | None) -> set[str]:
        if expr is None or not expr.strip() or (expr.strip() == "all" and "all" not in self.names):
            return set(self.names)
        # @all is every node unless the config defines a group of that name
        groups = {"all": self.names, **self.groups}
        return set(_expand(expr, groups, set(self.names), limit=self.defaults.max_hostlist))

    def targets(self, names: str | None = None) -> list[NodeTarget]:
        return [self.target(spec) for spec in self.select(names)]

    def target(self, spec: NodeSpec) -> NodeTarget:
        from collectors.model import NodeTarget
        ssh = self._ssh_for(spec.name)
        d = self.defaults
        mode = spec.host_keys or d.host_keys
        return NodeTarget(
            name=spec.name, host=spec.host or ssh.hostname or _local_or_name(spec),
            port=spec.port or ssh.port or d.port,
            user=spec.user or ssh.user or d.user,
            identity_files=spec.identity or ssh.identity_files or d.identity,
            known_hosts=spec.known_hosts or d.known_hosts or _default_known_hosts(ssh),
            host_keys=mode,
            accept_new_store=str(paths.accept_new_store(self.state_dir)) if mode == "accept-new" else None,
            host_key_alias=ssh.host_key_alias, check_host_ip=bool(ssh.check_host_ip),
            hash_known_hosts=bool(ssh.hash_known_hosts),
            proxy_jump=spec.proxy_jump or ssh.proxy_jump, procfs=spec.procfs, sysfs=spec.sysfs,
            interval=spec.interval or d.interval, connect_timeout=d.connect_timeout,
            groups=spec.groups, role=spec.role, local=spec.local)

    def _ssh_for(self, name: str) -> SshHost:
        from console.sshconfig import SshConfigError, SshHost
        if self.ssh is None:
            return SshHost()
        try:
            return self.ssh.lookup(name)
        except SshConfigError as exc:
            raise ConfigError(str(exc)) from None


def _local_or_name(spec: NodeSpec) -> str:
    return "localhost" if spec.local else spec.name


USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")


def _default_known_hosts(ssh: SshHost) -> tuple[str, ...]:
    """OpenSSH's set: UserKnownHostsFile (else ~/.ssh/known_hosts{,2}), then the global files.

    Missing files are kept: they trust nothing, are read once they appear, and error messages
    name them as searched.
    """
    user = ssh.known_hosts or tuple(os.path.expanduser(f) for f in USER_KNOWN_HOSTS)
    return tuple(dict.fromkeys((*user, *(ssh.global_known_hosts or GLOBAL_KNOWN_HOSTS))))


def _expand(expr: str, groups: Mapping[str, Iterable[str]], known: set[str] | frozenset[str],
            where: str = "", limit: int = hostlist.DEFAULT_LIMIT) -> list[str]:
    """NodeSet expression -> names, counted before expanding; unknown groups and nodes are
    errors naming them."""
    used = {}
    for g in re.findall(r"@([^,!&^\s\[\]]+)", expr):
        if g not in groups:
            known_groups = ", ".join(list(groups)[:10]) + (" ..." if len(groups) > 10 else "")
            raise ConfigError(f"{where}unknown group @{show(g)[1:-1]} (known: {known_groups or 'none'})")
        used[g] = tuple(groups[g])
    try:
        names = hostlist.expand(expr, limit=limit, groups=used or None)
    except HostlistError as exc:
        raise ConfigError(f"{where}{exc}") from None
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"{where}unknown node {show(unknown[0])}"
                          + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    return names


# ---------------------------------------------------------------- checking values

class Bad(RoostError):
    """A value failed its check; keypath (relative) narrows where, message says what."""

    def __init__(self, message: str, keypath: tuple = ()):
        super().__init__(message)
        self.message, self.keypath = message, keypath


def show(value: Any, limit: int = 60) -> str:
    # repr keeps hostile text (newlines, escapes) on one line
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _type_name(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _got(value: Any) -> str:
    return f"{_type_name(value)} {show(value)}" if not isinstance(value, (dict, list)) else _type_name(value)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def format_path(keypath: tuple) -> str:
    out = ""
    for part in keypath:
        if not isinstance(part, int) and not _BARE_KEY.fullmatch(str(part)):
            part = show(str(part), 40)   # a hostile key stays on one line, quoted
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\$?")


def check_name(text: str, what: str, allow: str = "") -> str:
    pattern = _NAME if not allow else re.compile(r"[A-Za-z0-9_" + re.escape(allow) + r"][A-Za-z0-9._"
                                                + re.escape(allow) + r"-]*")
    if not isinstance(text, str) or len(text) > 253 or not pattern.fullmatch(text):
        raise Bad(f"expected a {what} of letters, digits, '.', '_' or '-', got {show(text)}")
    return text


def expand_template(text: str, subst: Mapping[str, str], what: str) -> str:
    # only these placeholders are replaced; other braces stay (power commands may use them)
    for key, value in subst.items():
        text = text.replace("{" + key + "}", value)
    return text


def _str(v):
    if not isinstance(v, str):
        raise Bad(f"expected a string, got {_got(v)}")
    return v


def _bool(v):
    if not isinstance(v, bool):
        raise Bad(f"expected true or false, got {_got(v)}")
    return v


def _number(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Bad(f"expected a number, got {_got(v)}")
    if not math.isfinite(v):
        raise Bad(f"expected a finite number, got {show(v)}")
    return float(v)


def _within(lo: float, hi: float, unit: str = ""):
    """A finite number in [lo, hi]: nan, inf and 1e-300 never reach a loop or a timer."""
    def check(v):
        if not lo <= _number(v) <= hi:
            raise Bad(f"expected a number {lo:g}-{hi:g}{unit}, got {show(v)}")
        return float(v)
    return check


def _positive(v):
    """Above 0 and finite (a bound of its own where the value's meaning gives one)."""
    if _number(v) <= 0:
        raise Bad(f"expected a number above 0, got {show(v)}")
    return float(v)


def _non_negative(v):
    if _number(v) < 0:
        raise Bad(f"expected a number of at least 0, got {show(v)}")
    return float(v)


def _int_within(lo: int, hi: int):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise Bad(f"expected an integer {lo}-{hi}, got {_got(v)}")
        return v
    return check


def _port(v):
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 65536:
        raise Bad(f"expected a port number 1-65535, got {_got(v)}")
    return v


def _user(v):
    if not isinstance(v, str) or not _USER.fullmatch(v):
        raise Bad(f"expected a user name, got {_got(v)}")
    return v


_JUMP = re.compile(r"([A-Za-z0-9_][A-Za-z0-9._-]*@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9._-]*)(:\d{1,5})?")


def _jump(v):
    if not isinstance(v, str) or not _JUMP.fullmatch(v):
        raise Bad(f"expected [user@]host[:port], got {_got(v)}")
    return v


def _choice(*options):
    def check(v):
        if v not in options:
            raise Bad(f"expected one of {', '.join(map(repr, options))}, got {_got(v)}")
        return v
    return check


def _str_list(v) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise Bad(f"expected a string or an array of strings, got {_got(v)}")
    return tuple(items)


def _paths(v) -> tuple[str, ...]:
    return tuple(os.path.expanduser(p) for p in _str_list(v))


def _collector_list(v) -> tuple[str, ...]:
    from collectors.sinks.prometheus import COLLECTORS  # only when [serve] names collectors
    names = _str_list(v)
    unknown = [n for n in names if n not in COLLECTORS]
    if unknown:
        raise Bad(f"unknown collector {show(unknown[0])} (roost serves: {', '.join(sorted(COLLECTORS))})")
    return names


def _group_list(v) -> tuple[str, ...]:
    return tuple(check_name(g, "group name") for g in _str_list(v))


def _abs_path(v):
    if not isinstance(v, str) or not v.startswith("/") or any(c in v for c in "\n\r\0"):
        raise Bad(f"expected an absolute path, got {_got(v)}")
    return v


def _table(v):
    if not isinstance(v, dict):
        raise Bad(f"expected a table, got {_got(v)}")
    return v


def _str_table(v):
    for key, value in _table(v).items():
        if not isinstance(value, str):
            raise Bad(f"expected a string, got {_got(value)}", (key,))
    return v


def _hostlists(v):
    for key, value in _table(v).items():
        try:
            check_name(key, "group name")
            _str(value)
        except Bad as bad:
            raise Bad(bad.message, (key,)) from None
    return v


def _tables(v):
    if not isinstance(v, list) or not all(isinstance(i, dict) for i in v):
        raise Bad(f"expected [[nodes]] tables, got {_got(v)}")
    return v


_interval = _within(0.01, 86400, " s")      # the sampler's own bounds (collectors.probe)
_temperature = _within(-50, 200, " °C")
_percent = _within(0, 100, " %")

TOP_SCHEMA = {"defaults": _table, "nodes": _tables, "groups": _hostlists, "thresholds": _table,
              "keymap": _str_table, "theme": _str, "jobs": _table, "power": _table,
              "history": _table,
              "cluster": lambda v: check_name(_str(v), "cluster name"), "ray": _table,
              "source": _table, "serve": _table}
DEFAULTS_SCHEMA = {"user": _user, "port": _port, "interval": _interval, "identity": _paths,
                   "host_keys": _choice("strict", "accept-new"), "known_hosts": _paths,
                   "connect_timeout": _within(0.1, 3600, " s"),
                   "max_hostlist": _int_within(*hostlist.LIMIT_RANGE)}
THRESHOLDS_SCHEMA = {"temp_warn": _temperature, "temp_crit": _temperature,
                     "cpu_warn": _percent, "cpu_crit": _percent,
                     "load_warn": _within(0, 1000), "mem_warn": _percent, "mem_crit": _percent,
                     "stale_after": _within(0.1, 86400, " s"), "disk_warn": _percent,
                     "disk_crit": _percent, "io_error_hold": _within(0, 86400 * 7, " s")}
POWER_SCHEMA = {"stagger": _within(0, 3600, " s"), "boot_timeout": _within(0.1, 86400, " s"),
                "shutdown_timeout": _within(0.1, 86400, " s"), "grace": _within(0, 3600, " s"),
                "status_every": _within(0.1, 86400, " s")}


def _duration(forever: bool = False, zero: bool = False):
    """Seconds, or a duration text like "90s", "1h30m", "30d" (and "forever" where allowed)."""
    def check(v):
        from console.history.since import parse_duration
        if forever and v == "forever":
            return None
        try:
            seconds = parse_duration(v) if isinstance(v, str) else _number(v)
        except ValueError:
            seconds = None
        if seconds is None or seconds < 0 or (seconds == 0 and not zero):
            size = "0 or more" if zero else "above 0"
            what = f'a duration like "1d" or "30m" (or seconds) {size}' + (
                ', or "forever"' if forever else "")
            raise Bad(f"expected {what}, got {_got(v)}")
        return float(seconds)
    return check


HISTORY_SCHEMA = {"keep_raw": _duration(forever=True), "rollup": _duration(),
                  "keep_rollup": _duration(forever=True, zero=True)}


def _core_counts(v):
    for node, cores in _table(v).items():
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise Bad(f"expected a whole number of cores >= 1, got {_got(cores)}", (node,))
    return v


def _boinc(v):
    from console.jobs.boinc import BoincConfigError, check_settings_table
    try:
        check_settings_table(_table(v))
    except BoincConfigError as exc:
        raise Bad(exc.message, exc.keypath) from None
    return v


JOBS_SCHEMA = {"backend": _choice("builtin", "slurm", "ray"), "controller": _str, "slurm_conf": _str,
               "squeue_json": _bool, "cores": _core_counts, "use_load": _bool,
               "grace": _positive, "node_fail_after": _positive, "poll_every": _positive,
               "load_every": _positive, "limits": _choice("auto", "off"),
               "history_days": _non_negative, "boinc": _boinc, "workdir": _str,
               "max_links": _int_within(1, 100_000), "link_idle": _positive,
               "probe_timeout": _positive, "probe_every": _positive,
               "trust_measure": _non_negative}
NODE_SCHEMA = {"names": _str, "host": _str, "port": _port, "user": _user, "identity": _paths,
               "known_hosts": _paths, "host_keys": _choice("strict", "accept-new"),
               "interval": _interval, "groups": _group_list, "role": _choice("controller", "worker"),
               "procfs": _abs_path, "sysfs": _abs_path, "local": _bool, "proxy_jump": _jump,
               "power": _table}
INT64 = 2 ** 63


def check_values(doc: Any, keypath: tuple = ()) -> None:
    """Every value anywhere in the document, whatever table it is in (power, jobs, keymap ...):
    floats finite, integers within 64 bits, tables nested at most MAX_DEPTH deep. Iterative, so
    no nesting can exhaust the stack."""
    todo = [(keypath, doc)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, (dict, list)):
            if len(path) > MAX_DEPTH:
                raise Bad(f"nested deeper than {MAX_DEPTH} levels", path)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            todo += [(path + (k,), v) for k, v in items]
        elif isinstance(value, float) and not math.isfinite(value):
            raise Bad(f"expected a finite number, got {show(value)}", path)
        elif isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
            raise Bad(f"expected a number within 64 bits, got {show(value, 30)}", path)


def check_table(table: Any, schema: Mapping, keypath: tuple) -> dict:
    """Check every key against schema; Bad.keypath is absolute (keypath + key ...)."""
    if not isinstance(table, dict):
        raise Bad(f"expected a table, got {_got(table)}", keypath)
    out = {}
    for key, value in table.items():
        if key not in schema:
            raise Bad(f"unknown key (expected one of: {', '.join(schema)})", keypath + (key,))
        try:
            out[key] = schema[key](value)
        except Bad as bad:
            raise Bad(bad.message, keypath + (key,) + bad.keypath) from None
    return out


class Locator:
    """Maps a key path to its line in TOML text (tomllib keeps no positions for values).

    The patterns are linear in the line's length (no nested quantifiers): a hostile 1 MiB line
    costs one scan."""

    _HEADER = re.compile(r"[ \t]*(\[\[?)([^\]\n]*)\]")
    _KEY = re.compile(r"[ \t]*(\"[^\"\n]*\"|'[^'\n]*'|[A-Za-z0-9_.-]+)[ \t]*=")

    def __init__(self, text: str):
        self.keys: dict[tuple, int] = {}
        self.tables: dict[tuple, int] = {}
        table: tuple = ()
        counts: dict[tuple, int] = {}
        # split on "\n" only, as TOML counts lines (splitlines would also break at \x1e, \u2028 ...)
        for lineno, line in enumerate(text.split("\n"), 1):
            if (m := self._HEADER.match(line)) and self._only_comment_after(m, line):
                table = self._header(m, counts)
                self.tables.setdefault(table, lineno)
            elif (m := self._KEY.match(line)):
                key = tuple(k.strip().strip("\"'") for k in m.group(1).split("."))
                self.keys.setdefault(table + key, lineno)

    @staticmethod
    def _only_comment_after(m: re.Match, line: str) -> bool:
        # "[[nodes]]  # x" is a header; "  [1, 2]," inside a multi-line array is not
        rest = line[m.end() + (m.group(1) == "[["):].strip()
        return bool(m.group(2).strip()) and (not rest or rest.startswith("#"))

    @staticmethod
    def _header(m: re.Match, counts: dict) -> tuple:
        name = tuple(k.strip().strip("\"'") for k in m.group(2).strip().split("."))
        if m.group(1) == "[[":
            counts[name] = counts.get(name, -1) + 1
            return name + (counts[name],)
        return name

    def line(self, keypath: tuple) -> int | None:
        for n in range(len(keypath), 0, -1):
            found = self.keys.get(tuple(keypath[:n])) or self.tables.get(tuple(keypath[:n]))
            if found:
                return found
        return None


# ---------------------------------------------------------------- loading

def find_config(path: str | os.PathLike | None, env: Mapping[str, str]) -> Path | None:
    chosen = path or env.get("ROOST_CONFIG")
    if chosen:   # whatever it is: reading it says why not (missing, a directory, a loop ...)
        return Path(chosen).expanduser()
    for candidate in find_config_candidates():
        if candidate.is_file():
            return candidate
    return None


def find_config_candidates() -> tuple[Path, ...]:
    """Where roost.toml is looked for when neither --config nor ROOST_CONFIG names one."""
    return Path("roost.toml"), paths.config_dir() / "roost.toml"


def load_config(path: str | os.PathLike | None = None, *, inventory: str | os.PathLike | None = None,
                ssh_config: str | os.PathLike | None = None, env: Mapping[str, str] = os.environ,
                state_dir: str | os.PathLike | None = None, connects: bool = True) -> Config:
    """connects=False: for a client that reaches no node (bsub, bjobs): the ssh client config
    is neither read nor checked (its parser is most of a short command's start-up time)."""
    toml_path = find_config(path, env)
    loader = _TomlLoader(toml_path, env) if toml_path is not None else None
    defaults = loader.defaults if loader else Defaults(max_hostlist=_env_limit(env))
    inv_path = inventory or env.get("ROOST_INVENTORY")
    ssh = _ssh_client_config(ssh_config, env) if connects else None
    inv_nodes, inv_groups, inv_sources = _inventory_nodes(inv_path, defaults.max_hostlist)
    base = Config(nodes=tuple(inv_nodes), groups=MappingProxyType(inv_groups), ssh=ssh,
                  sources=inv_sources, state_dir=paths.state_dir(state_dir, env), defaults=defaults)
    if loader is None:
        return base
    return loader.apply(base)


def _ssh_client_config(path: str | os.PathLike | None, env: Mapping[str, str]) -> SshConfig | None:
    from console.sshconfig import SshConfigError, load_ssh_config
    try:
        return load_ssh_config(path, env)
    except SshConfigError as exc:
        raise ConfigError(str(exc)) from None


def _env_limit(env: Mapping[str, str]) -> int:
    try:
        return hostlist.default_limit(env)
    except HostlistError as exc:
        raise ConfigError(str(exc)) from None


def _inventory_nodes(path, limit: int) -> tuple[list[NodeSpec], dict, tuple[Path, ...]]:
    if not path:
        return [], {}, ()
    from console.inventory import InventoryError, load_inventory
    try:
        inv = load_inventory(path, limit=limit)
    except InventoryError as exc:
        raise ConfigError(str(exc)) from None
    for g in inv.groups:     # groups become @names on roost's command line
        try:
            check_name(g, "group name")
        except Bad as bad:
            line = inv.group_lines.get(g)
            raise ConfigError(f"{inv.path}:{line}: {bad}" if line else f"{inv.path}: {bad}") from None
    nodes = []
    for pos, h in enumerate(inv.hosts, 1):
        _check_inventory_host(inv.path, h)
        nodes.append(NodeSpec(name=h.name, index=_index(h.name, pos), host=h.host, port=h.port,
                              user=h.user, identity=(os.path.expanduser(h.identity),) if h.identity else (),
                              groups=h.groups, where=f"{inv.path}:{h.line}"))
    return nodes, dict(inv.groups), (inv.path,)


def _check_inventory_host(path: Path, h) -> None:
    """Inventory values reach ssh as arguments: the same checks as roost.toml's."""
    checks = [("", lambda: check_name(h.name, "node name"))]
    if h.host is not None:
        checks.append(("ansible_host: ", lambda: check_name(h.host, "host", allow=":[]%")))
    if h.user is not None:
        checks.append(("ansible_user: ", lambda: _user(h.user)))
    for what, check in checks:
        try:
            check()
        except Bad as bad:
            raise ConfigError(f"{path}:{h.line}: {format_path((h.name,))}: {what}{bad}") from None


def _index(name: str, position: int) -> int:
    digits = len(name) - len(name.rstrip("0123456789"))
    return int(name[-digits:]) if digits else position


class _TomlLoader:
    """One roost.toml: read, parsed and checked at construction up to [defaults] (the hostlist
    limit the inventory needs); apply() checks the rest onto a base Config."""

    def __init__(self, path: Path, env: Mapping[str, str] = os.environ):
        self.path = path
        try:
            self.text = read_text(path, "config", MAX_CONFIG_BYTES)
        except UserFileError as exc:
            raise ConfigError(str(exc)) from None
        self.where = Locator(self.text)
        self.doc = self.checked(self.parse(), TOP_SCHEMA, ())
        self.defaults = self._defaults(self.doc.get("defaults", {}), env)
        self.limit = self.defaults.max_hostlist

    def _defaults(self, table: Any, env: Mapping[str, str]) -> Defaults:
        values = self.checked(table, DEFAULTS_SCHEMA, ("defaults",))
        values.setdefault("max_hostlist", _env_limit(env))
        return Defaults(**values)

    def fail(self, keypath: tuple, message: str) -> ConfigError:
        line = self.where.line(keypath)
        loc = f"{self.path}:{line}" if line else str(self.path)
        key = format_path(keypath)
        return ConfigError(f"{loc}: {key}: {message}" if key else f"{loc}: {message}")

    def parse(self) -> dict:
        try:
            doc = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(_toml_error(self.path, exc)) from None
        except RecursionError:   # tomllib recurses per nesting level
            raise ConfigError(f"{self.path}:{_deep_line(self.text)}: TOML nested too deeply") from None
        try:
            check_values(doc)
        except Bad as bad:
            raise self.fail(bad.keypath, bad.message) from None
        return doc

    def checked(self, table: Any, schema: Mapping, keypath: tuple) -> dict:
        try:
            return check_table(table, schema, keypath)
        except Bad as bad:
            raise self.fail(bad.keypath or keypath, bad.message) from None

    def apply(self, base: Config) -> Config:
        doc, defaults = self.doc, self.defaults
        thresholds = self._thresholds(doc.get("thresholds", {}))
        power = PowerConfig(**self.checked(doc.get("power", {}), POWER_SCHEMA, ("power",)))
        history = HistoryConfig(**self.checked(doc.get("history", {}), HISTORY_SCHEMA, ("history",)))
        nodes = self._nodes(list(base.nodes), doc.get("nodes", []))
        groups = self._groups(nodes, dict(base.groups), doc.get("groups", {}))
        nodes = _with_group_names(nodes, groups)
        return replace(base, nodes=tuple(nodes), groups=MappingProxyType(groups), defaults=defaults,
                       thresholds=thresholds, power=power, history=history,
                       keymap=MappingProxyType(dict(doc.get("keymap", {}))),
                       theme=doc.get("theme"), jobs=self._jobs(doc.get("jobs", {})),
                       cluster=doc.get("cluster", base.cluster),
                       ray=_ray_config(self, doc.get("ray", {}), nodes, groups,
                                       (doc.get("jobs") or {}).get("backend")),
                       source=_source_config(self, doc.get("source", {})),
                       serve=_serve_config(self, doc.get("serve", {}), nodes, groups),
                       sources=base.sources + (self.path,))

    def _jobs(self, table: Any) -> JobsConfig:
        values = self.checked(table, JOBS_SCHEMA, ("jobs",))
        for key in ("cores", "boinc"):
            if key in values:
                values[key] = _frozen(values[key])
        return JobsConfig(**values)

    def _thresholds(self, table: Any) -> Thresholds:
        t = Thresholds(**self.checked(table, THRESHOLDS_SCHEMA, ("thresholds",)))
        for warn, crit in (("temp_warn", "temp_crit"), ("cpu_warn", "cpu_crit"),
                           ("mem_warn", "mem_crit"), ("disk_warn", "disk_crit")):
            if getattr(t, warn) > getattr(t, crit):
                raise self.fail(("thresholds", warn), f"expected at most {crit} ({getattr(t, crit)}), "
                                f"got {getattr(t, warn)}")
        return t

    def _nodes(self, nodes: list[NodeSpec], entries: list) -> list[NodeSpec]:
        by_name = {n.name: i for i, n in enumerate(nodes)}
        defined: dict[str, int] = {}
        for i, entry in enumerate(entries):
            for spec in self._entry(i, self.checked(entry, NODE_SCHEMA, ("nodes", i))):
                if spec.name in defined:
                    raise self.fail(("nodes", i, "names"), f"node {show(spec.name)} is already defined "
                                    f"by nodes[{defined[spec.name]}]")
                defined[spec.name] = i
                if spec.name in by_name:
                    nodes[by_name[spec.name]] = _merge(nodes[by_name[spec.name]], spec, entry)
                else:
                    by_name[spec.name] = len(nodes)
                    nodes.append(spec)
            if len(nodes) > self.limit:
                raise self.fail(("nodes", i, "names"), f"the config now holds {len(nodes):,} nodes, "
                                f"more than max_hostlist ({self.limit:,})")
        return nodes

    def _entry(self, i: int, entry: dict) -> list[NodeSpec]:
        if "names" not in entry:
            raise self.fail(("nodes", i), "expected a names = \"HOSTLIST\" key, got none")
        names = self._names(i, entry["names"])
        return [self._spec(i, entry, name, pos) for pos, name in enumerate(names, 1)]

    def _names(self, i: int, expr: str) -> list[str]:
        if "@" in expr:
            raise self.fail(("nodes", i, "names"), f"expected node names, got a group in {show(expr)}")
        try:
            names = hostlist.expand(expr, limit=self.limit)
            for name in names:
                check_name(name, "node name")
        except HostlistError as exc:
            hint = "" if isinstance(exc, hostlist.HostlistTooLarge) else "expected a hostlist like \"n[1-4]\": "
            raise self.fail(("nodes", i, "names"), f"{hint}{exc}") from None
        except Bad as bad:
            raise self.fail(("nodes", i, "names"), bad.message) from None
        if not names:
            raise self.fail(("nodes", i, "names"), f"expected at least one name, got {show(expr)}")
        return names

    def _spec(self, i: int, entry: dict, name: str, pos: int) -> NodeSpec:
        index = _index(name, pos)
        subst = {"name": name, "index": str(index), "index0": str(index - 1)}
        try:
            host = expand_template(entry["host"], subst, "host") if "host" in entry else None
            power = _frozen(_template_tree(entry["power"], subst)) if "power" in entry else None
        except Bad as bad:
            raise self.fail(("nodes", i, bad.keypath[0] if bad.keypath else "host"), bad.message) from None
        if host is not None and "{" in host:
            raise self.fail(("nodes", i, "host"), f"expected placeholders {{name}}, {{index}} or "
                            f"{{index0}}, got {show(entry['host'])}")
        if host is not None:
            self._check_host(i, host)
        values = {k: v for k, v in entry.items() if k not in ("names", "host", "power")}
        line = self.where.line(("nodes", i))
        return NodeSpec(name=name, index=index, host=host, power=power,
                        where=f"{self.path}:{line}" if line else str(self.path), **values)

    def _check_host(self, i: int, host: str) -> None:
        try:
            check_name(host, "host", allow=":[]%")
        except Bad as bad:
            raise self.fail(("nodes", i, "host"), bad.message) from None

    def _groups(self, nodes: list[NodeSpec], groups: dict, table: Mapping) -> dict:
        known = frozenset(n.name for n in nodes)
        members: dict[str, dict[str, None]] = {g: dict.fromkeys(m) for g, m in groups.items()}
        for spec in nodes:
            for g in spec.groups:
                members.setdefault(g, {})[spec.name] = None
        for g, expr in table.items():
            where = self.where.line(("groups", g))
            prefix = f"{self.path}:{where}: groups.{format_path((g,))}: " if where else \
                f"{self.path}: groups.{format_path((g,))}: "
            names = _expand(expr, members, known, prefix, self.limit)
            members.setdefault(g, {}).update(dict.fromkeys(names))
        order = {n.name: pos for pos, n in enumerate(nodes)}
        return {g: tuple(sorted(m, key=order.__getitem__)) for g, m in members.items()}


def _merge(old: NodeSpec, new: NodeSpec, entry: Mapping) -> NodeSpec:
    """roost.toml values override the inventory's for the keys the entry sets."""
    keys = {k for k in entry if k != "names"}
    changes = {k: getattr(new, k) for k in keys}
    changes["groups"] = tuple(dict.fromkeys(old.groups + new.groups))
    return replace(old, where=new.where, **changes)


def _with_group_names(nodes: list[NodeSpec], groups: Mapping[str, tuple[str, ...]]) -> list[NodeSpec]:
    """Each node's groups in the groups' order (one pass over the memberships, not nodes x groups)."""
    of: dict[str, list[str]] = {}
    for g, members in groups.items():
        for name in members:
            of.setdefault(name, []).append(g)
    return [replace(n, groups=tuple(of.get(n.name, ()))) for n in nodes]


def _deep_line(text: str, depth: int = 64) -> int:
    """The line where brackets first nest deeper than depth (strings not told apart: a hint)."""
    level = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        for ch in line:
            level += (ch in "[{") - (ch in "]}")
            if level > depth:
                return lineno
    return 1


def _template_tree(value: Any, subst: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return expand_template(value, subst, "power")
    if isinstance(value, dict):
        return {k: _template_tree(v, subst) for k, v in value.items()}
    if isinstance(value, list):
        return [_template_tree(v, subst) for v in value]
    return value


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _toml_error(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    # "Expected '=' after a key (at line 3, column 5)" -> "FILE:3: TOML syntax: Expected ... (column 5)"
    text = " ".join(str(exc).split())
    head, _, tail = text.rpartition(" (at line ")
    if head and tail.endswith(")"):
        line, _, col = tail[:-1].partition(", column ")
        return f"{path}:{line}: TOML syntax: {head} (column {col})"
    return f"{path}: TOML syntax: {text}"


# ---------------------------------------------------------------- [ray]

# Linux's default ip_local_port_range: a listening port in here can be taken first by any
# outgoing connection (Ray's own included), and then a node fails to start now and then.
EPHEMERAL = (32768, 60999)
RAY_MIN_STORE_MB = 75           # Ray refuses a smaller object store
RAY_TEMP_MAX = 40               # Ray's socket paths below it must fit in 107 bytes
RAY_NODE_PORTS = ("node_manager_port", "object_manager_port", "dashboard_agent_port",
                  "dashboard_agent_grpc_port", "runtime_env_agent_port", "metrics_port")
RAY_HEAD_PORTS = ("port", "dashboard_port", "client_port")


@dataclass(frozen=True, slots=True)
class RayNodeSettings:
    """What a board class ([ray.groups.NAME]) may set differently from [ray]."""
    python: str = "python3"               # the interpreter whose site-packages hold ray
    object_store_mb: int | None = None    # None: Ray's default (30% of RAM)
    num_cpus: int | None = None           # None: the node's cores
    node_manager_port: int = 26002
    object_manager_port: int = 26003
    dashboard_agent_port: int = 26004
    dashboard_agent_grpc_port: int = 26005
    runtime_env_agent_port: int = 26006
    metrics_port: int = 26007
    worker_ports: tuple[int, int] = (27000, 27999)


@dataclass(frozen=True, slots=True)
class RayConfig:
    """[ray]: which nodes form the Ray cluster and how `roost ray up` starts them."""
    head: str | None = None
    nodes: str | None = None              # hostlist/@groups; None: every configured node
    temp_dir: str = "/tmp/ray"
    port: int = 26379                     # the head's GCS
    dashboard_port: int = 28265           # job API; bound to the head's loopback only
    client_port: int = 26001
    start_timeout: float = 60.0
    stop_timeout: float = 15.0
    defaults: RayNodeSettings = RayNodeSettings()
    groups: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: EMPTY)
    where: str = ""                       # "FILE:LINE" of the [ray] table

    def settings(self, groups: tuple[str, ...] = ()) -> RayNodeSettings:
        """[ray]'s node settings with the node's [ray.groups.*] applied in table order."""
        out = self.defaults
        for name, values in self.groups.items():
            if name in groups:
                out = replace(out, **values)
        return out


def _ray_port(v):
    port = _port(v)
    if EPHEMERAL[0] <= port <= EPHEMERAL[1]:
        raise Bad(f"expected a port outside the ephemeral range {EPHEMERAL[0]}-{EPHEMERAL[1]} "
                  f"(outgoing connections can take it first), got {port}")
    return port


def _worker_ports(v):
    text = v if isinstance(v, str) else None
    m = re.fullmatch(r"(\d{1,5})-(\d{1,5})", text or "")
    if not m:
        raise Bad(f"expected a port range \"LOW-HIGH\" like \"27000-27999\", got {_got(v)}")
    low, high = _ray_port(int(m.group(1))), _ray_port(int(m.group(2)))
    if low > high or (low <= EPHEMERAL[0] <= high):
        raise Bad(f"expected LOW <= HIGH, both below {EPHEMERAL[0]}, got {show(v)}")
    return (low, high)


def _ray_python(v):
    if not isinstance(v, str) or not re.fullmatch(r"/[^\s\0]*|[A-Za-z0-9_.+-]+", v):
        raise Bad(f"expected an absolute path or a command name like \"python3\", got {_got(v)}")
    return v


def _count(minimum: int):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise Bad(f"expected a whole number of at least {minimum}, got {_got(v)}")
        return v
    return check


def _temp_dir(v):
    path = _abs_path(v)
    if len(path) > RAY_TEMP_MAX or re.search(r"\s", path):
        raise Bad(f"expected a short path without spaces (at most {RAY_TEMP_MAX} characters: "
                  f"Ray's socket paths below it must fit in 107), got {show(v)}")
    return path


RAY_NODE_SCHEMA = {"python": _ray_python, "object_store_mb": _count(RAY_MIN_STORE_MB),
                   "num_cpus": _count(0), "worker_ports": _worker_ports,
                   **{key: _ray_port for key in RAY_NODE_PORTS}}
RAY_SCHEMA = {"head": _str, "nodes": _str, "temp_dir": _temp_dir, "port": _ray_port,
              "dashboard_port": _ray_port, "client_port": _ray_port,
              "start_timeout": _within(0.1, 86400, " s"), "stop_timeout": _within(0.1, 86400, " s"),
              "groups": _table,
              **RAY_NODE_SCHEMA}


def _ray_config(loader: _TomlLoader, table: Any, nodes: list[NodeSpec],
                groups: Mapping[str, tuple[str, ...]], backend: Any = None) -> RayConfig:
    """[ray] checked: the head and nodes name configured nodes, groups name known groups,
    and no two roles of one node share a port; [jobs] backend = "ray" needs a head."""
    doc = loader.checked(table, RAY_SCHEMA, ("ray",))
    known = {n.name for n in nodes}
    if backend == "ray" and "head" not in doc:
        raise loader.fail(("jobs", "backend"), 'expected [ray] head = "NODE" (the node whose '
                          'job API runs the jobs) with backend = "ray", got no [ray] head')
    if "head" in doc and doc["head"] not in known:
        raise loader.fail(("ray", "head"), f"expected a configured node, got {show(doc['head'])}")
    if "nodes" in doc:
        line = loader.where.line(("ray", "nodes"))
        _expand(doc["nodes"], groups, known, f"{loader.path}:{line}: ray.nodes: ", loader.limit)
    node_keys = {k: doc.pop(k) for k in list(doc) if k in RAY_NODE_SCHEMA}
    base = RayNodeSettings(**node_keys)
    per_group = _ray_groups(loader, doc.pop("groups", {}), groups)
    line = loader.where.line(("ray",))
    ray = RayConfig(defaults=base, groups=MappingProxyType(per_group),
                    where=f"{loader.path}:{line}" if line else str(loader.path), **doc)
    for name in ("",) + tuple(per_group):
        _ray_ports_apart(loader, ray, name)
    return ray


def _ray_groups(loader: _TomlLoader, table: Mapping, groups: Mapping) -> dict:
    out = {}
    for name, values in table.items():
        if name not in groups:
            raise loader.fail(("ray", "groups", name), f"expected a group of [groups] or "
                              f"[[nodes]] groups, got {show(name)}")
        out[name] = MappingProxyType(loader.checked(values, RAY_NODE_SCHEMA,
                                                    ("ray", "groups", name)))
    return out


def _ray_ports_apart(loader: _TomlLoader, ray: RayConfig, group: str) -> None:
    settings = ray.settings((group,)) if group else ray.defaults
    own = ray.groups.get(group, {})
    taken: dict[int, str] = {}
    low, high = settings.worker_ports
    for key in RAY_HEAD_PORTS + RAY_NODE_PORTS:
        port = getattr(settings, key, None) or getattr(ray, key)
        if port in taken or low <= port <= high:
            other = taken.get(port, "worker_ports")
            blame = key if key in own or other not in own else other
            where = ("ray", "groups", group, blame) if blame in own else ("ray", blame)
            raise loader.fail(where, f"expected a port no other Ray role uses, got {port} "
                              f"(also {other if blame == key else key})")
        taken[port] = key


# ---------------------------------------------------------------- [source] and [serve]

_URL = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?(/[A-Za-z0-9_./~-]*)?")
# label matchers as PromQL writes them inside braces: name op "value", comma-separated
_MATCHER = r'[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\\n]|\\.)*"'
_SELECTOR = re.compile(rf"\s*({_MATCHER}\s*(,\s*{_MATCHER}\s*)*)?,?\s*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _url(v):
    if not isinstance(v, str) or not _URL.fullmatch(v):
        raise Bad(f"expected an http:// or https:// URL like \"http://prometheus:9090\", got {_got(v)}")
    return v.rstrip("/")


def _selector(v):
    if not isinstance(v, str) or not _SELECTOR.fullmatch(v):
        raise Bad(f'expected label matchers without braces, like job="node",rack=~"r[12]", got {_got(v)}')
    return v.strip().rstrip(",")


def _label(v):
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
        raise Bad(f"expected a Prometheus label name, got {_got(v)}")
    return v


def _env_name(v):
    if not isinstance(v, str) or not _ENV_NAME.fullmatch(v):
        raise Bad(f"expected an environment variable name, got {_got(v)}")
    return v


def _secret_file(v):
    """A file holding a secret: it must exist and be readable by its owner only (checked now,
    read when the source opens; the value never reaches the config or a message)."""
    import stat
    path = os.path.expanduser(_str(v))
    try:
        st = os.stat(path)
    except OSError as exc:
        raise Bad(f"{path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise Bad(f"expected a regular file, got {path}")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise Bad(f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it")
    return path


def _readable_file(v):
    path = os.path.expanduser(_str(v))
    if not os.path.isfile(path):
        raise Bad(f"expected a readable file, got {path}")
    return path


def _hostport(v):
    m = re.fullmatch(r"\[?([0-9A-Za-z_.:-]*?)\]?:(\d{1,5})", v) if isinstance(v, str) else None
    if not m or not 0 < int(m.group(2)) < 65536:
        raise Bad(f"expected HOST:PORT like \"127.0.0.1:9856\", got {_got(v)}")
    return (m.group(1) or "127.0.0.1", int(m.group(2)))


def _family_queries(v):
    """[source.queries]: FAMILY = "PromQL" for a known family, naming only known placeholders."""
    import string

    from collectors.promsource import FAMILIES, PLACEHOLDERS
    for family, text in _table(v).items():
        if family not in FAMILIES:
            raise Bad(f"unknown family (expected one of: {', '.join(FAMILIES)})", (family,))
        if not isinstance(text, str) or not text.strip():
            raise Bad(f"expected a PromQL expression, got {_got(text)}", (family,))
        template = string.Template(text)
        unknown = sorted(set(template.get_identifiers()) - set(PLACEHOLDERS))
        if not template.is_valid() or unknown:
            raise Bad(f"expected only ${', $'.join(PLACEHOLDERS)} (write $$ for a $), got "
                      f"{show(text)}", (family,))
        if any(text.count(a) != text.count(b) for a, b in ("()", "{}", "[]")):
            raise Bad(f"unbalanced brackets in {show(text)}", (family,))
    return MappingProxyType(dict(v))


SOURCE_SCHEMA = {"prometheus": _url, "selector": _selector, "node_label": _label,
                 "strip_port": _bool, "interval": _within(0.1, 3600, " s"),
                 "budget": _within(0.05, 3600, " s"), "scrape_interval": _within(0.1, 3600, " s"),
                 "bearer_token_env": _env_name, "bearer_token_file": _secret_file,
                 "user": _str, "password_env": _env_name, "password_file": _secret_file,
                 "ca_file": _readable_file, "insecure": _bool,
                 "ssh_cap": _int_within(1, 10_000), "ssh_idle": _within(1, 86400, " s"),
                 "timeout": _within(0.05, 3600, " s"), "parallel": _int_within(1, 64),
                 "queries": _family_queries}
SERVE_SCHEMA = {"nodes": _str, "listen": _hostport, "history": _bool, "collectors": _collector_list,
                "disable_collectors": _collector_list}


def _source_config(loader: _TomlLoader, table: Any) -> SourceConfig:
    """[source] checked: one way to authenticate, a budget inside the interval."""
    doc = loader.checked(table, SOURCE_SCHEMA, ("source",))
    token = [k for k in ("bearer_token_env", "bearer_token_file") if k in doc]
    basic = [k for k in ("password_env", "password_file") if k in doc]
    if len(token) > 1 or len(basic) > 1 or (token and basic):
        both = (token + basic)[1]
        raise loader.fail(("source", both), f"expected one secret, got {' and '.join(token + basic)}")
    if basic and "user" not in doc:
        raise loader.fail(("source", basic[0]), 'expected user = "NAME" with a password, got none')
    interval = doc.get("interval", SourceConfig().interval)
    if doc.get("budget", 0) > interval:
        raise loader.fail(("source", "budget"), f"expected at most the interval ({interval:g} s), "
                          f"got {doc['budget']:g}")
    budget = doc.get("budget", 0.8 * interval)
    if doc.get("timeout", budget) < budget:
        raise loader.fail(("source", "timeout"), f"expected at least the budget ({budget:g} s), "
                          f"got {doc['timeout']:g}")
    if doc and "prometheus" not in doc:
        raise loader.fail(("source",), 'expected prometheus = "http://HOST:9090", got none')
    line = loader.where.line(("source",))
    return SourceConfig(where=f"{loader.path}:{line}" if line else str(loader.path), **doc)


def _serve_config(loader: _TomlLoader, table: Any, nodes: list[NodeSpec],
                  groups: Mapping[str, tuple[str, ...]]) -> ServeConfig:
    doc = loader.checked(table, SERVE_SCHEMA, ("serve",))
    if "nodes" in doc:
        line = loader.where.line(("serve", "nodes"))
        _expand(doc["nodes"], groups, {n.name for n in nodes},
                f"{loader.path}:{line}: serve.nodes: ", loader.limit)
    return ServeConfig(**doc)
