"""BOINC GUI RPC, the pure part: request framing, auth hashing, reply parsing. No I/O.

Wire format (BOINC's gui_rpc_client): a request is
``<boinc_gui_rpc_request>\\nBODY\\n</boinc_gui_rpc_request>\\n\\003`` and a reply is
``<boinc_gui_rpc_reply>...</boinc_gui_rpc_reply>\\n\\003``. Authentication: ``<auth1/>`` returns a
nonce; ``<auth2><nonce_hash>md5(nonce + password)</nonce_hash></auth2>`` returns
``<authorized/>`` or ``<unauthorized/>``.

The client's XML is not always well formed (7.20 writes result names and URLs unescaped), so
replies are read the way BOINC's own XML_PARSER reads them: tag by tag, unescaping the five named
entities and numeric references, leaving any other ``&`` alone.
"""
from __future__ import annotations

import hashlib
import html
import math
import re
from dataclasses import dataclass
from typing import TypedDict

from console.errors import RoostError

END = b"\003"

# common_defs.h
RESULT_STATES = {0: "new", 1: "downloading", 2: "downloaded", 3: "compute error",
                 4: "uploading", 5: "uploaded", 6: "aborted", 7: "upload failed"}
PROCESS_EXECUTING, PROCESS_ABORT_PENDING, PROCESS_QUIT_PENDING, PROCESS_SUSPENDED = 1, 5, 8, 9
CPU_SCHED_PREEMPTED, CPU_SCHED_SCHEDULED = 1, 2
# error_numbers.h: why an aborted result was aborted (its exit_status)
ABORT_REASONS = {203: "Aborted by user", 202: "Aborted by project",
                 200: "Aborted: not started by deadline"}
OPS = ("suspend", "resume", "abort")


class BoincRpcError(RoostError):
    """The client answered with <error>, <unauthorized/> or something that is not a reply."""


@dataclass(frozen=True, slots=True)
class BoincTask:
    """One BOINC result (task) on one node, as the Manager's Tasks tab shows it."""
    node: str
    project_url: str
    project_name: str
    name: str
    state: str                  # human text: "Running", "Suspended by user", ...
    fraction_done: float        # 0..1
    elapsed: float              # seconds of wall time computing
    deadline: float             # report deadline, Unix time
    suspended: bool = False     # suspended via GUI (this task)
    project_suspended: bool = False
    result_state: int = 2
    active_state: int | None = None      # None: no process (not started, or finished)
    scheduler_state: int | None = None
    cpu_time: float = 0.0
    remaining: float = 0.0      # client's estimate, seconds
    received: float = 0.0
    exit_status: int = 0
    ready_to_report: bool = False
    wu_name: str = ""


# ---- requests --------------------------------------------------------------------------------

def escape(text: str) -> str:
    """What BOINC's xml_unescape turns back into text (it knows the five named entities)."""
    return html.escape(text, quote=True).replace("&#x27;", "&apos;")


def frame(body: str) -> bytes:
    return f"<boinc_gui_rpc_request>\n{body}\n</boinc_gui_rpc_request>\n\003".encode()


def auth2_body(nonce: str, password: str) -> str:
    digest = hashlib.md5((nonce + password).encode()).hexdigest()
    return f"<auth2>\n<nonce_hash>{digest}</nonce_hash>\n</auth2>"


def op_body(op: str, project_url: str, name: str) -> str:
    if op not in OPS:
        raise ValueError(f"unknown task operation {op!r} (expected one of {', '.join(OPS)})")
    return (f"<{op}_result>\n<project_url>{escape(project_url)}</project_url>\n"
            f"<name>{escape(name)}</name>\n</{op}_result>")


# ---- replies ---------------------------------------------------------------------------------

_ENTITY = re.compile(r"&(lt|gt|amp|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def unescape(text: str) -> str:
    return _ENTITY.sub(_entity, text)


def _entity(m: re.Match[str]) -> str:
    ref = m.group(1)
    if ref in _NAMED:
        return _NAMED[ref]
    code = int(ref[2:], 16) if ref[1] == "x" else int(ref[1:])
    return chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else m.group(0)


def reply_body(raw: bytes) -> str:
    """The text inside <boinc_gui_rpc_reply>; the trailing \\003 may or may not be present."""
    text = raw.rstrip(END).decode("utf-8", "replace")
    start, end = text.find("<boinc_gui_rpc_reply>"), text.rfind("</boinc_gui_rpc_reply>")
    if start < 0 or end < start:
        raise BoincRpcError(f"not a GUI RPC reply: {text[:80]!r}")
    return text[start + len("<boinc_gui_rpc_reply>"):end]


def blocks(text: str, tag: str) -> list[str]:
    """Contents of each <tag>...</tag>, in order (not nested: BOINC's blocks are flat lists)."""
    return re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.S)


def field(text: str, tag: str, default: str = "") -> str:
    """The first <tag>value</tag> in text, unescaped; default when absent or empty-tagged."""
    m = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
    return unescape(m.group(1)) if m else default


def flag(text: str, tag: str) -> bool:
    """BOINC booleans: <tag/>, or <tag>1</tag>."""
    return f"<{tag}/>" in text or re.search(rf"<{tag}>\s*1\s*</{tag}>", text) is not None


def number(text: str, tag: str, default: float = 0.0) -> float:
    """A finite float, else default (a broken client must not put NaN into tables and sums)."""
    try:
        value = float(field(text, tag) or default)
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def integer(text: str, tag: str, default: int = 0) -> int:
    value = number(text, tag, default)
    return int(value) if abs(value) < 2 ** 63 else default


def check_reply(body: str) -> str:
    """body, unless it is an <error> or <unauthorized/> reply."""
    if "<unauthorized/>" in body:
        raise BoincRpcError("unauthorized")
    if "<error>" in body:
        raise BoincRpcError(field(body, "error") or "error")
    return body


def parse_nonce(body: str) -> str:
    nonce = field(check_reply(body), "nonce")
    if not nonce:
        raise BoincRpcError("auth1 reply without a nonce")
    return nonce


def parse_authorized(body: str) -> bool:
    return "<authorized/>" in body


def parse_success(body: str) -> None:
    if "<success/>" not in check_reply(body):
        raise BoincRpcError(f"unexpected reply: {body.strip()[:80]!r}")


def parse_projects(body: str) -> dict[str, str]:
    """master_url -> project_name from <get_project_status/>."""
    return {field(b, "master_url"): field(b, "project_name")
            for b in blocks(check_reply(body), "project")}


def parse_results(body: str, node: str, projects: dict[str, str] | None = None) -> list[BoincTask]:
    """Every <result> from <get_results/>, with project names from parse_projects."""
    names = projects or {}
    return [parse_result(b, node, names) for b in blocks(check_reply(body), "result")]


class _States(TypedDict):
    """A result's state fields, as describe() and BoincTask take them."""
    result_state: int
    suspended: bool
    project_suspended: bool
    ready_to_report: bool
    exit_status: int
    active_state: int | None
    scheduler_state: int | None


def parse_result(block: str, node: str, projects: dict[str, str]) -> BoincTask:
    active = blocks(block, "active_task")
    task = active[0] if active else ""
    outer = block.split("<active_task>", 1)[0] + block.rsplit("</active_task>", 1)[-1]
    url = field(outer, "project_url")
    common = _States(
        result_state=integer(outer, "state", 2), suspended=flag(outer, "suspended_via_gui"),
        project_suspended=flag(outer, "project_suspended_via_gui"),
        ready_to_report=flag(outer, "ready_to_report"), exit_status=integer(outer, "exit_status"),
        active_state=integer(task, "active_task_state") if active else None,
        scheduler_state=integer(task, "scheduler_state") if active else None)
    return BoincTask(
        node=node, project_url=url, project_name=projects.get(url, "") or url,
        name=field(outer, "name"), wu_name=field(outer, "wu_name"), state=describe(**common),
        fraction_done=_fraction(task, common["result_state"]),
        elapsed=number(task, "elapsed_time") if active else number(outer, "final_elapsed_time"),
        cpu_time=number(task, "current_cpu_time") if active else number(outer, "final_cpu_time"),
        deadline=number(outer, "report_deadline"), received=number(outer, "received_time"),
        remaining=number(outer, "estimated_cpu_time_remaining"), **common)


def _fraction(task: str, result_state: int) -> float:
    if result_state in (4, 5):      # computed: uploading or uploaded
        return 1.0
    return min(max(number(task, "fraction_done"), 0.0), 1.0) if task else 0.0


def describe(*, result_state: int, suspended: bool, project_suspended: bool,
             ready_to_report: bool, exit_status: int, active_state: int | None,
             scheduler_state: int | None) -> str:
    """The Manager's status text for a task (simplified from BOINC's result_description)."""
    if result_state == 6:
        return ABORT_REASONS.get(exit_status, "Aborted")
    if result_state != 2:
        text = RESULT_STATES.get(result_state, f"state {result_state}").capitalize()
        return "Ready to report" if ready_to_report and result_state == 5 else text
    if suspended:
        return "Suspended by user"
    if project_suspended:
        return "Project suspended by user"
    return _running_text(active_state, scheduler_state)


def _running_text(active_state: int | None, scheduler_state: int | None) -> str:
    if active_state == PROCESS_ABORT_PENDING:
        return "Aborting"
    if active_state == PROCESS_QUIT_PENDING:
        return "Quitting"
    if scheduler_state == CPU_SCHED_SCHEDULED:
        return "Suspended" if active_state == PROCESS_SUSPENDED else "Running"
    if scheduler_state == CPU_SCHED_PREEMPTED:
        return "Waiting to run"
    return "Ready to start"
