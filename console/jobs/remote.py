"""Tasks on a node, over the node's existing SSH connection. Nothing to install on the node.

Per connection roost opens two long-lived channels:
  * the agent: a plain `sh` reading commands on stdin; roost writes a batch of commands and an
    end marker and reads the replies up to that marker (launches, polls, signals, files);
  * the events feed: `tail -f` of ~/.roost/jobs/events, one line "JOB KEY RC" appended by each
    task as it ends, so completions arrive without polling.

Job files are private: the agent runs under umask 077 (directories 0700, files 0600) and
writes a job's script and wrapper with noclobber (O_EXCL: never through a planted symlink);
tasks create their output files and run with the login umask, as under sbatch.

Each task runs detached: `setsid sh run KEY ... &` in its own session and process group, stdio
on files, its pid in KEY.pid (written by the agent before it replies) and its exit code in
KEY.exit (written by the wrapper). Closing the connection or killing the console leaves tasks
running; a new console polls KEY.exit / KEY.pid to re-attach. KEY is "POS.ATTEMPT" inside the
job's directory, so a requeued task never reads its previous attempt's files.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass

import asyncssh

from collectors.transport import channel_slot
from console.errors import RoostError
from console.jobs.limits import PROBE as LIMITS_PROBE, WATCHER, Limits, command_lines, parse_probe, watch_start
from console.jobs.outpaths import cd_argument

BASE = ".roost/jobs"           # under the login user's $HOME on the node
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def node_root(queue_id: str, node: str) -> str:
    """$HOME-relative directory of one queue's tasks on one node. Homes are often shared (NFS)
    between nodes and between consoles, so both the queue and the node name it."""
    return f"{BASE}/{queue_id}/{_SAFE.sub('_', node)}"
END = "@@roost-end"


class AgentError(RoostError):
    """The node's agent channel failed (connection lost, shell died)."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    home: str
    cores: int
    mem_mb: int | None
    load1: float
    events_size: int
    limits: str = "none"       # how the node holds tasks to their limits (limits.METHODS)


@dataclass(frozen=True, slots=True)
class Status:
    """One task's state on its node: X exited (code), R running (pid), G gone without an exit
    code (killed with its wrapper), N never launched (no pid file). why: what its wrapper
    ended it for (timeout | oom), if it did."""
    key: str                   # "JOB/POS.ATTEMPT"
    kind: str
    value: int | None = None
    why: str | None = None


def q(text: str | int) -> str:
    return shlex.quote(str(text))


class Agent:
    """The command channel of one node: serialised request/response over one `sh`."""

    def __init__(self, node: str, conn: asyncssh.SSHClientConnection, root: str,
                 procfs: str = "/proc"):
        self.node, self.conn, self.root = node, conn, root
        self.procfs = procfs.rstrip("/") or "/proc"   # the node's configured procfs root
        self._proc: asyncssh.SSHClientProcess[str] | None = None
        self._lock = asyncio.Lock()
        self._slot: asyncio.Semaphore | None = None
        self._seq = 0

    async def start(self) -> None:
        self._slot = slot = channel_slot(self.conn)
        await slot.acquire()   # long-lived: holds one of the connection's channels
        try:
            self._proc = await self.conn.create_process("exec sh", encoding="utf-8",
                                                        stderr=asyncssh.DEVNULL)
        except (asyncssh.Error, OSError) as exc:
            self._release()
            raise AgentError(f"{self.node}: cannot start the job agent: {exc}") from None
        # the login umask is kept for the tasks' own files; everything roost writes is private
        await self.call('ROOST_UMASK=$(umask); export ROOST_UMASK; umask 077')

    def _release(self) -> None:
        if self._slot is not None:
            self._slot.release()
            self._slot = None

    async def call(self, script: str, timeout: float = 60.0) -> list[str]:
        """Run script in the agent's shell; its stdout lines. Script must be valid sh."""
        async with self._lock:
            self._seq += 1
            marker = f"{END} {self._seq}"
            try:
                proc = self._running()
                proc.stdin.write(f"{script}\necho '{marker}'\n")
                return await asyncio.wait_for(self._read_until(proc, marker), timeout)
            except (TimeoutError, asyncssh.Error, OSError, BrokenPipeError, AttributeError) as exc:
                raise AgentError(f"{self.node}: job agent failed: "
                                 f"{type(exc).__name__} {exc}") from None

    def _running(self) -> asyncssh.SSHClientProcess[str]:
        if self._proc is None:    # never started, or start() failed
            raise AgentError(f"{self.node}: job agent failed: not started")
        return self._proc

    async def _read_until(self, proc: asyncssh.SSHClientProcess[str], marker: str) -> list[str]:
        lines: list[str] = []
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise AgentError(f"{self.node}: job agent closed")
            line = line.rstrip("\n")
            if line == marker:
                return lines
            lines.append(line)

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stdin.write_eof() if not self._proc.stdin.is_closing() else None
            self._proc.close()
            self._proc = None
        self._release()

    # --- operations -----------------------------------------------------------------------

    async def setup(self) -> NodeInfo:
        """Make the jobs directory; read $HOME, cores, memory, load and the events size."""
        lines = await self.call(
            f'mkdir -p "$HOME/{self.root}" && : >> "$HOME/{self.root}/events"\n'
            f'{_PRIVATE.format(root=self.root)}\n'
            'echo "home $HOME"\n'
            f"echo \"cores $(grep -c '^cpu[0-9]' {q(self.procfs + '/stat')})\"\n"
            f"echo \"mem $(grep '^MemTotal:' {q(self.procfs + '/meminfo')})\"\n"
            f'read l1 rest < {q(self.procfs + "/loadavg")}; echo "load $l1"\n'
            f'echo "size $(wc -c < "$HOME/{self.root}/events")"\n{LIMITS_PROBE}')
        info = dict(line.split(" ", 1) for line in lines if " " in line)
        mem = info.get("mem", "").split()
        return NodeInfo(home=info["home"], cores=int(info.get("cores") or 1),
                        mem_mb=int(mem[1]) // 1024 if len(mem) > 1 else None,
                        load1=float(info.get("load", 0) or 0),
                        events_size=int(info.get("size", "0").strip() or 0),
                        limits=parse_probe(lines))

    async def load(self) -> float:
        lines = await self.call(f'read l1 rest < {q(self.procfs + "/loadavg")}; echo "$l1"')
        return float(lines[0]) if lines else 0.0

    async def write_job(self, job_id: int, script: str, wrapper: str) -> None:
        """The job's script and task wrapper, once per job per node: created, never opened
        through what is there (noclobber is O_EXCL), owner-only (umask 077)."""
        d = f'"$HOME/{self.root}/{job_id}"'
        tag = f"ROOST_{secrets.token_hex(8)}"
        body = script if script.endswith("\n") else script + "\n"
        lines = await self.call(
            f"mkdir -p {d} && rm -f {d}/script {d}/run && (set -C\n"
            f"cat > {d}/script <<'{tag}'\n{body}{tag}\n"
            f"cat > {d}/run <<'{tag}'\n{wrapper}{tag}\n) && chmod 700 {d}/script"
            " || echo 'roost-write-failed'")
        if "roost-write-failed" in lines:
            raise AgentError(f"{self.node}: cannot write the files of job {job_id}")

    async def write_task_files(self, job_id: int, key: str, files: dict[str, str]) -> None:
        """Per-task files beside the job's (KEY.env, KEY.hosts), written before its launch:
        created fresh (an earlier launch of the same attempt may have left them)."""
        d = f'"$HOME/{self.root}/{int(job_id)}"'
        parts = []
        for suffix, text in files.items():
            path = f"{d}/{key}.{suffix}"
            parts.append(f"rm -f {path} && (set -C; printf '%s' {q(text)} > {path})")
        lines = await self.call(" && ".join(parts) + " || echo 'roost-write-failed'")
        if "roost-write-failed" in lines:
            raise AgentError(f"{self.node}: cannot write the files of task {job_id}/{key}")

    async def launch(self, lines: list[str]) -> dict[str, int]:
        """Run launch lines (see launch_line); key -> pid of each started task."""
        out = await self.call("\n".join(lines))
        pids = {}
        for line in out:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "P":
                pids[parts[1]] = int(parts[2])
        return pids

    async def poll(self, keys: list[str]) -> list[Status]:
        if not keys:
            return []
        script = (f'cd "$HOME/{self.root}" && for k in {" ".join(q(k) for k in keys)}; do\n'
                  f"{POLL_BODY}done")
        return [parse_status(line) for line in await self.call(script) if line[:2] in _KINDS]

    async def signal(self, pids: list[int], sig: str) -> None:
        """Signal whole process groups (the task and everything it started)."""
        if pids:
            cmds = "; ".join(f"kill -{sig} -{int(p)} 2>/dev/null" for p in pids)
            await self.call(cmds + "; :")

    async def shared(self, path: str) -> bool:
        lines = await self.call(f"[ -f {q(path)} ] && [ -w {q(path.rsplit('/', 1)[0] or '/')} ]"
                                " && echo yes || echo no")
        return lines == ["yes"]

    async def cleanup(self, job_id: int) -> None:
        await self.cleanup_many([job_id])

    async def cleanup_many(self, job_ids: list[int]) -> None:
        dirs = " ".join(f'"$HOME/{self.root}/{int(j)}"' for j in job_ids)
        await self.call(f"rm -rf {dirs}")

    async def job_dirs(self) -> list[int]:
        """The job directories under this queue's root on the node (names are job ids)."""
        lines = await self.call(f'cd "$HOME/{self.root}" 2>/dev/null && for j in [0-9]*; do '
                                '[ -d "$j" ] && echo "J $j"; done; :')
        return [int(line[2:]) for line in lines if line.startswith("J ") and line[2:].isdigit()]


# The jobs tree was created by older versions with the login umask: make it owner-only.
_PRIVATE = ('chmod 700 "$HOME/.roost" "$HOME/.roost/jobs" "$HOME/{root}/.." "$HOME/{root}" '
            '2>/dev/null; '
            'chmod 600 "$HOME/{root}/events"')
_KINDS = ("X ", "R ", "G ", "N ")
# Exit file first; then the process group, or the pid itself (just forked, not yet setsid);
# then the exit file again (the task may just have ended between the two checks). Each line
# ends with what the task's wrapper ended it for, if anything (KEY.why).
POLL_BODY = """\
w=; [ -s "$k.why" ] && read w < "$k.why"
if [ -s "$k.exit" ]; then read rc < "$k.exit"; echo "X $k $rc $w"
elif [ -s "$k.pid" ]; then read p < "$k.pid"
  if kill -0 -"$p" 2>/dev/null || kill -0 "$p" 2>/dev/null; then echo "R $k $p"
  elif [ -s "$k.exit" ]; then read rc < "$k.exit"; echo "X $k $rc $w"
  else echo "G $k $p $w"; fi
else echo "N $k"; fi
"""


def parse_status(line: str) -> Status:
    parts = line.split()
    value = int(parts[2]) if len(parts) > 2 and parts[2].lstrip("-").isdigit() else None
    why = parts[3] if len(parts) > 3 and parts[3] in WHY else None
    return Status(parts[1], parts[0], value, why)


WHY = ("timeout", "oom")


def launch_line(root: str, job_id: int, key: str, index: int | None, task_job_id: int, out: str,
                err: str | None, cpus: str | None = None) -> str:
    """One task: detached in its own session; the agent records its pid before replying."""
    d = f'"$HOME/{root}/{job_id}"'
    idx = "" if index is None else str(index)
    args = " ".join(q(a) for a in (key, idx or "-", task_job_id, out, err or "-", cpus or "-"))
    return (f"setsid sh {d}/run {args} </dev/null >/dev/null 2>&1 & "
            f"echo $! > {d}/{key}.pid; echo \"P {job_id}/{key} $!\"")


@dataclass(frozen=True, slots=True)
class Wrapper:
    """What one job's wrapper on one node holds (see wrapper_script)."""
    root: str
    job_id: int
    env: dict[str, str]
    clean_env: bool = False       # --export=NONE
    chdir: str = "/"
    args: tuple[str, ...] = ()    # the script's $1 $2 ...
    append: bool = False          # --open-mode=append (LSF -o)
    limits: Limits = Limits()


def wrapper_script(w: Wrapper) -> str:
    """The per-job task wrapper: args KEY INDEX TASK_JOB_ID OUT ERR CORES ("-": no index /
    stderr with stdout / not pinned). KEY.env, when there, adds the task's own variables (an
    allocation's nodes, its hostfile). Output files are truncated (sbatch's default) or
    appended to; the script runs under the node's limits tools (console.jobs.limits).

    A TERM for the group reaches the script; the wrapper traps it so it still records the exit
    code. KILL takes both: then there is no exit file and roost knows why (it, or the watcher
    that then writes -9 and the reason, sent the KILL).
    """
    exports = "\n".join(f"export {k}={q(v)}" for k, v in w.env.items())
    command = " ".join(['"$d/script"'] + [q(a) for a in w.args])
    open_file = ": >>" if w.append else "true >"
    return f"""\
d="$HOME/{w.root}/{w.job_id}" job={w.job_id} events="$HOME/{w.root}/events"
{WATCHER}
if [ "$1" = --watch ]; then shift; watch "$@"; exit 0; fi
trap 'sig=1' TERM INT HUP QUIT USR1 USR2 ALRM
u="${{ROOST_UMASK:-022}}"; unset ROOST_UMASK; umask 077
{exports}
k=$1 c=${{6:--}}
export SLURM_JOB_ID="$3" SLURM_JOBID="$3"
if [ "$2" != - ]; then export SLURM_ARRAY_TASK_ID="$2" LSB_JOBINDEX="$2"
else export LSB_JOBINDEX=0; fi   # LSF's value outside an array
[ -f "$d/$k.env" ] && . "$d/$k.env"
rc=0 o=$4 e=$5
set -- {command}
{_clean_env(w)}{command_lines(w.limits)}
if ! (umask "$u"; {open_file}"$o") 2>/dev/null; then rc=1
elif [ "$e" != - ] && ! (umask "$u"; {open_file}"$e") 2>/dev/null; then rc=1
else
  exec >>"$o"
  if [ "$e" = - ]; then exec 2>&1; else exec 2>>"$e"; fi
  if cd {cd_argument(w.chdir)} 2>/dev/null; then
    {watch_start(w.limits)}
    (umask "$u"; exec "$@") </dev/null || rc=$?
    [ -n "$w" ] && kill "$w" 2>/dev/null
  else echo {q("roost: cannot chdir to " + w.chdir)} >&2; rc=1; fi
fi
y=; [ -s "$d/$k.why" ] && read y < "$d/$k.why"
[ -s "$d/$k.exit" ] || echo "$rc" > "$d/$k.exit"
echo "$job $k $rc $y" >> "$events"
"""


def _clean_env(w: Wrapper) -> str:
    """--export=NONE: only roost's variables and the ones the user listed reach the script."""
    if not w.clean_env:
        return ""
    names = " ".join(f'{k}="${k}"' for k in w.env)
    task = ("${SLURM_ARRAY_TASK_ID+SLURM_ARRAY_TASK_ID=$SLURM_ARRAY_TASK_ID} "
            "${LSB_JOBINDEX+LSB_JOBINDEX=$LSB_JOBINDEX}")
    return (f'set -- env -i HOME="$HOME" USER="$USER" PATH=/usr/local/bin:/usr/bin:/bin '
            f'SLURM_JOB_ID="$SLURM_JOB_ID" SLURM_JOBID="$SLURM_JOBID" {task} {names} "$@"\n')


class Events:
    """The events feed: calls on_line(node, job_id, key, rc, why) for each task end, from
    `offset` on."""

    def __init__(self, node: str, conn: asyncssh.SSHClientConnection, root: str,
                 on_line: Callable[[str, int, str, int, str | None], None],
                 on_close: Callable[[Events], None] | None = None):
        self.node, self.conn, self.root, self.on_line = node, conn, root, on_line
        self.on_close = on_close
        self._proc: asyncssh.SSHClientProcess[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._slot: asyncio.Semaphore | None = None

    async def start(self, offset: int) -> None:
        self._slot = slot = channel_slot(self.conn)
        await slot.acquire()
        f = f'"$HOME/{self.root}/events"'
        # --pid: GNU tail quits with the session; busybox has no --pid, so fall back.
        cmd = (f"exec tail -c +{offset + 1} -f --pid=$PPID {f} 2>/dev/null || "
               f"exec tail -c +{offset + 1} -f {f}")
        try:
            self._proc = proc = await self.conn.create_process(cmd, encoding="utf-8",
                                                               stderr=asyncssh.DEVNULL)
        except (asyncssh.Error, OSError) as exc:
            self._slot = None      # given back here: close() must not give it back again
            slot.release()
            raise AgentError(f"{self.node}: cannot follow job events: {exc}") from None
        self._task = asyncio.get_running_loop().create_task(self._read(proc))

    async def _read(self, proc: asyncssh.SSHClientProcess[str]) -> None:
        try:
            async for line in proc.stdout:
                parts = line.split()
                if len(parts) in (3, 4) and parts[0].isdigit() and \
                        parts[2].lstrip("-").isdigit():
                    why = parts[3] if len(parts) == 4 and parts[3] in WHY else None
                    self.on_line(self.node, int(parts[0]), parts[1], int(parts[2]), why)
        except (asyncssh.Error, OSError):
            pass
        if self.on_close is not None:   # the feed ending means the channel or node went away
            self.on_close(self)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._proc is not None:
            self._proc.close()
        if self._slot is not None:
            self._slot.release()
            self._slot = None
