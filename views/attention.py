"""The Overview's "needs attention" list: one ranked list of what is wrong now, each row linking to its view.

Pure (pandas in, a frame out). Inputs are "now" reads (gone entities already left out) and alert states.
Rank: critical firing alerts, STOP/ERR groups and queues, warning firing alerts, STALL, growing DLQs,
consumers with a high error ratio or p99, pending alerts, WARN. Severity is shown in colour *and* text.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import pandas as pd

from core.codes import Status

ERROR_RATIO = 0.05   # a consumer failing more than this share of its messages needs attention
P99_S = 1.0          # ... or whose p99 processing time is above this
SEVERITY_MARK = {"critical": "● critical", "warning": "▲ warning", "info": "○ info"}  # a shape as well as a colour
COLOURS = {"critical": "#e5484d", "warning": "#f5a524", "info": "#3e9bd6"}  # not the theme's red: that is the accent


def colour_of(text: object) -> str:
    """CSS for a severity cell (its colour beside the text and mark, for the Styler)."""
    for sev, colour in COLOURS.items():
        if isinstance(text, str) and text.endswith(sev):
            return f"color: {colour}; font-weight: 600"
    return ""
COLUMNS = ["rank", "severity", "what", "status", "detail", "view"]


def _rows(df: pd.DataFrame | None) -> list[dict[str, Any]]:
    return [] if df is None or df.empty else df.to_dict("records")


def _labels(row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    return {k: str(row[k]) for k in names if k in row and isinstance(row[k], str) and row[k]}


def needs_attention(*, firing: pd.DataFrame | None, pending: pd.DataFrame | None, group_status: pd.DataFrame | None,
                    group_lag_s: pd.DataFrame | None, queue_status: pd.DataFrame | None,
                    dlq_inflow: pd.DataFrame | None, dlq_depth: pd.DataFrame | None,
                    consumer_errors: pd.DataFrame | None, consumer_p99: pd.DataFrame | None,
                    link: Callable[[Mapping[str, Any]], str], fmt_duration: Callable[[float], str],
                    fmt_rate: Callable[[float], str]) -> pd.DataFrame:
    """The ranked list; ``link(labels)`` makes a row's view URL, the formatters its numbers."""
    out: list[tuple[int, float, dict[str, Any]]] = []

    def add(rank: int, weight: float, severity: str, what: str, status: str, detail: str,
            labels: Mapping[str, Any]) -> None:
        out.append((rank, -weight, {"severity": SEVERITY_MARK.get(severity, severity), "what": what,
                                    "status": status, "detail": detail, "view": link(labels)}))

    for state, df in (("firing", firing), ("pending", pending)):
        for r in _rows(df):
            sev = str(r.get("severity") or "warning")
            rank = (0 if sev == "critical" else 2) if state == "firing" else 6
            labels = r.get("labels") or {}
            add(rank, 0.0, sev, f"alert {r['rule']}" + (": " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
                                                       if labels else ""),
                state.upper(), str(r.get("summary") or ""), labels)
    lag_s = {(r.get("cluster"), r.get("group")): float(r["value"]) for r in _rows(group_lag_s)}
    for r in _rows(group_status):
        st = int(r["value"])
        if st < Status.WARN:
            continue
        name = Status(st).name if st in Status._value2member_map_ else str(st)
        rank = 1 if st >= Status.STOP else 3 if st == Status.STALL else 7
        lag = lag_s.get((r.get("cluster"), r.get("group")))
        add(rank, lag or 0.0, "critical" if st >= Status.STALL else "warning", f"Kafka group {r['group']} ({r['cluster']})",
            name, f"time lag {fmt_duration(lag)}" if lag is not None else "time lag unknown",
            _labels(r, ("cluster", "group")))
    for r in _rows(queue_status):
        st = int(r["value"])
        if st < Status.WARN:
            continue
        name = Status(st).name if st in Status._value2member_map_ else str(st)
        rank = 1 if st >= Status.STOP else 3 if st == Status.STALL else 7
        add(rank, 0.0, "critical" if st >= Status.STALL else "warning",
            f"RabbitMQ queue {r['queue']} ({r['cluster']})", name, "", _labels(r, ("cluster", "vhost", "queue")))
    depth = {(r.get("broker"), r.get("cluster"), r.get("dlq")): float(r["value"]) for r in _rows(dlq_depth)}
    for r in _rows(dlq_inflow):
        v = float(r["value"])
        if not v > 0:
            continue
        d = depth.get((r.get("broker"), r.get("cluster"), r.get("dlq")))
        add(4, v, "warning", f"DLQ {r['dlq']} ({r['broker']} {r['cluster']})", "GROWING",
            f"inflow {fmt_rate(v)}/s" + (f", {int(d):,} messages" if d is not None else ""),
            _labels(r, ("broker", "cluster", "vhost", "dlq")))
    p99 = {(r.get("cluster"), r.get("broker"), r.get("consumer")): float(r["value"]) for r in _rows(consumer_p99)}
    seen = set()
    for r in _rows(consumer_errors):
        key = (r.get("cluster"), r.get("broker"), r.get("consumer"))
        v = float(r["value"])
        slow = p99.get(key, 0.0) > P99_S
        if v > ERROR_RATIO or slow:
            seen.add(key)
            add(5, v if v > ERROR_RATIO else 0.0, "warning", f"consumer {r['consumer']} ({r['broker']} {r['cluster']})", "ERR" if v > ERROR_RATIO
                else "SLOW", f"error ratio {v:.1%}" + (f", p99 {fmt_duration(p99[key])}" if key in p99 else ""),
                _labels(r, ("cluster", "broker", "consumer")))
    for r in _rows(consumer_p99):
        key = (r.get("cluster"), r.get("broker"), r.get("consumer"))
        if key not in seen and float(r["value"]) > P99_S:
            add(5, 0.0, "warning", f"consumer {r['consumer']} ({r['broker']} {r['cluster']})", "SLOW",
                f"p99 {fmt_duration(float(r['value']))}", _labels(r, ("cluster", "broker", "consumer")))
    out.sort(key=lambda t: (t[0], t[1], t[2]["what"]))
    return pd.DataFrame([{"rank": i + 1, **row} for i, (_, _, row) in enumerate(out)], columns=COLUMNS)
