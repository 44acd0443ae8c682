"""Where completed names come from: the config (nodes, @groups) and the local job queue. Files
only: completing never logs in anywhere, and never creates a queue or a state directory."""
from __future__ import annotations


class Source:
    """given: the global options on the command line being completed (--config, --state-dir ...)."""

    def __init__(self, given: dict[str, str]) -> None:
        self.given = given
        self._config = None

    def config(self):
        if self._config is None:
            from console.config import load_config
            g = self.given
            self._config = load_config(g.get("config"), inventory=g.get("inventory"),
                                       ssh_config=g.get("ssh_config"), state_dir=g.get("state_dir"))
        return self._config

    def nodes(self) -> list[str]:
        config = self.config()
        groups = [f"@{g}" for g in config.groups]
        return [*config.names, *groups, *([] if "all" in config.groups else ["@all"])]

    def groups(self) -> list[str]:
        return list(self.config().groups)

    def jobs(self) -> list[str]:
        """Job ids of this cluster's built-in queue, newest first; none when there is no queue
        yet or the jobs go to Slurm (listing those would need SSH)."""
        config = self.config()
        if config.jobs.uses_slurm:
            return []
        from pathlib import Path

        from console.jobs.service import cluster_name
        # the path queue_dir() uses, without creating it (completing never makes a state dir)
        db = Path(config.state_dir) / "clusters" / cluster_name(config) / "jobs.db"
        if not db.is_file():
            return []
        from console.jobs.store import Store
        with Store(db) as store:
            return [str(i) for i in sorted(store.job_ids(), reverse=True)]
