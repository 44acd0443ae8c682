"""console.jobs.service.JobsService: what the console's Jobs screen is told about who schedules."""
from __future__ import annotations

from console.config import load_config
from console.jobs.service import JobsService


def test_the_scheduler_reads_starting_from_the_moment_it_is_asked_for(tmp_path):
    """The console asks for the scheduler on mount and reads the queue right after: that first
    read must not say nobody schedules (the demo showed it for ~10 s under load)."""
    cfg = tmp_path / "roost.toml"
    cfg.write_text('[[nodes]]\nnames = "n1"\nhost = "127.0.0.1"\n')
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    jobs = JobsService(load_config(cfg, state_dir=state), state / "jobs.db")
    assert jobs.scheduler_note().startswith("no scheduler running")
    work = jobs.hold_scheduler(object(), lambda text, severity: None)   # not yet run
    try:
        assert jobs.scheduler_note() == "scheduler: starting"
    finally:
        work.close()
