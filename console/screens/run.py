"""`x`: run a command on the marked nodes (or a hostlist); stream results, then group them."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from console.hostlist import HostlistError, expand, fold
from console.messages import CommandDone
from console.runcmd import bounded, group_outputs, run_over
from console.screens.base import View
from console.text import plural
from console.widgets.key_footer import KeyFooter
from console.widgets.run_output import RunOutput


class RunScreen(View):
    BINDINGS = [Binding("escape", "back", "Back", id="back")]
    PARALLEL = 64

    def __init__(self, source: object, nodes: list[str], known: list[str], timeout: float = 60.0,
                 command: str = "") -> None:
        super().__init__()
        self.source, self.nodes, self.known = source, nodes, known
        self.timeout, self.command = timeout, command
        self.run_id = 0
        self.results: dict[str, tuple[int | None, str, str]] = {}
        self.expected: list[str] = []

    def compose(self) -> ComposeResult:
        yield Input(value=fold(self.nodes), placeholder="nodes (hostlist, e.g. n[1-4])",
                    id="run-nodes")
        yield Input(value=self.command, placeholder="command, then enter", id="run-command")
        yield Static("", id="run-status")
        yield RunOutput(id="run-output")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._pal = None
        self.query_one("#run-command", Input).focus()
        if self.command and self.nodes:
            self.start(self.nodes, self.command)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "run-nodes":
            self.query_one("#run-command", Input).focus()
            return
        text = self.query_one("#run-nodes", Input).value.strip()
        try:
            nodes = expand(text) if text else []
        except HostlistError as exc:  # bad syntax, or more names than max_hostlist
            self.set_status(str(exc))
            return
        unknown = [n for n in nodes if n not in self.known]
        if unknown:
            self.set_status(f"unknown nodes: {fold(unknown)}")
        elif not nodes or not event.value.strip():
            self.set_status("need nodes and a command")
        else:
            self.start(nodes, event.value.strip())

    def set_status(self, text: str) -> None:
        self.query_one("#run-status", Static).update(Text(text))

    def start(self, nodes: list[str], command: str) -> None:
        self.run_id += 1
        self.results, self.expected = {}, nodes
        out = self.query_one(RunOutput)
        out.clear()
        self.set_status(f"running on {fold(nodes)}: 0/{len(nodes)} done")
        self.run_worker(self.fan_out(self.run_id, nodes, command), group="run", exclusive=True)

    async def fan_out(self, run_id: int, nodes: list[str], command: str) -> None:
        async def one(node: str) -> None:
            r = await run_over(self.source, node, command, self.timeout)
            self.post_message(CommandDone(run_id, node, r.exit_status, r.stdout, r.stderr,
                                          r.error))

        await bounded(nodes, one, self.PARALLEL)

    def on_command_done(self, msg: CommandDone) -> None:
        if msg.run_id != self.run_id:
            return   # a result from a run the user already replaced
        text = msg.stdout + msg.stderr
        self.results[msg.node] = (msg.status, text, msg.error)
        out = self.query_one(RunOutput)
        out.streamed(msg.node, msg.status, text if msg.status is not None else msg.error, self.pal)
        done = len(self.results)
        self.set_status(f"{done}/{len(self.expected)} done")
        if done == len(self.expected):
            bad = sum(1 for s, _o, _e in self.results.values() if s != 0)
            self.set_status(f"finished on {plural(len(self.expected), 'node')}, {bad} failed")
            out.grouped(group_outputs(self.results), self.pal)

    def action_back(self) -> None:
        self.app.pop_screen()
