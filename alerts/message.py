"""Text of a notification: what, where, how far over the threshold, since when, and a link. Pure."""
from __future__ import annotations

from typing import Mapping

from alerts.rules import Rule, render_summary
from core import times
from core.links import link_for

# apprise notify types per event/severity (apprise.NotifyType values).
_TYPE = {"critical": "failure", "warning": "warning", "info": "info"}


def iso(ts_ms: int | None) -> str:
    """``YYYY-MM-DD HH:MM:SSZ``; ``?`` for none, the raw number marked for one no date can show."""
    return times.shown(ts_ms, none="?", utc_label="Z")


def distance(rule: Rule, value: float | None) -> str:
    """How far the value is from the threshold, e.g. ``+350 over the threshold (+35%)``."""
    if value is None:
        return "no data"
    diff = value - rule.threshold
    side = "over" if diff > 0 else "under" if diff < 0 else "at"
    text = f"{diff:+g} {side} the threshold" if diff else "at the threshold"
    if rule.threshold and diff:
        text += f" ({diff / abs(rule.threshold):+.0%})"
    return text


def compose(rule: Rule, event: str, labels: Mapping[str, str], value: float | None, since_ms: int | None,
            now_ms: int, dashboard_url: str) -> tuple[str, str, str]:
    """``(title, body, apprise notify type)`` of a firing/repeat/resolved notification."""
    where = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "all series"
    head = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED"}.get(event, event.upper())
    title = f"[{head}] {rule.name} ({rule.severity}) {where}"
    shown = "no data" if value is None else f"{value:g}"
    lines = [
        render_summary(rule, labels, value),
        f"What: {rule.metric}{{{where}}} = {shown}; rule: {rule.aggregation} {rule.comparison} {rule.threshold:g}"
        + (f" for {rule.for_s:g}s" if rule.for_s else ""),
        f"How far: {distance(rule, value)}",
        f"Since: {iso(since_ms)}" + (f"; resolved at {iso(now_ms)}" if event == "resolved" else ""),
        f"View: {link_for(dashboard_url, labels)}",
        f"Alerts: {dashboard_url.rstrip('/')}/alerts",
    ]
    kind = "success" if event == "resolved" else _TYPE[rule.severity]
    return title, "\n".join(lines), kind
