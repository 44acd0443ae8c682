"""Cell formatting shared by the widgets: numbers to short text, colours from the theme.

Everything that came from a node goes through console.text.safe() and into rich Text objects
(never markup strings), so a node named "[red]x" or output with ESC sequences cannot restyle the
console or drive the terminal. Colour levels come with each Row (config.Thresholds).
"""
from __future__ import annotations

from rich.text import Text

from console.state import DOWN, STALE, UP, Row
from console.text import safe_line

SPARK = "▁▂▃▄▅▆▇█"
LEVELS = "▁▃▅▇█"
STATE_SYMBOL = {UP: "●", DOWN: "✖", STALE: "◌"}


def palette(theme_vars: dict[str, str]) -> dict[str, str]:
    """The colour roles widgets use, resolved from the current theme's variables."""
    roles = ("roost-up", "roost-down", "roost-stale", "roost-ok", "roost-warn", "roost-crit",
             "roost-mark", "heat-0", "heat-1", "heat-2", "heat-3", "heat-4")
    fallback = theme_vars.get("foreground", "white")
    return {r: theme_vars.get(r, fallback) for r in roles} | {
        "dim": theme_vars.get("foreground-muted", fallback)}


def age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    return f"{s // 3600}h" if s < 86400 else f"{s // 86400}d"


def si(value: float | None, unit: str = "", base: float = 1000.0) -> str:
    if value is None:
        return "–"
    for prefix in ("", "k", "M", "G", "T"):
        if abs(value) < base or prefix == "T":
            # three significant figures at most: "429MB", "31.1GB", "7.5kB"
            digits = 0 if prefix == "" or abs(value) >= 100 else 1
            return f"{value:.{digits}f}{prefix}{unit}"
        value /= base
    return ""


def spark(values: tuple[float, ...], width: int = 10) -> str:
    vals = values[-width:]
    return "".join(SPARK[min(7, int(v / 100 * 8))] for v in vals).rjust(width)


def state_cell(row: Row, pal: dict[str, str]) -> Text:
    color = {UP: "roost-up", DOWN: "roost-down", STALE: "roost-stale"}.get(row.state)
    sym = STATE_SYMBOL.get(row.state, "?")
    label = f"{sym} {row.state:<5} {age(row.age) if row.state != UP else '':>3}"
    return Text(label, style=pal[color] if color else pal["dim"])


def temp_cell(row: Row, pal: dict[str, str]) -> Text:
    if row.temp is None:
        return Text("–")
    mark = {"ok": "", "warn": " !", "crit": " !!"}[row.temp_level]
    return Text(f"{row.temp:5.1f}°{mark}", style=pal[f"roost-{row.temp_level}"])


def cpu_cell(row: Row, pal: dict[str, str]) -> Text:
    if row.cpu is None:
        return Text("  –  " + spark(row.spark), style=pal["dim"])
    return Text(f"{row.cpu:3.0f}% ", style=pal[f"roost-{row.cpu_level}"]) + Text(spark(row.spark))


def fan_cell(row: Row, pal: dict[str, str]) -> Text:
    return _fan(row, pal, " rpm", " ✖", "% pwm")


def _fan(row: Row, pal: dict[str, str], rpm: str, stall: str, pwm: str) -> Text:
    """The fan's rpm (✖ when it stalls while driven), else its PWM duty; units as given."""
    if row.fan_rpm is not None:
        stalled = row.fan_rpm == 0 and (row.fan_pwm_pct or 0) > 0
        return Text(f"{row.fan_rpm:.0f}{rpm}" + (stall if stalled else ""),
                    style=pal["roost-crit"] if stalled else "")
    if row.fan_pwm_pct is not None:
        return Text(f"{row.fan_pwm_pct:.0f}{pwm}")
    return Text("–")


def freq_cell(row: Row, pal: dict[str, str]) -> Text:
    if row.freq_hz is None:
        return Text("–")
    top = f"/{row.freq_max_hz / 1e9:.1f}" if row.freq_max_hz else ""
    capped = any(f in ("THR", "CAP", "SOFT") for f in row.flags)
    return Text(f"{row.freq_hz / 1e9:.2f}{top}G" + (" ▼" if capped else ""),
                style=pal["roost-warn"] if capped else "")


def flags_cell(row: Row, pal: dict[str, str]) -> Text:
    if not row.flags:
        return Text("")
    now = any(f.isupper() for f in row.flags)
    return Text(" ".join(row.flags), style=pal["roost-crit"] if now else pal["roost-stale"])


def _alarm(level: str, pal: dict[str, str]) -> str:
    # mem and load stay uncoloured while ok: only a crossed threshold draws the eye
    return "" if level == "ok" else pal[f"roost-{level}"]


def load_cell(row: Row, pal: dict[str, str]) -> Text:
    if row.load1 is None:
        return Text("–")
    return Text(f"{row.load1:.2f}", style=_alarm(row.load_level, pal))


def mem_cell(row: Row, pal: dict[str, str]) -> Text:
    if row.mem_pct is None:
        return Text("–")
    return Text(f"{row.mem_pct:3.0f}% of {si(row.mem_total, 'B', 1024.0)}",
                style=_alarm(row.mem_level, pal))


def net_cell(row: Row, pal: dict[str, str]) -> Text:
    if row.rx_bps is None:
        return Text("–")
    return Text(f"↓{si(row.rx_bps, 'B'):>7} ↑{si(row.tx_bps, 'B'):>7}")


def name_cell(row: Row, pal: dict[str, str]) -> Text:
    return Text(safe_line(row.name))


# ---- compact cells: what a column shows when the terminal is narrow (widgets/columns.py) ----
def state_compact(row: Row, pal: dict[str, str]) -> Text:
    """`● up`, `✖ 42s`, `◌ 3m`: the symbol and colour say the state, the age how long."""
    color = {UP: "roost-up", DOWN: "roost-down", STALE: "roost-stale"}.get(row.state)
    sym = STATE_SYMBOL.get(row.state, "?")
    label = f"{sym} {row.state if row.state == UP else age(row.age) or row.state[:4]}"
    return Text(label, style=pal[color] if color else pal["dim"])


def cpu_compact(row: Row, pal: dict[str, str]) -> Text:
    if row.cpu is None:
        return Text("  –", style=pal["dim"])
    return Text(f"{row.cpu:3.0f}%", style=pal[f"roost-{row.cpu_level}"])


def mem_compact(row: Row, pal: dict[str, str]) -> Text:
    if row.mem_pct is None:
        return Text("  –")
    return Text(f"{row.mem_pct:3.0f}%", style=_alarm(row.mem_level, pal))


def temp_compact(row: Row, pal: dict[str, str]) -> Text:
    if row.temp is None:
        return Text("–")
    mark = {"ok": "", "warn": "!", "crit": "!!"}[row.temp_level]
    return Text(f"{row.temp:3.0f}°{mark}", style=pal[f"roost-{row.temp_level}"])


def net_compact(row: Row, pal: dict[str, str]) -> Text:
    if row.rx_bps is None:
        return Text("–")
    return Text(f"↓{si(row.rx_bps):>5}↑{si(row.tx_bps):>5}")


def freq_compact(row: Row, pal: dict[str, str]) -> Text:
    if row.freq_hz is None:
        return Text("–")
    capped = any(f in ("THR", "CAP", "SOFT") for f in row.flags)
    return Text(f"{row.freq_hz / 1e9:.1f}G" + ("▼" if capped else ""),
                style=pal["roost-warn"] if capped else "")


def fan_compact(row: Row, pal: dict[str, str]) -> Text:
    return _fan(row, pal, "", "✖", "%")


def power_cell(row: Row, pal: dict[str, str]) -> Text:
    return Text(safe_line(row.power))


def jobs_cell(row: Row, pal: dict[str, str]) -> Text:
    return Text("–" if row.jobs is None else str(row.jobs))


def disk_compact(row: Row, pal: dict[str, str]) -> Text:
    """Root filesystem use only: "43%!" (the mark when read-only, full or worn)."""
    if row.disk_pct is None:
        return Text("–")
    mark = {"ok": "", "warn": "!", "crit": "!!"}[row.disk_level]
    return Text(f"{row.disk_pct:3.0f}%{mark}",
                style=pal[f"roost-{row.disk_level}"] if row.disk_level != "ok" else "")


def disk_cell(row: Row, pal: dict[str, str]) -> Text:
    """Root filesystem use and disk I/O: "43% 1.2MB/s"; red when read-only, full or worn."""
    if row.disk_pct is None and row.disk_bps is None:
        return Text("–")
    pct = "  –" if row.disk_pct is None else f"{row.disk_pct:3.0f}%"
    rate = "" if row.disk_bps is None else f" {si(row.disk_bps, 'B')}/s"
    mark = {"ok": "", "warn": " !", "crit": " !!"}[row.disk_level]
    return Text(pct + rate + mark, style=pal[f"roost-{row.disk_level}"] if row.disk_level != "ok" else "")
