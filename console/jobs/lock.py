"""One scheduler at a time: an flock on <state dir>/scheduler.lock, held for the holder's life.

The kernel drops an flock when its holder exits, even on kill -9, so a crashed console never
leaves a stale lock behind. The file holds the holder's pid for `roost queue` to show.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path


class SchedulerLock:
    def __init__(self, state_dir: str | Path):
        self.path = Path(state_dir) / "scheduler.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)   # closing the only fd drops the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> int | None:
        """The pid of the current holder, or None when nobody schedules."""
        if self._fd is not None:
            return os.getpid()
        probe = SchedulerLock(self.path.parent)
        if probe.acquire():
            probe.release()
            return None
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def __enter__(self) -> SchedulerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
