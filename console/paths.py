"""Where roost keeps its own files: the state dir (history DB, job files, accept-new host keys).

Order: --state-dir, then ROOST_STATE_DIR, then platformdirs' user_state_dir("roost") (XDG).
Nothing here creates directories except ensure_state_dir, called by commands that write.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from platformdirs import user_config_dir, user_state_dir

APP = "roost"


def state_dir(explicit: str | os.PathLike | None = None,
              env: Mapping[str, str] = os.environ) -> Path:
    chosen = explicit or env.get("ROOST_STATE_DIR")
    return Path(chosen).expanduser() if chosen else Path(user_state_dir(APP))


def config_dir() -> Path:
    return Path(user_config_dir(APP))


def default_db(state: Path) -> Path:
    return state / "roost.db"


def accept_new_store(state: Path) -> Path:
    # roost's own trust-on-first-use file: never writes into the user's ~/.ssh/known_hosts.
    return state / "known_hosts"


def ensure_state_dir(state: Path) -> Path:
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    return state
