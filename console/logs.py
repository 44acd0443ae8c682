"""Logging, configured once per process by the CLI.

- Every command logs to stderr at WARNING (`-v` INFO, `-vv` DEBUG, or ROOST_LOG=debug|info|
  warning|error; the more verbose of the two wins), one line per record: `roost: message`.
- The console and `roost serve` also keep a rotating log in the state dir (roost.log, 1 MB x 3,
  mode 0600 in a 0700 dir), at INFO unless asked for more. The console logs only there: Textual
  owns the terminal while it runs, so a stray line on stderr would tear the screen. `roost serve`
  keeps its stderr handler too (a service manager's journal reads it).

roost's loggers live under "roost" (roost.jobs ...); other libraries' records reach the same
handlers at WARNING and above, and Python warnings are logged instead of printed.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from collectors.errors import one_line
from console import paths
from console.errors import RoostError

ROOT = "roost"
FILE_NAME = "roost.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_installed: list[logging.Handler] = []   # what the last to_stderr/to_file added


class OneLineFormatter(logging.Formatter):
    """The message folded to one terminal-safe line (tracebacks, when asked for, follow it)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)


def level(verbose: int = 0, env: Mapping[str, str] = os.environ,
          default: int = logging.WARNING) -> int:
    """ROOST_LOG's level (else `default`), made more verbose by -v (INFO) or -vv (DEBUG)."""
    named = env.get("ROOST_LOG", "").strip().lower()
    if named and named not in LEVELS:
        raise RoostError(f"ROOST_LOG: expected one of {', '.join(LEVELS)}, got {named!r}")
    chosen = LEVELS[named] if named else default
    if verbose > 0:
        chosen = min(chosen, logging.INFO if verbose == 1 else logging.DEBUG)
    return chosen


def to_stderr(verbose: int = 0, env: Mapping[str, str] = os.environ) -> None:
    """The CLI's logging: records at the chosen level on stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("roost: %(message)s"))
    _install([handler], level(verbose, env))


def to_file(state_dir: Path, verbose: int = 0, env: Mapping[str, str] = os.environ,
            keep_stderr: bool = False) -> Path:
    """The console's and `roost serve`'s logging: the rotating file in the state dir (and stderr
    too when keep_stderr). Returns the log file's path."""
    from console.logfile import PrivateRotatingFile  # logging.handlers: only a log file needs it
    path = paths.ensure_state_dir(Path(state_dir)) / FILE_NAME
    handler = PrivateRotatingFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(OneLineFormatter(FILE_FORMAT))
    handlers: list[logging.Handler] = [handler]
    if keep_stderr:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(OneLineFormatter("roost: %(message)s"))
        stderr.setLevel(level(verbose, env))
        handlers.append(stderr)
    _install(handlers, level(verbose, env, default=logging.INFO))
    return path


def _install(handlers: list[logging.Handler], roost_level: int) -> None:
    """Replace the handlers an earlier call installed (only those: a test runner's stay)."""
    root = logging.getLogger()
    while _installed:
        old = _installed.pop()
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
        _installed.append(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger(ROOT).setLevel(roost_level)
    logging.captureWarnings(True)


def reset() -> None:
    """Remove what to_stderr/to_file installed (a process configures logging once; tests more)."""
    _install([], logging.NOTSET)
    logging.captureWarnings(False)
