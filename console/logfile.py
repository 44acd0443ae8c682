"""The console's and `roost serve`'s log file (console.logs.to_file): apart from console.logs so
that a command logging only to stderr (`roost submit` in a shell loop) does not import
logging.handlers (socket, pickle, threading ...).
"""
from __future__ import annotations

import os
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler


class PrivateRotatingFile(RotatingFileHandler):
    """A RotatingFileHandler whose files are created 0600 and never opened through a symlink."""

    def _open(self) -> TextIOWrapper:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.baseFilename, flags, 0o600)
        os.fchmod(fd, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)
