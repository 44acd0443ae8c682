"""`s`: the submission form, sbatch's main options; every field is checked as it is typed.
Toggles (TOGGLES: spread, as --spread-job) are checkboxes; ctrl+t flips spread from any field.

The checks and the submission are the Jobs screen's view's (QueueView: the same parsers `roost
submit` uses, queued off the event loop; SlurmView: sent to sbatch, the working directory then a
path on the cluster, empty: the login directory there), called from an async worker.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from console.jobs.queue_view import FIELDS, ON, TOGGLES, JobsView, is_script
from console.jobs.slurm import SlurmError
from console.jobs.spec import SpecError
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
        Binding("ctrl+t", "flip('spread')", "Spread", id="submit_spread"),
        # priority: the scrolling box around the fields would take the arrows first
        Binding("down", "app.focus_next", "Next field", id="form_next", show=False,
                priority=True),
        Binding("up", "app.focus_previous", "Previous field", id="form_prev", show=False,
                priority=True),
    ]

    def __init__(self, view: JobsView, known: list[str], cwd: str | None = None,
                 workdir: str = "") -> None:
        """view: the Jobs screen's QueueView or SlurmView; cwd: where a relative script path
        is looked up; workdir: the working directory the form starts with (JobsService's)."""
        super().__init__()
        self.view, self.known = view, known
        self.cwd = cwd or os.getcwd()
        self.workdir = workdir
        self.errors: dict[str, str] = {}
        self.sending = False

    def compose(self) -> ComposeResult:
        box = VerticalScroll(id="submit-box")
        box.can_focus = False       # the arrows go field to field; focus scrolls it into view
        with box:
            where = f" to {self.view.where}" if self.view.where else ""
            yield Static(Text(f"Submit a job{where} (enter or ctrl+s: submit, ctrl+t: spread, "
                              "escape: cancel)", style="bold"))
            for name, (_dest, label) in FIELDS.items():
                with Horizontal(classes="field"):
                    yield Label(label)
                    here = self.workdir if name == "workdir" and self.view.prefill_workdir else ""
                    yield Input(value=here, id=f"f-{name}",
                                placeholder="1" if name == "cpus" else "")
                yield Static(id=f"e-{name}", classes="field-error")
                yield from self.toggles_after(name)
            yield Static(id="submit-status")

    def toggles_after(self, field_name: str) -> ComposeResult:
        for name, (_dest, label, after) in TOGGLES.items():
            if after == field_name:
                yield Checkbox(label, id=f"t-{name}", classes="toggle")

    def on_mount(self) -> None:
        for name in FIELDS:
            self.query_one(f"#e-{name}", Static).display = False
        self.query_one("#f-command", Input).focus()

    def values(self) -> dict[str, str]:
        """The fields as typed and the toggles (ON, or "" when off)."""
        out = {name: self.query_one(f"#f-{name}", Input).value for name in FIELDS}
        for name in TOGGLES:
            out[name] = ON if self.query_one(f"#t-{name}", Checkbox).value else ""
        return out

    def action_flip(self, name: str) -> None:
        """A toggle on or off from any field (the checkbox itself takes space and enter)."""
        self.query_one(f"#t-{name}", Checkbox).toggle()

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("f-")
        if name in FIELDS:
            self.check(name, event.value, typing=True)

    def check(self, name: str, value: str, typing: bool = False) -> str | None:
        problem = self.view.check_field(name, value, self.known)
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
        bad = [name for name, value in self.values().items()
               if name in FIELDS and self.check(name, value)]
        if bad:
            self.say(f"fix {', '.join(bad)} first")
            return
        if not self.sending:
            self.sending = True
            self.say("submitting …")
            self.send(self.values())

    @work(group="submit", exit_on_error=False)
    async def send(self, values: dict[str, str]) -> None:
        try:
            job_id, warnings = await self.view.submit(values, self.known, self.cwd)
        except (SpecError, SlurmError) as exc:    # one line already (Slurm's own words)
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
