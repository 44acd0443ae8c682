"""The seed workflow's user, for the submit-path test and bench/bench_submit.py: roost.toml in
~/.config/roost (pi[1-4]), an ~/.ssh/config, this roost on PATH, no ROOST_*/XDG_*/SLURM_*."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def user_home(work: Path) -> dict[str, str]:
    """Make WORK/home as that user has it; returns the environment to run their commands in."""
    home = work / "home"
    (home / ".config" / "roost").mkdir(parents=True)
    (home / ".config" / "roost" / "roost.toml").write_text(
        '[[nodes]]\nnames = "pi[1-4]"\nhost = "127.0.0.1"\n')
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh" / "config").write_text("Host pi*\n  User pi\n  ServerAliveInterval 30\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROOST_", "XDG_", "SLURM_"))}
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    return env
