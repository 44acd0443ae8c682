"""Run a Grafana dashboard's queries the way Grafana does, against Prometheus' HTTP API.

What Grafana does and this repeats (Grafana 9/10 with a Prometheus data source):
- template variables resolve in dashboard order, each query seeing the ones before it:
  label_values(SELECTOR, LABEL) asks /api/v1/series over the time range, label_values(LABEL)
  /api/v1/label/LABEL/values, query_result(EXPR) an instant query whose result lines
  (`{labels} value timestamp`) go through the variable's regex; interval and custom variables
  take their current value. A variable that finds nothing becomes "".
- the chosen value is the one a user picks (`pins`: the job, and per label the node under
  test), else the saved current value, else "All" when the variable includes it, else the first.
- $__interval is the range over the panel's data points, never below the data source's scrape
  interval or the target's min interval; $__rate_interval = max($__interval + scrape interval,
  4 x scrape interval); $__range and $__range_s the range. Single values are inserted as they
  are; multi-value and All selections as a regex alternation "(a|b)" with regex characters escaped.
- a target marked instant runs as an instant query, the rest as range queries.
Only Prometheus targets that are not hidden count; an expression "has data" when Prometheus
returns at least one series with at least one point.
"""
from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)
LABEL_VALUES_1 = re.compile(r"^\s*label_values\(\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$")
QUERY_RESULT = re.compile(r"^\s*query_result\((.*)\)\s*$", re.S)
VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")
REGEX_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}])")


@dataclass(frozen=True)
class Target:
    panel: str
    expr: str
    instant: bool = False
    interval: str = ""          # the target's (or panel's) min interval, e.g. "30m" or "$interval"


def seconds(text: str) -> float | None:
    m = DURATION.match(text.strip())
    return int(m.group(1)) * UNITS[m.group(2)] if m else None


def panels(items: list) -> Iterator[dict]:
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def targets(dashboard: dict) -> list[Target]:
    """Every visible Prometheus query of every panel (rows' nested panels included)."""
    out = []
    for p in panels(dashboard.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr") and not t.get("hide"):
                out.append(Target(p.get("title", ""), t["expr"], bool(t.get("instant")),
                                  t.get("interval") or p.get("interval") or ""))
    return out


@dataclass
class Grafana:
    prometheus: str                  # base URL
    start: float
    end: float
    scrape_interval: float = 1.0     # the data source's "Scrape interval" setting
    max_points: int = 1000           # a panel about 1000 px wide
    values: dict[str, list[str]] = field(default_factory=dict)

    # ---- Prometheus HTTP API
    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.prometheus}{path}?{query}", timeout=30) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body}")
        return body["data"]

    # ---- variables
    def resolve(self, dashboard: dict, pins: dict[str, str]) -> dict[str, str]:
        """{variable: text to substitute}. pins maps a variable's label (or name) to the value a
        user picks; a pinned value the variable's own query does not offer raises LookupError."""
        chosen: dict[str, str] = {}
        for var in dashboard.get("templating", {}).get("list", []):
            name, kind = var["name"], var.get("type")
            if kind in ("datasource", "adhoc"):
                continue
            options = self._options(var, chosen)
            self.values[name] = options
            chosen[name] = self._choose(var, options, pins)
        return chosen

    def _options(self, var: dict, chosen: dict[str, str]) -> list[str]:
        kind = var.get("type")
        if kind in ("interval", "custom", "constant", "textbox"):
            current = (var.get("current") or {}).get("value")
            opts = [o["value"] for o in var.get("options", []) if "value" in o]
            query = var.get("query", "")
            return [current] if current else (opts or [q.strip() for q in str(query).split(",") if q.strip()])
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else (query or "")
        query = self.substitute(query, chosen)
        found = self._run_variable_query(query)
        return self._apply_regex(found, var.get("regex") or "")

    def _run_variable_query(self, query: str) -> list[str]:
        if m := LABEL_VALUES.match(query):
            series = self.api("/api/v1/series", **{"match[]": m.group(1), "start": self.start,
                                                    "end": self.end})
            return sorted({s[m.group(2)] for s in series if m.group(2) in s})
        if m := LABEL_VALUES_1.match(query):
            return sorted(self.api(f"/api/v1/label/{m.group(1)}/values", start=self.start, end=self.end))
        if m := QUERY_RESULT.match(query):
            result = self.api("/api/v1/query", query=m.group(1), time=self.end)
            return [_result_line(r) for r in result.get("result", [])]
        return []

    @staticmethod
    def _apply_regex(values: list[str], regex: str) -> list[str]:
        if not regex:
            return values
        pattern = re.compile(regex[1:regex.rindex("/")] if regex.startswith("/") else regex)
        out = []
        for v in values:
            m = pattern.search(v)
            if m:
                out.append(m.group(1) if m.groups() else v)
        return list(dict.fromkeys(out))

    def _choose(self, var: dict, options: list[str], pins: dict[str, str]) -> str:
        pin = pins.get(var["name"]) or pins.get(_label_of(var))
        if pin is not None:
            if pin not in options:
                raise LookupError(f"variable {var['name']}: {pin!r} not among {options}")
            return self._format(var, [pin])
        if var.get("type") in ("interval", "custom") and options:
            return options[0]
        if not options:
            return ""
        if var.get("includeAll"):
            return self._format(var, options, everything=True)
        return self._format(var, options[:1])

    @staticmethod
    def _format(var: dict, picked: list[str], everything: bool = False) -> str:
        if everything and var.get("allValue"):
            return var["allValue"]
        if len(picked) == 1 and not everything and not var.get("multi"):
            return picked[0]
        escaped = [REGEX_SPECIAL.sub(r"\\\\\1", v) for v in picked]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"

    # ---- expressions
    def interval(self, target: Target, chosen: dict[str, str]) -> float:
        floor = self.scrape_interval
        own = seconds(self.substitute(target.interval, chosen)) if target.interval else None
        return max(floor, own or 0.0, (self.end - self.start) / self.max_points)

    def substitute(self, expr: str, chosen: dict[str, str], interval: float | None = None) -> str:
        step = interval if interval is not None else self.scrape_interval
        rate = max(step + self.scrape_interval, 4 * self.scrape_interval)
        span = self.end - self.start
        builtins = {"__interval": f"{int(step * 1000)}ms", "__interval_ms": str(int(step * 1000)),
                    "__rate_interval": f"{int(rate * 1000)}ms", "__range": f"{int(span)}s",
                    "__range_s": str(int(span)), "__range_ms": str(int(span * 1000))}

        def one(m: re.Match) -> str:
            name = m.group(1) or m.group(3) or m.group(4)
            if name in builtins:
                return builtins[name]
            return chosen.get(name, m.group(0))
        return VARIABLE.sub(one, expr)

    def has_data(self, target: Target, chosen: dict[str, str]) -> bool:
        step = self.interval(target, chosen)
        expr = self.substitute(target.expr, chosen, step)
        if target.instant:
            result = self.api("/api/v1/query", query=expr, time=self.end)["result"]
        else:
            result = self.api("/api/v1/query_range", query=expr, start=self.start, end=self.end,
                              step=max(step, 0.001))["result"]
        return any(r.get("values") or r.get("value") for r in result) if isinstance(result, list) \
            else result is not None


def _label_of(var: dict) -> str:
    query = var.get("query")
    query = query.get("query", "") if isinstance(query, dict) else (query or "")
    m = LABEL_VALUES.match(query) or LABEL_VALUES_1.match(query)
    return m.group(m.lastindex) if m else ""


def _result_line(r: dict) -> str:
    labels = dict(r.get("metric", {}))
    name = labels.pop("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    value = r.get("value", [0, ""])
    return f"{name}{{{inner}}} {value[1]} {int(float(value[0]) * 1000)}"

