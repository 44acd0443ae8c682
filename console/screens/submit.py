"""`s`: the submission form, sbatch's main options; every field is checked as it is typed.

The checks are console.jobs.board.check_field (the same parsers `roost submit` uses); the job is
built and queued by console.jobs.board.submit_form in a thread worker (SQLite off the loop).
With a SlurmBoard (backend = "slurm") the job goes to sbatch from an async worker instead; the
working directory is then a path on the cluster (empty: the login directory there).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from console.jobs.board import FIELDS, check_field, is_script, submit_form
from console.jobs.slurm import SlurmError
from console.jobs.slurm_board import check_slurm_field
from console.widgets.cells import safe_line


@dataclass
class Submitted(Message):
    job_id: int | None
    error: str = ""
    warnings: list[str] = field(default_factory=list)


class SubmitScreen(ModalScreen[int | None]):
    BINDINGS = [
        Binding("ctrl+s", "send", "Submit", id="submit_send", priority=True),
        Binding("escape", "cancel", "Cancel", id="submit_cancel"),
    ]

    def __init__(self, jobs_db: str | None, known: list[str], cwd: str | None = None,
                 board: Any = None) -> None:
        super().__init__()
        self.jobs_db, self.known, self.board = jobs_db, known, board
        self.cwd = cwd or os.getcwd()
        self.errors: dict[str, str] = {}
        self.sending = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="submit-box"):
            where = f" to Slurm on {self.board.controller}" if self.board is not None else ""
            yield Static(Text(f"Submit a job{where} (enter or ctrl+s: submit, escape: cancel)",
                              style="bold"))
            for name, (_dest, label) in FIELDS.items():
                with Horizontal(classes="field"):
                    yield Label(label)
                    here = self.cwd if name == "workdir" and self.board is None else ""
                    yield Input(value=here, id=f"f-{name}",
                                placeholder="1" if name == "cpus" else "")
                yield Static(id=f"e-{name}", classes="field-error")
            yield Static(id="submit-status")

    def on_mount(self) -> None:
        for name in FIELDS:
            self.query_one(f"#e-{name}", Static).display = False
        self.query_one("#f-command", Input).focus()

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#f-{name}", Input).value for name in FIELDS}

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("f-")
        if name in FIELDS:
            self.check(name, event.value, typing=True)

    def check(self, name: str, value: str, typing: bool = False) -> str | None:
        checks = check_field if self.board is None else check_slurm_field
        problem = checks(name, value, self.known)
        if name == "command" and typing and not value.strip():
            problem = None          # not an error while the form is fresh
        if name == "command" and value.strip() and not problem:
            self.hint(value)
        box = self.query_one(f"#e-{name}", Static)
        box.display = bool(problem) or (name == "command" and bool(value.strip()))
        if problem:
            box.update(Text("✖ " + safe_line(problem), style="bold"))
            box.set_class(True, "bad")
            self.errors[name] = problem
        else:
            box.set_class(False, "bad")
            self.errors.pop(name, None)
        return problem

    def hint(self, value: str) -> None:
        script = is_script(value, self.cwd)
        what = "script file (its #SBATCH lines count)" if script else "shell command"
        self.query_one("#e-command", Static).update(Text(f"→ {what}"))

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_send()

    def action_send(self) -> None:
        bad = [name for name, value in self.values().items() if self.check(name, value)]
        if bad:
            self.say(f"fix {', '.join(bad)} first")
            return
        if not self.sending:
            self.sending = True
            self.say("submitting …")
            (self.send if self.board is None else self.send_slurm)(self.values())

    @work(thread=True, group="submit", exit_on_error=False)
    def send(self, values: dict[str, str]) -> None:
        try:
            job_id, warnings = submit_form(self.jobs_db, values, self.known, self.cwd)
        except Exception as exc:   # SpecError is one line already; others get their type
            from console.jobs.spec import SpecError
            text = str(exc) if isinstance(exc, SpecError) else f"{type(exc).__name__}: {exc}"
            self.post_message(Submitted(None, text))
            return
        self.post_message(Submitted(job_id, warnings=warnings))

    @work(group="submit", exit_on_error=False)
    async def send_slurm(self, values: dict[str, str]) -> None:
        from console.jobs.spec import SpecError
        try:
            job_id, warnings = await self.board.submit(values, self.cwd)
        except (SpecError, SlurmError) as exc:    # one line already, Slurm's own words
            self.post_message(Submitted(None, str(exc)))
            return
        except Exception as exc:
            self.post_message(Submitted(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(Submitted(job_id, warnings=warnings))

    def on_submitted(self, msg: Submitted) -> None:
        self.sending = False
        if msg.job_id is None:
            self.say(f"✖ {msg.error}")
            return
        for warning in msg.warnings:
            self.app.notify(safe_line(warning), title="submit", severity="warning", markup=False)
        self.dismiss(msg.job_id)

    def say(self, text: str) -> None:
        self.query_one("#submit-status", Static).update(Text(safe_line(text)))

    def action_cancel(self) -> None:
        self.dismiss(None)
