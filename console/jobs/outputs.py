"""Where a task's output goes and how it gets there.

task_outputs expands the -o/-e patterns to absolute paths on the console's host. A node that
shares the directory writes there itself (probed once per directory with a random file);
otherwise the task writes inside its job directory on the node and the output is fetched over
SFTP when it ends.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh

from collectors.transport import channel_slot
from console.jobs.model import JobSpec, Task
from console.jobs.remote import Agent
from console.jobs.spec import PatternValues, expand_pattern

if TYPE_CHECKING:
    from console.jobs.links import Link
    from console.jobs.tracking import Running

log = logging.getLogger("roost.jobs")


def task_outputs(spec: JobSpec, task: Task, node: str) -> tuple[str, str | None]:
    """(stdout path, stderr path or None) of one task on the console's host."""
    values = PatternValues(task.task_job_id, task.job_id, task.index, spec.name, node,
                           spec.user)
    out = absolute(expand_pattern(spec.output_pattern(task.index is not None), values),
                   spec.work_dir)
    err = absolute(expand_pattern(spec.error, values), spec.work_dir) if spec.error else None
    return out, err


def absolute(path: str, work_dir: str) -> str:
    return os.path.normpath(os.path.join(work_dir, path))


class OutputsMixin:
    """Output paths and SFTP fetches for Scheduler."""

    async def _fetch(self, link: Link, r: Running) -> bool | None:
        """True: outputs in place; False: they cannot be (task FAILED, reason recorded);
        None: the connection went away, try again after re-attaching."""
        pairs = [(r.remote_out, r.out)]
        if r.err is not None:
            pairs.append((r.remote_err, r.err))
        if all(remote == local for remote, local in pairs):
            return True
        try:
            async with link.sftp_lock:   # concurrent fetches share one client
                if link.sftp is None:
                    await self._start_sftp(link)
            for remote, local in pairs:
                if remote != local:
                    await link.sftp.get(remote, local)
            return True
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, asyncssh.ChannelOpenError,
                AttributeError, BrokenPipeError, ConnectionError):
            return None
        except (asyncssh.Error, OSError) as exc:
            log.warning("jobs: %s: cannot fetch output of %s: %s", link.target.name,
                        r.task.label, exc)
            self.store.set_reason(r.task, f"OutputFetchFailed: {exc}")
            return False

    async def _start_sftp(self, link: Link) -> None:
        slot = channel_slot(link.conn)   # SFTP is a channel too: stay within the budget
        await slot.acquire()
        try:
            link.sftp = await link.conn.start_sftp_client()
        except BaseException:
            slot.release()
            raise
        link.sftp_slot = slot

    async def _probe_dirs(self, link: Link, runs: list[Running]) -> None:
        dirs = {os.path.dirname(p) for r in runs for p in (r.out, r.err)
                if p and p != os.devnull}
        for d in dirs - set(link.shared):
            link.shared[d] = await probe_shared(link.agent, d)

    def _paths(self, spec: JobSpec, task: Task, node: str) -> tuple[str, str | None]:
        return task_outputs(spec, task, node)

    def _remote_paths(self, link: Link, task: Task, out: str, err: str | None):
        base = f"{link.info.home}/{link.root}/{task.job_id}/{task.pos}.{task.attempt}"

        def where(path, suffix):
            if path is None or path == os.devnull:   # /dev/null is everyone's
                return path
            return path if link.shared.get(os.path.dirname(path)) else f"{base}.{suffix}"
        return where(out, "out"), where(err, "err")


async def probe_shared(agent: Agent, directory: str) -> bool:
    """Does the node see this console directory (same file, writable)? A random file decides."""
    probe = Path(directory) / f".roost-probe-{os.getpid()}-{id(agent)}"
    try:
        probe.write_text("roost\n")
    except OSError:
        return False
    try:
        return await agent.shared(str(probe))
    finally:
        probe.unlink(missing_ok=True)
