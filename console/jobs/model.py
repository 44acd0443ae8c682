"""Job and task model: the submitted spec, task states and the allowed transitions. Pure.

A job is what one `submit` made; it has one task (plain job) or one per array index. Each task
has its own Slurm-style job id (SLURM_JOB_ID): job.id + position, so a job reserves a block of
ids the size of its array.
"""
from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field

from console.errors import RoostError
from console.jobs.spec import Dependencies, Dependency, Export


class State(str, enum.Enum):  # noqa: UP042 - StrEnum would change str(State.X)
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"

    @property
    def code(self) -> str:
        """squeue's compact ST column."""
        return _CODES[self]

    @property
    def done(self) -> bool:
        return self in FINISHED


_CODES = {State.PENDING: "PD", State.RUNNING: "R", State.SUSPENDED: "S", State.COMPLETED: "CD",
          State.FAILED: "F", State.CANCELLED: "CA", State.TIMEOUT: "TO", State.NODE_FAIL: "NF",
          State.OUT_OF_MEMORY: "OOM"}
FINISHED = frozenset({State.COMPLETED, State.FAILED, State.CANCELLED, State.TIMEOUT,
                      State.NODE_FAIL, State.OUT_OF_MEMORY})
ACTIVE = frozenset({State.RUNNING, State.SUSPENDED})

_ENDS = {State.COMPLETED, State.FAILED, State.CANCELLED, State.TIMEOUT, State.NODE_FAIL,
         State.OUT_OF_MEMORY}
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.RUNNING, State.CANCELLED}),
    State.RUNNING: frozenset({State.SUSPENDED, State.PENDING} | _ENDS),   # PENDING = requeue
    State.SUSPENDED: frozenset({State.RUNNING, State.PENDING} | _ENDS),
    State.NODE_FAIL: frozenset({State.PENDING}),                          # --requeue
    State.COMPLETED: frozenset(), State.FAILED: frozenset(), State.CANCELLED: frozenset(),
    State.TIMEOUT: frozenset(), State.OUT_OF_MEMORY: frozenset(),
}


class TransitionError(RoostError, ValueError):
    pass


def check_transition(old: State, new: State) -> None:
    if new not in TRANSITIONS[old]:
        raise TransitionError(f"task cannot go from {old.value} to {new.value}")


_KILLED = {"cancel": State.CANCELLED, "timeout": State.TIMEOUT, "oom": State.OUT_OF_MEMORY,
           "node_fail": State.NODE_FAIL}


def final_state(exit_code: int | None, kill_reason: str | None) -> State:
    """What a finished process means: why it was killed (by the console: cancel, timeout; or
    by its wrapper on the node: timeout, oom) wins over the exit code."""
    if kill_reason in _KILLED:
        return _KILLED[kill_reason]
    return State.COMPLETED if exit_code == 0 else State.FAILED


# Pending reasons, named like squeue's.
REASON_PRIORITY = "Priority"
REASON_RESOURCES = "Resources"
REASON_DEPENDENCY = "Dependency"
REASON_NEVER = "DependencyNeverSatisfied"
REASON_ARRAY_LIMIT = "JobArrayTaskLimit"
REASON_NODES = "ReqNodeNotAvail"
REASON_BAD = "BadConstraints"
REASON_BEGIN = "BeginTime"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything `submit` decided; stored as JSON with the job."""
    script: str                       # the script text (--wrap becomes "#!/bin/sh\nCMD\n")
    name: str = "sbatch"
    cpus: int = 1
    mem_mb: int | None = None         # per node; 0 = the whole node
    time_limit: int | None = None     # seconds
    array: tuple[int, ...] | None = None
    array_limit: int | None = None
    output: str | None = None         # pattern; None = slurm-%j.out / slurm-%A_%a.out
    error: str | None = None          # pattern; None = with the output
    dependencies: Dependencies = field(default_factory=Dependencies)
    nodelist: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    chdir: str | None = None
    export: Export = field(default_factory=Export)
    requeue: bool | None = None       # None: the backend's default (built-in: yes, as Slurm)
    submit_dir: str = "/"
    user: str = ""
    warnings: tuple[str, ...] = ()
    args: tuple[str, ...] = ()        # the script's arguments ($1 $2 ...)
    nodes: int = 1                    # -N: nodes per allocation (the minimum of N-M)
    nodes_max: int | None = None
    num_tasks: int | None = None      # -n: tasks (MPI ranks) per allocation
    tasks_per_node: int | None = None
    exclusive: bool = False           # whole nodes, shared with no other job
    spread: bool = False              # --spread-job / -m cyclic: one task per node in turn
    mem_per_cpu: int | None = None    # MB per allocated CPU (instead of --mem per node)
    begin: float | None = None        # epoch seconds: not eligible before
    nice: int = 0                     # lower runs first among pending jobs
    open_mode: str = "truncate"       # output files: truncate (sbatch) | append (LSF's -o)
    candidates: tuple[str, ...] = ()  # LSF -m: runs on any one of these (-w needs them all)
    script_path: str | None = None    # the script file submitted (None: --wrap, stdin)

    @property
    def ntasks(self) -> int:
        """Rows of this job: its array's size (1 for a plain job)."""
        return len(self.array) if self.array is not None else 1

    @property
    def node_count(self) -> int:
        """Nodes one allocation needs: -N, and every node -w names (as Slurm)."""
        return max(self.nodes, len(self.nodelist))

    @property
    def total_tasks(self) -> int:
        """Slurm's NumTasks: -n, else --ntasks-per-node on each node, else one per node."""
        if self.num_tasks is not None:
            return self.num_tasks
        return self.node_count * (self.tasks_per_node or 1)

    @property
    def allocation(self) -> bool:
        """More than one task or node: placed as one allocation, the script on its first."""
        return self.node_count > 1 or self.total_tasks > 1 or self.exclusive

    @property
    def work_dir(self) -> str:
        return self.chdir or self.submit_dir

    def output_pattern(self, in_array: bool | None = None) -> str:
        """The --output pattern, else sbatch's default. The stored spec keeps no array (its
        indices live in the tasks table), so callers holding a task say whether it is one."""
        if self.output:
            return self.output
        if in_array is None:
            in_array = self.array is not None
        return "slurm-%A_%a.out" if in_array else "slurm-%j.out"

    def to_json(self) -> str:
        data = asdict(self)
        data["array"] = None   # indices live in the tasks table; 10,000 of them need no JSON
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, array: tuple[int, ...] | None = None) -> JobSpec:
        data = json.loads(text)
        deps = data.pop("dependencies")
        data["dependencies"] = Dependencies(
            tuple(Dependency(**d) for d in deps["items"]), deps["any_of"])
        exp = data.pop("export")
        data["export"] = Export(exp["clean"], tuple(tuple(v) for v in exp["values"]),
                                exp.get("all", False),
                                tuple(tuple(v) for v in exp.get("inherited", ())))
        for key in ("nodelist", "exclude", "warnings", "args", "candidates"):
            data[key] = tuple(data.get(key, ()))
        data["array"] = array
        return cls(**data)


@dataclass(slots=True)
class Task:
    """One row of the tasks table."""
    job_id: int
    pos: int                          # 0-based position in the array
    index: int | None                 # array index (None for a plain job)
    state: State = State.PENDING
    reason: str = REASON_PRIORITY
    node: str | None = None
    start: float | None = None
    end: float | None = None
    exit_code: int | None = None
    attempt: int = 0
    pid: int | None = None
    want: str | None = None           # a client's request: cancel | suspend | resume
    kill_reason: str | None = None    # why the scheduler signalled it: cancel | timeout
    suspended: float = 0.0            # seconds spent SUSPENDED (not counted by --time)
    suspended_at: float | None = None
    alloc: tuple[tuple[str, int], ...] = ()   # (node, tasks) of a multi-node allocation
    cpuset: str | None = None         # the cores it is pinned to on its node ("0-1")

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every node it holds: its allocation, else its one node."""
        if self.alloc:
            return tuple(n for n, _ in self.alloc)
        return (self.node,) if self.node else ()

    def elapsed(self, now: float) -> float:
        """Run time so far (or in total once ended), without the time spent suspended."""
        if self.start is None:
            return 0.0
        until = self.end if self.end is not None else now
        stopped = self.suspended + ((until - self.suspended_at) if self.suspended_at else 0.0)
        return max(0.0, until - self.start - stopped)

    @property
    def task_job_id(self) -> int:
        return self.job_id + self.pos

    @property
    def label(self) -> str:
        return str(self.job_id) if self.index is None else f"{self.job_id}_{self.index}"
