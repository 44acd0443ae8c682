"""Where roost keeps its own files: the state dir (history DB, job files, accept-new host keys).

Order: --state-dir, then ROOST_STATE_DIR, then platformdirs' user_state_dir("roost") (XDG).
Nothing here creates directories except ensure_state_dir, called by commands that write.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

APP = "roost"


def state_dir(explicit: str | os.PathLike | None = None,
              env: Mapping[str, str] = os.environ) -> Path:
    chosen = explicit or env.get("ROOST_STATE_DIR")
    if chosen:
        return Path(chosen).expanduser()
    from platformdirs import user_state_dir  # here: it imports tempfile, shutil, random ...
    return Path(user_state_dir(APP))


def config_dir() -> Path:
    from platformdirs import user_config_dir
    return Path(user_config_dir(APP))


def default_db(state: Path) -> Path:
    return state / "roost.db"


def accept_new_store(state: Path) -> Path:
    # roost's own trust-on-first-use file: never writes into the user's ~/.ssh/known_hosts.
    return state / "known_hosts"


def ensure_state_dir(state: Path) -> Path:
    """The state dir, made owner-only (0700) even when an older roost or a shell made it."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    if state.stat().st_uid == os.getuid() and state.stat().st_mode & 0o077:
        state.chmod(0o700)
    return state


def private_db(path: str | os.PathLike) -> Path:
    """Create (or tighten) an SQLite file and its -wal/-shm companions as 0600 before SQLite
    opens them: SQLite gives the companions the database file's mode."""
    path = Path(path)
    # Never open (and close) an existing database here: closing any fd of a file drops the
    # process's SQLite locks on it. Create it exclusively, or tighten it by path.
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        if not os.path.islink(path) and os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
    for extra in ("-wal", "-shm", "-journal"):
        companion = Path(f"{path}{extra}")
        if companion.exists() and not companion.is_symlink():
            with contextlib.suppress(FileNotFoundError):   # the last connection closing the
                companion.chmod(0o600)                     # database removes -shm meanwhile
    return path
