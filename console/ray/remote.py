"""The sh run on a node for `roost ray`: probe, start under supervision, stop, status. Pure
builders (text in, text out) plus the parsers of what they print; nothing to install on a node.

Supervision: each node's `ray start --block` runs detached in its own session (setsid), stdio
on a log, umask 077, under $HOME/.roost/ray/NODE/ (pid, token, log). Every process Ray starts
inherits ROOST_RAY=TOKEN (a fresh random token per start), which is how `down` finds exactly
what roost started: the supervised pid first (SIGTERM: Ray tears its node down in ~2 s), then
any process of this user still carrying the token (a job driver in its own session) is killed.
`ray stop` is never used: it signals every Ray process of every user on the host.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from console.ray.parse import clean, one_line

BASE = ".roost/ray"                   # under the login user's $HOME on the node
UP_MARK = "will now block forever"    # `ray start --block` prints it once the node runs
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def q(text: object) -> str:
    return shlex.quote(str(text))


def node_dir(node: str) -> str:
    """$HOME-relative: homes are often shared (NFS, or lab nodes on one host), so by node."""
    return f"{BASE}/{_SAFE.sub('_', node)}"


# ---- probe ---------------------------------------------------------------------------------

PY_PROBE = """\
import sys, struct
print("python %d.%d.%d" % sys.version_info[:3])
print("bits", struct.calcsize("P") * 8)
try:
    import importlib.metadata as m
    print("ray", m.version("ray"))
except Exception:
    print("ray none")
import importlib.util as u
print("dashboard", "yes" if u.find_spec("aiohttp") and u.find_spec("aiohttp_cors") else "no")
"""


def probe_script(python: str) -> str:
    """Facts for the version and board checks, one "key value" line each."""
    return (
        'echo "arch $(uname -m)"\n'
        'echo "cores $(getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c ^processor /proc/cpuinfo)"\n'
        "echo \"mem $(sed -n 's/^MemTotal: *\\([0-9]*\\).*/\\1/p' /proc/meminfo)\"\n"
        'set -- $SSH_CONNECTION; echo "ip $3"\n'
        f"if command -v {q(python)} >/dev/null 2>&1; then {q(python)} -c {q(PY_PROBE)} 2>&1 "
        '|| echo "python failed"; else echo "python missing"; fi\n')


@dataclass(frozen=True, slots=True)
class Facts:
    arch: str = ""
    cores: int = 1
    mem_mb: int | None = None
    ip: str = ""
    python: str | None = None         # "3.11.2"; None: missing or broken
    bits: int | None = None
    ray: str | None = None            # "2.60.0"; None: not installed
    dashboard: bool = False           # aiohttp + aiohttp_cors (ray[default]) importable
    problem: str = ""                 # why python could not answer


def parse_facts(text: str) -> Facts:
    values: dict[str, str] = {}
    other: list[str] = []
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key in ("arch", "cores", "mem", "ip", "python", "bits", "ray", "dashboard") \
                and key not in values:
            values[key] = value.strip()
        elif line.strip():
            other.append(line.strip())
    py = values.get("python", "missing")
    version = py if re.fullmatch(r"\d+\.\d+\.\d+", py) else None
    problem = "" if version else (py if py in ("missing", "failed") else "failed")
    if problem == "failed" and other:
        problem = f"failed: {one_line(other[-1], 160)}"
    mem = values.get("mem", "")
    return Facts(arch=values.get("arch", ""), cores=max(1, _digits(values.get("cores"), 1)),
                 mem_mb=int(mem) // 1024 if mem.isdigit() else None, ip=values.get("ip", ""),
                 python=version, bits=_digits(values.get("bits"), 0) or None,
                 ray=None if values.get("ray", "none") == "none" else values["ray"],
                 dashboard=values.get("dashboard") == "yes", problem=problem)


def _digits(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() else default


# ---- start / stop / status -----------------------------------------------------------------

# A pid is ours when its environment carries this start's token (a recycled pid is not).
# reap: SIGTERM the supervised `ray start --block` (Ray tears its node down), wait up to
# $1 tenths of a second, give leftovers (its dashboard's forkserver exits within a moment of
# its parent) up to a second, then SIGKILL whatever still carries the token, again until none
# is left (a KILL lands asynchronously, and a process forked meanwhile needs its own); sets $i
# and $n.
FUNCS = """\
ours() { tr '\\000' '\\n' < "/proc/$1/environ" 2>/dev/null | grep -qx "ROOST_RAY=$tok"; }
sweep() {
  if grep -qz x /dev/null 2>/dev/null || [ $? -eq 1 ]; then
    grep -lzx "ROOST_RAY=$tok" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
  else for f in /proc/[0-9]*; do ours "${f#/proc/}" && echo "${f#/proc/}"; done; fi
}
reap() {
  ours "$p" && kill -TERM "$p" 2>/dev/null
  i=0
  while [ "$i" -lt "$1" ] && ours "$p"; do sleep 0.1; i=$((i + 1)); done
  j=0
  while left=$(sweep); [ -n "$left" ] && [ "$j" -lt 10 ]; do sleep 0.1; j=$((j + 1)); done
  n=0; for x in $left; do n=$((n + 1)); done
  j=0
  while [ -n "$left" ] && [ "$j" -lt 30 ]; do
    kill -KILL $left 2>/dev/null; sleep 0.1; left=$(sweep); j=$((j + 1))
  done
  rm -f "$d/pid"
}
"""


def start_script(node: str, argv: Sequence[str], token: str, env: Mapping[str, str],
                 timeout: float, path_first: str | None = None) -> str:
    """Start `ray start --block ...` detached unless roost's one is running; wait until Ray
    says it runs. Prints "up PID" or "running PID"; else "died"/"timeout" and the log's last
    lines, after reaping what it started (a worker that cannot reach the head retries
    forever)."""
    d = f'"$HOME/{node_dir(node)}"'
    exports = " ".join(f"{k}={q(v)}" for k, v in env.items())
    if path_first:
        exports += f' PATH={q(path_first)}:"$PATH"'
    command = " ".join(q(a) for a in argv)
    ticks = max(1, int(timeout * 10))
    return f"""umask 077
d={d}
mkdir -p "$d" || exit 1
{FUNCS}if [ -s "$d/pid" ] && [ -s "$d/token" ]; then read p < "$d/pid"; read tok < "$d/token"
  if ours "$p"; then echo "running $p"; exit 0; fi
fi
tok={q(token)}
echo "$tok" > "$d/token"
: > "$d/log"
ROOST_RAY="$tok" {exports} setsid {command} </dev/null >>"$d/log" 2>&1 &
p=$!
echo "$p" > "$d/pid"
k=0
while [ "$k" -lt {ticks} ]; do
  if grep -q {q(UP_MARK)} "$d/log"; then echo "up $p"; exit 0; fi
  kill -0 "$p" 2>/dev/null || {{ reap 1; echo died; tail -n 30 "$d/log"; exit 0; }}
  sleep 0.1; k=$((k + 1))
done
reap 50; echo timeout; tail -n 30 "$d/log"
"""


def stop_script(node: str, timeout: float) -> str:
    """Reap roost's Ray node. Prints "stopped PID TENTHS_WAITED LEFTOVERS_KILLED" or "none"."""
    d = f'"$HOME/{node_dir(node)}"'
    return f"""d={d}
{FUNCS}[ -s "$d/pid" ] && [ -s "$d/token" ] || {{ echo none; exit 0; }}
read p < "$d/pid"; read tok < "$d/token"
reap {max(1, int(timeout * 10))}
echo "stopped $p $i $n"
"""


def status_script(node: str) -> str:
    """Prints "running PID" (roost's supervised Ray node is up), "stopped" (roost started it
    once) or "none"."""
    d = f'"$HOME/{node_dir(node)}"'
    return f"""d={d}
{FUNCS}[ -s "$d/token" ] || {{ echo none; exit 0; }}
[ -s "$d/pid" ] || {{ echo stopped; exit 0; }}
read p < "$d/pid"; read tok < "$d/token"
if ours "$p"; then echo "running $p"; else echo stopped; fi
"""


# ---- what came back ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outcome:
    word: str                         # up | running | died | timeout | stopped | none | ?
    pid: int | None = None
    detail: str = ""                  # why, one line (the log's telling line)
    waited: float = 0.0               # stop: seconds until Ray's own teardown ended
    leftovers: int = 0                # stop: processes that had to be killed


def parse_outcome(text: str) -> Outcome:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    head = lines[0].split() if lines else ["?"]
    word, rest = head[0], head[1:]
    nums = [int(x) for x in rest if x.isdigit()]
    if word in ("died", "timeout"):
        return Outcome(word, detail=telling_line(lines[1:]))
    if word == "stopped" and len(nums) == 3:
        return Outcome(word, nums[0], waited=nums[1] / 10, leftovers=nums[2])
    if word in ("up", "running") and nums:
        return Outcome(word, nums[0])
    if word in ("none", "stopped"):
        return Outcome(word)
    return Outcome("?", detail=one_line(text, 200) or "no answer")


_NOISE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+(INFO|WARNING|ERROR|SUCC)?\s*\S+:\d+ -- "  # python
    r"|\[\d{4}-\d\d-\d\d [^\]]*\]\s*(\(\w+\)\s*)?\S+:\d+:\s*)")                    # C++
_EXCEPTION = re.compile(r"^(?:\w+\.)*\w+(?:Error|Exception): ")
_TELLING = re.compile(r"error|exception|fail|refused|in use|cannot|could not|denied|not found|"
                      r"timed ?out", re.IGNORECASE)


def telling_line(lines: Sequence[str]) -> str:
    """The line of a `ray start` log that says why it failed: the last Python exception (with
    the line after it when it ends in ':'), else the last line naming an error, else the last
    line. Timestamps, log prefixes and escape codes removed."""
    texts = [_NOISE.sub("", clean(ln)).strip() for ln in lines]
    texts = [t for t in texts if t and not set(t) <= set("-=~^. ")]
    for k in range(len(texts) - 1, -1, -1):
        if _EXCEPTION.match(texts[k]):
            more = texts[k + 1] if texts[k].endswith(":") and k + 1 < len(texts) else ""
            more = more[more.find("Check failed:"):] if "Check failed:" in more else more
            return one_line(f"{texts[k]} {more}", 240)
    hits = [t for t in texts if _TELLING.search(t) and not t.startswith("File ")]
    return one_line(hits[-1] if hits else (texts[-1] if texts else "no output"), 240)
