"""The console's key bindings: every one has an id, remappable from roost.toml's [keymap].

Bindings are declared where their actions live (the app and each screen); this module only holds
the id catalogue for validation and help, and applies a user keymap.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from console.errors import RoostError

# id -> what it does (the catalogue the config is validated against; tests check it is complete)
BINDING_IDS: dict[str, str] = {
    "fleet": "fleet table", "heatmap": "heatmap", "events": "events and alerts",
    "jobs": "jobs screen", "power": "power screen", "command": ": command line",
    "help": "help for this screen", "quit": "quit", "run": "run a command on marked nodes",
    "node": "open node detail", "filter": "filter nodes", "mark": "mark node",
    "mark_all": "mark all shown", "unmark_all": "clear marks", "shell": "ssh shell on node",
    "sort_next": "sort by next column", "sort_prev": "sort by previous column",
    "sort_reverse": "reverse sort", "metric": "next heatmap metric", "back": "back",
    "palette": "command palette", "filter_close": "close the filter",
    "help_close": "close help", "command_cancel": "cancel the command line",
    "heat_left": "heatmap cursor left", "heat_right": "heatmap cursor right",
    "heat_up": "heatmap cursor up", "heat_down": "heatmap cursor down",
    "heat_groups": "heatmap: back from a group to the group cells",
    "cursor_up": "table cursor up", "cursor_down": "table cursor down", "page_up": "page up",
    "page_down": "page down", "top": "first row", "bottom": "last row",
    "job_submit": "submit a job", "job_cancel": "cancel job (confirms)",
    "job_abort": "abort job or BOINC task (confirms)", "job_suspend": "suspend job or BOINC task",
    "job_resume": "resume job or BOINC task", "job_follow": "follow job output",
    "job_details": "job details", "job_next_task": "output of the next task",
    "submit_send": "submit the form", "submit_cancel": "close the form",
    "submit_spread": "submit form: spread tasks one per node (--spread-job) on or off",
    "power_on": "power on marked nodes", "power_off": "power off marked nodes (confirms)",
    "power_cycle": "power cycle marked nodes (confirms)", "power_refresh": "re-read power",
    "confirm_yes": "answer yes", "confirm_no": "answer no",
    "form_next": "submit form: next field", "form_prev": "submit form: previous field",
    "graph_next": "node screen: next page of graphs",
    "graph_prev": "node screen: previous page of graphs",
    "history_span": "node graphs: live, last hour, last day (from the history database)",
}


class KeymapError(RoostError, ValueError):
    pass


def validate(keymap: Mapping[str, str], known: Iterable[str] = BINDING_IDS) -> dict[str, str]:
    """Check a [keymap] table: known ids, non-empty key strings. Returns a clean copy."""
    known = set(known)
    bad = sorted(k for k in keymap if k not in known)
    if bad:
        raise KeymapError(f"[keymap]: unknown binding id(s) {', '.join(bad)}; "
                          f"known: {', '.join(sorted(known))}")
    out = {}
    for bid, keys in keymap.items():
        if not isinstance(keys, str) or not keys.strip():
            raise KeymapError(f"[keymap].{bid}: expected a key string like \"ctrl+n\" or \"n,N\"")
        out[bid] = keys.strip()
    return out
