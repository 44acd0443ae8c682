"""Where a task's output goes and how it gets there.

task_outputs expands the -o/-e patterns to absolute paths on the console's host. A node that
shares the directory writes there itself (probed once per directory with a random file);
otherwise the task writes inside its job directory on the node and the output is fetched over
SFTP when it ends.
"""
from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import cast

import asyncssh

from collectors.transport import channel_slot
from console.jobs.core import Link, Running, SchedulerCore
from console.jobs.model import JobSpec, State, Task
from console.jobs.outpaths import absolute, path_safe, task_outputs  # noqa: F401 (re-exported)
from console.jobs.remote import Agent

log = logging.getLogger("roost.jobs")
CHUNK = 1 << 20


def write_private(local: str) -> int:
    """Open local for writing the way a fetch must: inside its directory (opened by the user's
    path), never through a symlink or onto a non-regular file (O_NOFOLLOW, O_NONBLOCK against a
    planted FIFO), created 0666 & ~umask or truncated. Returns the fd."""
    directory, name = os.path.split(local)
    dir_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{local}: not a regular file")
    os.set_blocking(fd, True)
    os.ftruncate(fd, 0)
    return fd


async def fetch_file(sftp: asyncssh.SFTPClient, remote: str, local: str) -> None:
    """Copy a node's file to local through write_private (never sftp.get: it follows links)."""
    fd = write_private(local)
    try:
        async with sftp.open(remote, "rb") as src:
            while True:
                chunk = cast(bytes, await src.read(CHUNK))   # mode rb; typed AnyStr
                if not chunk:
                    break
                os.write(fd, chunk)
    finally:
        os.close(fd)


class OutputsMixin(SchedulerCore):
    """Output paths and SFTP fetches for Scheduler."""

    async def _fetch(self, link: Link, r: Running, missing_ok: bool = False) -> bool | None:
        """True: outputs in place; False: they cannot be (task FAILED, reason recorded);
        None: the connection went away, try again after re-attaching. missing_ok: a file the
        task never wrote is no error (a task lost mid-run)."""
        pairs = [(r.remote_out, r.out)]
        if r.err is not None and r.remote_err is not None:   # both set, or neither
            pairs.append((r.remote_err, r.err))
        if all(remote == local for remote, local in pairs):
            return True
        try:
            async with link.sftp_lock:   # concurrent fetches share one client
                if link.sftp is None:
                    await self._start_sftp(link)
            for remote, local in pairs:
                if remote != local and not (missing_ok and not await _sftp(link).exists(remote)):
                    await fetch_file(_sftp(link), remote, local)
            return True
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, asyncssh.ChannelOpenError,
                AttributeError, BrokenPipeError, ConnectionError):
            return None
        except (asyncssh.Error, OSError) as exc:
            log.warning("jobs: %s: cannot fetch output of %s: %s", link.target.name,
                        r.task.label, exc)
            self.store.set_reason(r.task, f"OutputFetchFailed: {exc}")
            return False

    async def _fetch_lost(self, link: Link, keys: list[str]) -> None:
        """What tasks given up as NODE_FAIL wrote on this node before it went away, brought to
        their output paths (unless a requeued attempt owns those paths now)."""
        runs = []
        for key in keys:
            job, _, rest = key.partition("/")
            pos, _, attempt = rest.partition(".")
            task = next((t for t in self.store.tasks(int(job)) if t.pos == int(pos)), None)
            if task is not None and task.state is State.NODE_FAIL \
                    and task.attempt == int(attempt) and task.node == link.target.name:
                runs.append(self._tracking(task, link))
        if not runs:
            return
        await self._probe_dirs(link, runs)
        for r in runs:
            r.remote_out, r.remote_err = self._remote_paths(link, r.task, r.out, r.err)
            await self._fetch(link, r, missing_ok=True)

    async def _start_sftp(self, link: Link) -> None:
        conn = link.conn
        if conn is None:    # dropped since the task ended: fetched after re-attaching
            raise asyncssh.ConnectionLost(f"{link.target.name}: not connected")
        slot = channel_slot(conn)   # SFTP is a channel too: stay within the budget
        await slot.acquire()
        try:
            link.sftp = await conn.start_sftp_client()
        except BaseException:
            slot.release()
            raise
        link.sftp_slot = slot

    async def _probe_dirs(self, link: Link, runs: list[Running]) -> None:
        dirs = {os.path.dirname(p) for r in runs for p in (r.out, r.err)
                if p and p != os.devnull}
        for d in dirs - set(link.shared):
            link.shared[d] = await probe_shared(link.require_agent(), d)

    def _paths(self, spec: JobSpec, task: Task, node: str) -> tuple[str, str | None]:
        return task_outputs(spec, task, node)

    def _remote_paths(self, link: Link, task: Task, out: str,
                      err: str | None) -> tuple[str, str | None]:
        base = f"{link.require_info().home}/{link.root}/{task.job_id}/{task.pos}.{task.attempt}"

        def where(path: str, suffix: str) -> str:
            if path == os.devnull:   # /dev/null is everyone's
                return path
            return path if link.shared.get(os.path.dirname(path)) else f"{base}.{suffix}"
        return where(out, "out"), None if err is None else where(err, "err")


def _sftp(link: Link) -> asyncssh.SFTPClient:
    """The link's SFTP client; gone when the link dropped meanwhile (fetch again later)."""
    if link.sftp is None:
        raise asyncssh.ConnectionLost(f"{link.target.name}: SFTP client closed")
    return link.sftp


async def probe_shared(agent: Agent, directory: str) -> bool:
    """Does the node see this console directory (same file, writable)? A random file decides."""
    probe = Path(directory) / f".roost-probe-{secrets.token_hex(8)}"
    try:    # a fresh name, created here (O_EXCL): never written through what was there
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    except OSError:
        return False
    try:
        return await agent.shared(str(probe))
    finally:
        probe.unlink(missing_ok=True)
