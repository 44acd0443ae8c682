"""Limits a task's wrapper enforces on its node, with no scheduler needed (UI-free, pure text).

How a node can hold a task to --mem and --cpus-per-task (`METHODS`, probed once per connection
by PROBE and shown by `roost check`):
  cgroup   systemd-run --user --scope -p MemoryMax= -p AllowedCPUs= (cgroup v2 with the memory
           controller delegated to the user's systemd): the kernel enforces both; a task the
           kernel kills for memory (memory.events oom_kill) ends OUT_OF_MEMORY.
  taskset  taskset -c CORES pins the task to the cores it was given; the watcher sums the
           task's resident memory (every process of its session, from /proc/*/stat) twice a
           second and KILLs it over --mem: OUT_OF_MEMORY, as Slurm's OverMemoryKill does without
           cgroups; prlimit --data caps each process at 4x --mem, a backstop against a runaway
           that outgrows the watcher's half second (it then fails on its own ENOMEM instead).
  none     neither tool: placement still counts cores and memory; nothing is enforced.

The watcher is a small sh loop in its own session started by the wrapper only when the task
has a time limit or a memory limit. It also holds --time: TERM (and CONT) to the task's process
group at the limit, KILL after the grace period, the reason in KEY.why (timeout | oom). Time
spent suspended (the task's group stopped) does not count, as under Slurm.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

METHODS = ("cgroup", "taskset", "none")
DESCRIBE = {
    "cgroup": "cgroup v2 (systemd-run --user --scope: MemoryMax, AllowedCPUs)",
    "taskset": "taskset + prlimit, memory watched (no delegated cgroup v2)",
    "none": "not enforced (no systemd-run scope, no taskset)",
}

# One line "limits METHOD". The cgroup method needs the user's systemd to run scopes and the
# memory controller delegated to it (else MemoryMax would be accepted and ignored).
PROBE = (
    'u=$(id -u); m=none; '
    'if command -v systemd-run >/dev/null 2>&1 && '
    'grep -qw memory "/sys/fs/cgroup/user.slice/user-$u.slice/user@$u.service/'
    'cgroup.controllers" 2>/dev/null && '
    'systemd-run --user --scope --quiet true >/dev/null 2>&1; then m=cgroup; '
    'elif command -v taskset >/dev/null 2>&1; then m=taskset; fi; echo "limits $m"')


def parse_probe(lines: list[str]) -> str:
    """PROBE's output -> one of METHODS ("none" when it said nothing usable)."""
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[0] == "limits" and parts[1] in METHODS:
            return parts[1]
    return "none"


@dataclass(frozen=True, slots=True)
class Limits:
    """What the wrapper of one job on one node enforces."""
    method: str = "none"             # how (METHODS)
    time_limit: int | None = None    # seconds of run time (suspended time not counted)
    mem_mb: int | None = None        # resident memory of the task on this node
    grace: float = 5.0               # TERM -> KILL
    pin: bool = True                 # pin to the cores given ($6 of the wrapper)

    @property
    def watched(self) -> bool:
        return bool(self.time_limit) or (bool(self.mem_mb) and self.method != "none")


def command_lines(limits: Limits) -> str:
    """sh lines that wrap the command in "$@" with the enforcement tools (outermost last).
    $c is the task's core list ("-" none), $mem an override of the memory limit (MB)."""
    lines = [f'mem=${{ROOST_MEM_MB:-{limits.mem_mb or 0}}}']
    if limits.method == "taskset":
        lines.append('[ "$mem" -gt 0 ] && command -v prlimit >/dev/null 2>&1 && '
                     'set -- prlimit --data=$((mem * 4 * 1024 * 1024)) -- "$@"')
        if limits.pin:
            lines.append('[ "$c" != - ] && set -- taskset -c "$c" "$@"')
    elif limits.method == "cgroup":
        cpus = '${c#-}' if limits.pin else ''
        lines.append(f'cg=; [ "$mem" -gt 0 ] && cg="-p MemoryMax=${{mem}}M"; cpus="{cpus}"')
        lines.append('set -- systemd-run --user --scope --quiet $cg '
                     '${cpus:+-p AllowedCPUs=$cpus} -- "$@"')
    return "\n".join(lines)


def watch_start(limits: Limits) -> str:
    """The wrapper's line starting the watcher (nothing when there is nothing to watch)."""
    if not limits.watched:
        return "w="
    mem = limits.mem_mb or 0
    watch_mem = mem if limits.method != "none" else 0
    args = " ".join(str(a) for a in (int(limits.time_limit or 0), int(limits.grace * 100)))
    return (f'setsid sh "$d/run" --watch "$k" $$ {args} ${{ROOST_MEM_MB:-{watch_mem}}} '
            f'{shlex.quote(limits.method)} </dev/null >/dev/null 2>&1 & w=$!')


# The watcher: sh, fork-free but for sleep; times in centiseconds from /proc/uptime. Run as
# `run --watch KEY PGID LIMIT_S GRACE_CS MEM_MB METHOD`; ends when the task's wrapper is gone.
# $d $job $events come from the wrapper's first lines.
WATCHER = r"""
watch() {
  k=$1 p=$2 lim=$(($3 * 100)) grace=$4 mem=$(($5 * 1024)) how=$6 stopped=0 cg= pids=
  pk=$(getconf PAGESIZE 2>/dev/null || echo 4096); pk=$((pk / 1024))
  up; t0=$now; last=$now
  while kill -0 "$p" 2>/dev/null; do
    sleep 0.5
    up
    { read -r s < "/proc/$p/stat"; } 2>/dev/null || break
    s=${s##*) }; s=${s%% *}
    if [ "$s" = T ]; then stopped=$((stopped + now - last)); last=$now; continue; fi
    last=$now
    if [ "$lim" -gt 0 ] && [ $((now - t0 - stopped)) -ge "$lim" ]; then stop timeout; return; fi
    if [ "$mem" -gt 0 ] && [ "$how" = taskset ]; then
      rss; [ "$kb" -gt "$mem" ] && { stop oom; return; }
    elif [ "$mem" -gt 0 ] && [ "$how" = cgroup ] && ooms; then
      echo oom > "$d/$k.why"
    fi
  done
}
up() {
  read -r u rest < /proc/uptime; u=${u%.*}${u#*.}
  while [ "${#u}" -gt 1 ] && [ "${u#0}" != "$u" ]; do u=${u#0}; done
  now=$u
}
rss() {
  kb=0 pids=
  for f in /proc/[0-9]*/stat; do
    { read -r l < "$f"; } 2>/dev/null || continue
    l=${l##*) }; set -- $l
    [ "$4" = "$p" ] || continue
    kb=$((kb + ${22} * pk)); f=${f#/proc/}; pids="$pids ${f%/stat}"
  done
}
ooms() {
  [ -n "$cg" ] || for f in /proc/[0-9]*/stat; do
    { read -r l < "$f"; } 2>/dev/null || continue
    l=${l##*) }; set -- $l
    [ "$4" = "$p" ] || continue
    f=${f%/stat}
    { read -r g < "$f/cgroup"; } 2>/dev/null || continue
    case $g in 0::*.scope) cg=/sys/fs/cgroup${g#0::}; break;; esac
  done
  [ -n "$cg" ] && [ -r "$cg/memory.events" ] || return 1
  while read -r name n; do
    [ "$name" = oom_kill ] && [ "$n" -gt 0 ] && return 0
  done < "$cg/memory.events"
  return 1
}
stop() {
  echo "$1" > "$d/$k.why"
  if [ "$1" = oom ]; then
    kill -KILL -"$p" 2>/dev/null; [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  else
    kill -TERM -"$p" 2>/dev/null; kill -CONT -"$p" 2>/dev/null
    g=0
    while [ "$g" -lt "$grace" ] && kill -0 -"$p" 2>/dev/null; do sleep 0.2; g=$((g + 20)); done
    kill -0 -"$p" 2>/dev/null || return 0
    kill -KILL -"$p" 2>/dev/null
  fi
  sleep 0.1
  [ -s "$d/$k.exit" ] && return 0
  echo -9 > "$d/$k.exit"
  echo "$job $k -9 $1" >> "$events"
}
"""
