"""Read a file the user named (roost.toml, an inventory, an ssh_config): its text, or one line why not.

Only a regular file is read, or /dev/null (an empty file): a FIFO or a terminal would block
forever and a directory is a slip of the finger. A file over its size cap is refused before it
is read (a 10 MB "config" is the wrong file, and parsing it would take the controller's memory).
Text must be UTF-8: the first bad byte is named by line and column. A leading byte-order mark
(Windows editors write one) is dropped.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from console.errors import RoostError

MiB = 1024 * 1024


class UserFileError(RoostError):
    """One line: "PATH: cannot read WHAT: reason" (or "PATH:LINE: ..." for bad bytes)."""


_REASONS = {errno.ELOOP: "too many levels of symbolic links (a loop?)",
            errno.EACCES: "permission denied", errno.ENOTDIR: "a part of the path is not a directory",
            errno.ENAMETOOLONG: "the path is too long"}


def read_text(path: str | os.PathLike[str], what: str, max_bytes: int) -> str:
    """The file's text; UserFileError (one line naming the path) for anything else."""
    p = Path(path)
    data = _read_bytes(p, what, max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UserFileError(f"{p}:{line}: cannot read {what}: not UTF-8 text "
                            f"(byte 0x{data[exc.start]:02x} at column {column})") from None
    return text.removeprefix("\ufeff")


def _read_bytes(p: Path, what: str, max_bytes: int) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO nobody writes must not hang here (fstat then refuses it)
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _error(p, what, exc) from None
    try:
        _check_kind(p, what, os.fstat(fd), max_bytes)   # before fdopen, which refuses directories
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)       # a /proc file says size 0: count what comes
    except OSError as exc:
        raise _error(p, what, exc) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise _too_big(p, what, max_bytes)
    return data


def _check_kind(p: Path, what: str, st: os.stat_result, max_bytes: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise UserFileError(f"{p}: cannot read {what}: it is a directory")
    if not stat.S_ISREG(st.st_mode) and not _is_devnull(st):
        raise UserFileError(f"{p}: cannot read {what}: not a regular file")
    if st.st_size > max_bytes:
        raise _too_big(p, what, max_bytes, st.st_size)


def _is_devnull(st: os.stat_result) -> bool:
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev


def _too_big(p: Path, what: str, max_bytes: int, size: int | None = None) -> UserFileError:
    has = f"{size:,} bytes" if size is not None else f"over {max_bytes:,} bytes"
    cap = f"{max_bytes // MiB} MiB" if max_bytes >= MiB else f"{max_bytes // 1024} KiB"
    article = "an" if what[:1] in "aeiou" else "a"
    return UserFileError(f"{p}: cannot read {what}: it is {has}, more than the {cap} {article} {what} "
                         "may have (is it the right file?)")


def _error(p: Path, what: str, exc: OSError) -> UserFileError:
    if exc.errno == errno.ENOENT:
        return UserFileError(f"{p}: {what} file not found")
    known = _REASONS.get(exc.errno) if exc.errno is not None else None
    reason = known or (exc.strerror or str(exc)).lower()
    return UserFileError(f"{p}: cannot read {what}: {reason}")
