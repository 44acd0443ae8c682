"""The Slurm backend: roost drives a real Slurm over SSH to its controller node.

    [jobs]
    backend = "slurm"          # builtin (default) | slurm
    controller = "ctl"         # the node roost logs in to for sbatch/squeue/scancel/scontrol/sinfo
    slurm_conf = "/etc/slurm-llnl/slurm.conf"   # optional: SLURM_CONF for those commands
    squeue_json = true         # optional: false never tries `squeue --json`

Jobs run as the SSH login user of the controller; relative paths (-o, -D) are relative to that
user's login directory there. Scripts travel on sbatch's stdin, never as a console-host path.
Every remote argument is shlex-quoted. Failures are SlurmError: one line, Slurm's own words.
"""
from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncssh

from collectors.model import NodeTarget
from collectors.transport import TransportError, channel_slot, connect as transport_connect
from console.config import Config, JobsConfig
from console.errors import RoostError
from console.jobs import slurm_parse as sp
from console.jobs.model import JobSpec
from console.jobs.spec import format_dependency, format_hostlist, format_indices, format_time

TIMEOUT = 30.0
# Slurm refuses suspend/resume to ordinary users; say what it needs instead of only "denied"
OPERATOR_HINT = ("scontrol {action} needs root or SlurmUser on the controller: log in there as "
                 "such ([nodes] user for the controller node)")


class SlurmError(RoostError):
    """One line: what failed and why, in Slurm's words where it gave any."""


class SlurmConfigError(SlurmError):
    pass


@dataclass(frozen=True, slots=True)
class SlurmOptions:
    controller: str
    slurm_conf: str | None = None
    squeue_json: bool = True


def slurm_options(jobs: JobsConfig, node_names: Sequence[str]) -> SlurmOptions:
    """[jobs] of a backend = "slurm" config (types checked at load): the controller must be a
    known node."""
    controller = jobs.controller
    if not controller:
        raise SlurmConfigError('[jobs] controller: expected the name of the node that runs the '
                               'Slurm client commands (backend = "slurm")')
    if node_names and controller not in node_names:
        raise SlurmConfigError(f"[jobs] controller: no node named {controller!r}")
    return SlurmOptions(controller, jobs.slurm_conf, jobs.squeue_json)


def spec_flags(spec: JobSpec) -> list[str]:
    """sbatch flags for a JobSpec built by roost (TUI or directives). The script keeps its own
    #SBATCH lines; these flags win over them as on the command line."""
    flags = [f"--job-name={spec.name}"]
    if spec.cpus != 1:
        flags.append(f"--cpus-per-task={spec.cpus}")
    if spec.mem_mb is not None:
        flags.append(f"--mem={spec.mem_mb}M")
    if spec.time_limit is not None:
        flags.append(f"--time={format_time(spec.time_limit)}")
    if spec.array is not None:
        limit = f"%{spec.array_limit}" if spec.array_limit else ""
        flags.append(f"--array={format_indices(list(spec.array))}{limit}")
    flags += [f"--output={spec.output}"] if spec.output else []
    flags += [f"--error={spec.error}"] if spec.error else []
    if spec.dependencies.items:
        flags.append(f"--dependency={format_dependency(spec.dependencies)}")
    flags += [f"--nodelist={format_hostlist(spec.nodelist)}"] if spec.nodelist else []
    flags += [f"--exclude={format_hostlist(spec.exclude)}"] if spec.exclude else []
    flags += [f"--chdir={spec.chdir}"] if spec.chdir else []
    flags += ["--requeue"] if spec.requeue else []
    flags += ["--spread-job"] if spec.spread else []
    return flags


Factory = Callable[[], Awaitable[asyncssh.SSHClientConnection]]


class SlurmBackend:
    """Slurm's client commands on the controller, over one SSH connection opened on first use.

    SlurmBackend(target) opens (and closes) its own connection; SlurmBackend(factory) asks a
    zero-argument coroutine function for one (e.g. the console Fleet's) and never closes it.
    squeue_json: None detects `squeue --json` once, False never tries it.
    """

    def __init__(self, target: NodeTarget | Factory, *, slurm_conf: str | None = None,
                 squeue_json: bool | None = None, timeout: float = TIMEOUT):
        if isinstance(target, NodeTarget):
            self.name, self._owned = target.name, True
            self._connect: Factory = lambda: transport_connect(target)
        else:
            self.name, self._owned, self._connect = "controller", False, target
        self.slurm_conf, self.timeout = slurm_conf, timeout
        self._json = None if squeue_json is None or squeue_json else False
        self._conn: asyncssh.SSHClientConnection | None = None

    @classmethod
    def from_config(cls, config: Config) -> SlurmBackend:
        opts = slurm_options(config.jobs, config.names)
        found = config.targets(opts.controller)
        if not found:
            raise SlurmConfigError(f"[jobs] controller: no node named {opts.controller!r}")
        target, = found
        return cls(target, slurm_conf=opts.slurm_conf,
                   squeue_json=None if opts.squeue_json else False)

    async def __aenter__(self) -> SlurmBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._owned:
            conn.close()
            await conn.wait_closed()

    # --- the remote side ----------------------------------------------------------------

    def command(self, argv: Sequence[str]) -> str:
        """The shell line for argv on the controller (every word quoted; SLURM_CONF if set)."""
        words = [shlex.quote(w) for w in argv]
        if self.slurm_conf:
            words = ["env", shlex.quote(f"SLURM_CONF={self.slurm_conf}")] + words
        return " ".join(words)

    async def _exec(self, argv: Sequence[str], stdin: str | None = None
                    ) -> tuple[int, str, str]:
        conn = await self._connection()
        try:
            async with channel_slot(conn):
                done = await conn.run(self.command(argv), input=stdin, check=False,
                                      timeout=self.timeout)
        except asyncssh.TimeoutError:
            raise SlurmError(f"{self.name}: {argv[0]} timed out after {self.timeout:g} s") \
                from None
        except (asyncssh.Error, OSError) as exc:
            self._conn = None
            raise SlurmError(f"{self.name}: {argv[0]}: connection lost ({exc})") from None
        code = done.returncode if done.returncode is not None else -1
        return code, _text(done.stdout), _text(done.stderr)

    async def _connection(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            try:
                self._conn = await self._connect()
            except TransportError as exc:
                raise SlurmError(str(exc)) from None
        return self._conn

    async def _checked(self, argv: Sequence[str], stdin: str | None = None) -> str:
        code, out, err = await self._exec(argv, stdin)
        if code != 0:
            raise SlurmError(self._failure(argv[0], code, err))
        return out

    def _failure(self, program: str, code: int, stderr: str) -> str:
        if code == 127:
            return f"{self.name}: {program} not found on the controller (is Slurm installed?)"
        return sp.error_line(stderr, program)

    # --- jobs ---------------------------------------------------------------------------

    async def submit(self, job: JobSpec | str | None, flags: Sequence[str] = (), *,
                     wrap: str | None = None) -> int:
        """sbatch --parsable: a JobSpec, script text, or wrap=CMD (then no script). -> job id"""
        argv, script = self._sbatch_argv(job, flags, wrap)
        return sp.parse_sbatch(await self._checked(argv, script))

    async def submit_wait(self, job: JobSpec | str | None, flags: Sequence[str] = (), *,
                          wrap: str | None = None,
                          on_id: Callable[[int], None] | None = None) -> tuple[int, int]:
        """sbatch --parsable --wait: (job id, the job's exit status as sbatch reports it).
        on_id(job_id) is called as soon as sbatch prints the id, long before the job ends."""
        argv, script = self._sbatch_argv(job, [*flags, "--wait"], wrap)
        conn = await self._connection()
        try:
            async with channel_slot(conn):
                return await self._wait_process(conn, argv, script, on_id)
        except (asyncssh.Error, OSError) as exc:
            self._conn = None
            raise SlurmError(f"{self.name}: sbatch: connection lost ({exc})") from None

    async def _wait_process(self, conn: asyncssh.SSHClientConnection, argv: list[str],
                            script: str | None,
                            on_id: Callable[[int], None] | None) -> tuple[int, int]:
        async with conn.create_process(self.command(argv), encoding="utf-8",
                                       errors="replace") as proc:
            if script is not None:
                proc.stdin.write(script)
            proc.stdin.write_eof()
            first = await proc.stdout.readline()
            if first.strip() and on_id is not None:
                on_id(sp.parse_sbatch(first))
            done = await proc.wait(check=False)
        code = done.returncode if done.returncode is not None else -1
        try:
            job_id = sp.parse_sbatch(first)
        except sp.ParseError:
            raise SlurmError(self._failure("sbatch", code, _text(done.stderr))) from None
        return job_id, code

    def _sbatch_argv(self, job: JobSpec | str | None, flags: Sequence[str],
                     wrap: str | None) -> tuple[list[str], str | None]:
        argv = ["sbatch", "--parsable"]
        if isinstance(job, JobSpec):
            argv += spec_flags(job)
            script: str | None = job.script
        else:
            script = job
        argv += list(flags)
        if wrap is not None:
            return argv + ["--wrap", wrap], None
        if not script:
            raise SlurmError("Batch script is empty! (give a script or --wrap CMD)")
        return argv, script

    async def queue(self, jobs: Sequence[str] = (), *, all_states: bool = False,
                    expand: bool = False) -> list[sp.JobRow]:
        """squeue's rows (pending array tasks folded as 12_[3-9] unless expand)."""
        if self._json is not False and not expand:
            rows = await self._queue_json()
            if rows is not None:
                return _filter(rows, jobs, all_states)
        argv = ["squeue", "-h", "-o", sp.TEXT_FORMAT]
        argv += ["-r"] if expand else []
        argv += ["-t", "all"] if all_states else []
        argv += ["-j", ",".join(jobs)] if jobs else []
        return sp.parse_squeue_text(await self._checked(argv))

    async def _queue_json(self) -> list[sp.JobRow] | None:
        """None when this squeue has no JSON output (22.05 needs its openapi plugins)."""
        # the controller's own clock dates the run times (no skew with the console host)
        code, out, _ = await self._exec(["sh", "-c", "squeue --json && echo && date +%s"])
        body, _, now = out.rstrip().rpartition("\n")
        if code != 0 or not body.lstrip().startswith("{") or not now.isdigit():
            self._json = False
            return None
        self._json = True
        return sp.parse_squeue_json(body, float(now))

    async def cancel(self, ids: Sequence[str]) -> list[str]:
        """scancel each id; the errors (one line each) for ids Slurm refused."""
        # without -v scancel says nothing and exits 0 for a job it does not know
        return await self._each(ids, lambda i: ["scancel", "-v", i], "scancel")

    async def suspend(self, ids: Sequence[str]) -> list[str]:
        return await self._each(ids, lambda i: ["scontrol", "suspend", i], "suspend")

    async def resume(self, ids: Sequence[str]) -> list[str]:
        return await self._each(ids, lambda i: ["scontrol", "resume", i], "resume")

    async def _each(self, ids: Sequence[str], argv_for: Callable[[str], list[str]],
                    action: str) -> list[str]:
        errors: list[str] = []
        for job_id in ids:
            code, _, err = await self._exec(argv_for(job_id))
            if code != 0 or "error: " in err:
                errors.append(self._refusal(action, job_id, code, err))
        return errors

    def _refusal(self, action: str, job_id: str, code: int, err: str) -> str:
        line = self._failure(action if action == "scancel" else "scontrol", code, err)
        if "denied" in line.lower() and action in ("suspend", "resume"):
            return f"{job_id}: {line} ({OPERATOR_HINT.format(action=action)})"
        return line if job_id in line else f"{job_id}: {line}"

    async def job(self, job_id: str) -> list[dict[str, str]]:
        """scontrol show job -o ID: one record per job (per task for an array)."""
        try:
            out = await self._checked(["scontrol", "show", "job", "-o", job_id])
        except SlurmError as exc:
            raise SlurmError(f"{exc}: {job_id}" if job_id not in str(exc) else str(exc)) from None
        return sp.parse_scontrol(out)

    async def partitions(self) -> list[sp.Partition]:
        return sp.parse_partitions(await self._checked(
            ["sinfo", "-h", "-o", sp.PARTITION_FORMAT]))

    async def nodes(self) -> list[sp.SlurmNode]:
        return sp.parse_nodes(await self._checked(["sinfo", "-h", "-N", "-o", sp.NODE_FORMAT]))


def _filter(rows: list[sp.JobRow], jobs: Sequence[str], all_states: bool) -> list[sp.JobRow]:
    """What squeue -j/-t would keep of the JSON document (which lists every job it knows)."""
    whole = {j for j in jobs if "_" not in j}
    return [r for r in rows if (all_states or not r.state.done)
            and (not jobs or str(r.job) in whole or r.job_id in jobs)]


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
