"""Run-command output: streamed per node as results arrive, then grouped like dshbak -c.

Output is node-controlled text: control sequences are stripped and it is shown as plain Text,
long outputs are truncated with a note.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from console.hostlist import fold
from console.runcmd import OutputGroup
from console.text import safe, truncate


class RunOutput(RichLog):
    DEFAULT_CSS = "RunOutput { height: 1fr; }"

    def __init__(self, **kw) -> None:
        super().__init__(wrap=False, markup=False, highlight=False, **kw)

    def streamed(self, node: str, status: int | None, text: str, pal: dict[str, str]) -> None:
        head = Text(f"{safe(node)}: ", style="bold")
        head.append(self.status(status), style=self.status_style(status, pal))
        self.write(head)
        body = truncate(safe(text), max_lines=20, max_chars=4000)
        for ln in body.splitlines():
            self.write(Text("  " + ln))

    def grouped(self, groups: list[OutputGroup], pal: dict[str, str]) -> None:
        self.write(Text("─" * 20 + " grouped " + "─" * 20, style="bold"))
        for g in groups:
            head = Text(f"{fold(g.nodes)} ({len(g.nodes)}) ", style="bold")
            head.append(self.status(g.exit_status), style=self.status_style(g.exit_status, pal))
            self.write(head)
            text = g.output if g.exit_status is not None else g.error
            for ln in truncate(safe(text)).splitlines():
                self.write(Text("  " + ln))

    @staticmethod
    def status(status: int | None) -> str:
        return "could not run" if status is None else f"exit {status}"

    @staticmethod
    def status_style(status: int | None, pal: dict[str, str]) -> str:
        return pal["roost-ok"] if status == 0 else pal["roost-crit"]
