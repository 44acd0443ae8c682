"""Where a cluster's queue lives: STATE/clusters/NAME (jobs.db, scheduler.lock), and opening
it. Light on imports on purpose: `bsub`, `roost submit` and `roost queue` start here, and a
loop of a thousand bsub lines pays the import time a thousand times.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from console import paths
from console.config import Config
from console.jobs.lock import SchedulerLock
from console.jobs.store import Store


def cluster_name(config: Config) -> str:
    """The cluster a config describes: roost.toml's `cluster = "..."`, else derived from the
    config file's path (two configs never share a queue by accident), else "default"."""
    named = getattr(config, "cluster", None)
    if isinstance(named, str) and named:
        return named
    sources = getattr(config, "sources", ())
    if not sources:
        return "default"
    path = Path(sources[0]).resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    return f"{path.stem}-{digest}"


def queue_dir(config: Config) -> Path:
    """One queue per cluster: STATE/clusters/NAME holds its jobs.db and scheduler.lock (0700)."""
    state = paths.ensure_state_dir(Path(config.state_dir))
    directory = state / "clusters" / cluster_name(config)
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        (state / "clusters").chmod(0o700)
        _migrate(state, directory, config)
    return directory


def _migrate(state: Path, directory: Path, config: Config) -> None:
    """An older roost kept one STATE/jobs.db for every config: it becomes this cluster's queue
    when every node its jobs used is one of this config's; else it stays where it is."""
    old = state / "jobs.db"
    if not old.is_file() or (state / "jobs.db.moved").exists():
        return
    with Store(old) as store:
        used = store.nodes_used()
    foreign = sorted(used - set(config.names))
    if foreign:
        print(f"roost: kept the old queue {old} in place: its jobs ran on nodes this config does "
              f"not name ({', '.join(foreign[:5])}); cluster {cluster_name(config)} starts empty",
              file=sys.stderr)
        return
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{old}{suffix}")
        if src.exists():
            os.replace(src, directory / f"jobs.db{suffix}")
    (state / "jobs.db.moved").write_text(f"moved to {directory}\n")
    print(f"roost: moved the job queue {old} to {directory / 'jobs.db'} (cluster "
          f"{cluster_name(config)})", file=sys.stderr)


def jobs_db(config: Config) -> Path:
    return queue_dir(config) / "jobs.db"


def open_store(config: Config) -> Store:
    return Store(jobs_db(config))


def queue_failure(config: Config, exc: OSError | Exception) -> str:
    """One line for a queue file that cannot be read or written (a full or read-only state
    file system); SQLite says "disk I/O error" when the shared-memory file cannot grow."""
    return queue_failure_at(config.state_dir, exc)


def queue_failure_at(where: str | os.PathLike[str], exc: OSError | Exception) -> str:
    """queue_failure for the queue kept in the directory where (the console's Jobs screen)."""
    return f"job queue in {where}: {getattr(exc, 'strerror', None) or exc}{_full(where)}"


def _full(where: str | os.PathLike[str]) -> str:
    import shutil
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return ""
    return " (its file system is full)" if free < 64 << 10 else ""


def scheduler_lock(config: Config) -> SchedulerLock:
    return SchedulerLock(queue_dir(config))
