"""Where a task's output files go on the console's host: -o/-e patterns expanded to absolute
paths. Pure (no SSH): the submit-time checks and `roost job` use it without the scheduler.
"""
from __future__ import annotations

import os
import shlex

from console.jobs.model import JobSpec, Task
from console.jobs.spec import PatternValues, expand_pattern


def task_outputs(spec: JobSpec, task: Task, node: str) -> tuple[str, str | None]:
    """(stdout path, stderr path or None) of one task on the console's host. What %x %u %N
    bring in cannot leave the pattern's directory (no "/", no "..")."""
    values = PatternValues(task.task_job_id, task.job_id, task.index, path_safe(spec.name),
                           path_safe(node), path_safe(spec.user))
    out = absolute(expand_pattern(spec.output_pattern(task.index is not None), values),
                   spec.work_dir)
    err = absolute(expand_pattern(spec.error, values), spec.work_dir) if spec.error else None
    return out, err


def path_safe(value: str) -> str:
    """A pattern value as one file-name part: "/" and NUL become "_", ".." becomes "__"."""
    text = value.replace("/", "_").replace("\0", "_").replace("..", "__")
    return "_" if text in ("", ".") else text


def absolute(path: str, work_dir: str) -> str:
    """path from work_dir on the console's host (a node's "~" is the console user's home here:
    output not on a shared file system is fetched to it)."""
    return os.path.normpath(os.path.join(os.path.expanduser(work_dir), path))


def on_node_home(work_dir: str) -> bool:
    """A working directory under "~": the home of the node's login user, whoever that is."""
    return work_dir == "~" or work_dir.startswith("~/")


def cd_argument(work_dir: str) -> str:
    """work_dir as a shell word for cd on a node: quoted, with a leading "~" as $HOME."""
    if on_node_home(work_dir):
        rest = work_dir[2:]
        return '"$HOME"' + (f"/{shlex.quote(rest)}" if rest else "")
    return shlex.quote(work_dir)
