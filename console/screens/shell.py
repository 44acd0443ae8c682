"""`t`: hand the terminal to the system ssh client on a node, and take it back when it exits.

The console must keep running while the shell is open: the fleet's samplers, a scheduler it
holds and (in `roost demo`) the very SSH servers the shell talks to all live on the app's event
loop. So ssh is an asyncio subprocess awaited inside a worker, never a blocking call:

* `App.suspend()` (Textual 8) only hands the terminal over: it stops input, leaves the
  alternate screen, restores the tty modes and stops the output thread. The event loop goes on.
* While suspended nothing may be drawn: the stopped output thread's queue holds 30 writes, and
  the 31st would block the loop for good (and ssh owns the screen anyway). `batch_update()`
  makes every repaint a no-op until the shell ends; the resume then redraws the whole screen.
* ssh is in our process group, so a Ctrl+C or Ctrl+\\ typed before ssh puts the tty into raw
  mode (a host key or password prompt) reaches us too; like system(3) the console ignores them
  while the child runs. Python-level handlers, not SIG_IGN: exec resets them, so ssh still gets
  its default Ctrl+C.
"""
from __future__ import annotations

import asyncio
import shlex
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from textual.app import App, SuspendNotSupported
from textual.message import Message
from textual.notifications import SeverityLevel

from collectors.model import NodeTarget
from console.text import safe_line

QUIET = (signal.SIGINT, signal.SIGQUIT)


def ssh_argv(node: str, target: NodeTarget | None) -> list[str]:
    """ssh's command line for a NodeTarget (host keys are verified as the console does)."""
    if target is None:
        return ["ssh", node]
    argv = ["ssh", "-p", str(target.port)]
    for key in target.identity_files:
        argv += ["-i", key]
    if target.known_hosts:
        argv += ["-o", "UserKnownHostsFile=" + " ".join(target.known_hosts)]
    if target.host_keys == "accept-new":
        argv += ["-o", "StrictHostKeyChecking=accept-new"]
    if getattr(target, "host_key_alias", None):   # ssh would not find it: it was keyed by node name
        argv += ["-o", f"HostKeyAlias={target.host_key_alias}"]
    if target.proxy_jump:
        argv += ["-J", target.proxy_jump]
    return argv + [f"{target.user}@{target.host}" if target.user else target.host]


@dataclass
class ShellEnded(Message):
    """A `t` shell returned: its exit status (None: it never ran, error says why), how long it
    was open, and the argv it ran (for the notice)."""
    node: str
    argv: list[str]
    code: int | None
    seconds: float
    error: str = ""


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Ctrl+C / Ctrl+\\ go to the child only (the parent's handlers do nothing meanwhile)."""
    saved = {sig: signal.getsignal(sig) for sig in QUIET}
    for sig in QUIET:
        signal.signal(sig, lambda *_: None)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


async def _wait_child(argv: list[str]) -> tuple[int | None, str]:
    """Run argv on the terminal and wait for it; never raises (Textual's suspend() only resumes
    when its block ends without an exception), except for cancellation, after ssh is gone."""
    try:
        proc = await asyncio.create_subprocess_exec(*argv)
    except OSError as exc:       # no ssh on PATH
        return None, f"{type(exc).__name__}: {exc}"
    try:
        return await proc.wait(), ""
    except asyncio.CancelledError:   # the console is quitting: do not leave ssh behind
        proc.terminate()
        await proc.wait()
        raise


async def run_shell(app: App, node: str, argv: list[str]) -> None:
    """The worker: suspend, run argv on the terminal, resume; reports with a ShellEnded."""
    started = time.monotonic()
    code: int | None = None
    try:
        with app.batch_update(), app.suspend(), _interrupts_ignored():
            print(f"roost: shell on {safe_line(node)}; the console keeps watching and comes "
                  "back when the shell exits", flush=True)
            code, error = await _wait_child(argv)
    except SuspendNotSupported as exc:    # headless and web drivers cannot hand the tty over
        error = str(exc)
    app.post_message(ShellEnded(node, argv, code, time.monotonic() - started, error))


def open_shell(app: App, node: str, argv: list[str]) -> None:
    """Start the shell as a worker: the loop (samplers, scheduler, demo servers) keeps running."""
    app.run_worker(run_shell(app, node, argv), group="shell", exclusive=True,
                   exit_on_error=False)


def notice(msg: ShellEnded, samples: int) -> tuple[str, SeverityLevel]:
    """(text, severity) of the toast after a shell; samples: how many arrived meanwhile."""
    node = safe_line(msg.node)
    if msg.code is None:
        return f"cannot open a shell on {node}: {safe_line(msg.error)}", "warning"
    text = (f"shell on {node} ended (exit {msg.code}) after {msg.seconds:.0f} s; "
            f"{samples} samples arrived meanwhile")
    if msg.code == 0:
        return text, "information"
    return f"{text} · {safe_line(shlex.join(msg.argv))}", "warning"
