"""Silences: label matchers with a time window, who and why. Pure matching, no I/O.

A silence mutes an alert when it is active at ``now_ms`` (``start_ms <= now < end_ms``, not
expired early) and every one of its matchers matches the alert's labels. Alert labels are the
group's labels plus the rule's labels plus ``alertname`` (the rule name) and ``severity``.
Silenced alerts are still evaluated and recorded; only sending is suppressed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import math
import re

from alerts.rules import MAX_DURATION_S, Matcher, RuleError, parse_matchers

MAX_TEXT = 1024  # characters of actor and reason


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    start_ms: int
    end_ms: int
    created_by: str
    reason: str
    expired_ms: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Silence":
        """From a ``store.alerts.read_silences`` row."""
        return cls(row["id"], tuple(parse_matchers(row["matchers"], "matchers")), row["start_ms"], row["end_ms"],
                   row["created_by"], row["reason"], row["expired_ms"])

    def active(self, now_ms: int) -> bool:
        return in_force(self.start_ms, self.end_ms, self.expired_ms, now_ms)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


def in_force(start_ms: int, end_ms: int, expired_ms: int | None, now_ms: int) -> bool:
    """Whether a silence with this window (ended early at ``expired_ms`` if set) is active at ``now_ms``."""
    end = end_ms if expired_ms is None else min(end_ms, expired_ms)
    return start_ms <= now_ms < end


ALWAYS_SET = ("alertname", "severity")  # labels every alert has, never empty
_PROBES = ("a", "Z", "0", "_", "lag-high", "Kafka lag high", "critical", "warning", "info", "x" * 64, "é")


def _matches_everything(m: Matcher) -> bool:
    """Whether ``m`` alone lets every alert through: a negation, a matcher an absent label satisfies
    (``{no_such_label: ""}``, ``=~".*"``), or a pattern on a label every alert has that matches any value
    (``alertname=~".+"``, judged on varied sample values)."""
    if m.negate:
        return True
    if m.label in ALWAYS_SET:
        return m.op != "exact" and all(m.matches({m.label: p}) for p in _PROBES)
    return m.matches({})


def validate(matchers: Any, start_ms: int, end_ms: int, actor: str, reason: str) -> tuple[Matcher, ...]:
    """Checked matchers of a new silence; a refusal raises ``RuleError`` naming the field."""
    parsed = parse_matchers(matchers, "matchers")
    if not parsed:
        raise RuleError("matchers", "a silence needs at least one matcher")
    if all(_matches_everything(m) for m in parsed):
        raise RuleError("matchers", "would silence every alert; add a positive matcher")
    for key, v in (("start_ms", start_ms), ("end_ms", end_ms)):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 2 ** 53:
            raise RuleError(key, "must be epoch milliseconds (an integer)")
    if end_ms <= start_ms:
        raise RuleError("end_ms", "must be after start_ms")
    if end_ms - start_ms > MAX_DURATION_S * 1000:
        raise RuleError("end_ms", "a silence lasts at most 366 days")
    for key, v in (("actor", actor), ("reason", reason)):
        if not isinstance(v, str) or not v.strip():
            raise RuleError(key, "who creates the silence is required" if key == "actor"
                            else "why the alerts are silenced is required")
        if len(v) > MAX_TEXT:
            raise RuleError(key, f"longer than {MAX_TEXT} characters")
    return tuple(parsed)


def end_after(start_ms: int, hours: float) -> int:
    """``start_ms`` plus ``hours``; RuleError (not OverflowError) for a non-finite or over-366-day duration."""
    try:
        h = float(hours) if isinstance(hours, (int, float)) and not isinstance(hours, bool) else math.nan
    except OverflowError:  # an int too large for a float
        h = math.inf
    if not math.isfinite(h) or not 0 < h * 3600 <= MAX_DURATION_S:
        raise RuleError("duration", "must be a positive number of hours up to 366 days (8784 h)")
    hours = h
    return start_ms + int(hours * 3_600_000)


def alert_labels(rule_name: str, severity: str, rule_labels: Mapping[str, str],
                 group_labels: Mapping[str, str]) -> dict[str, str]:
    """The label set silences (and notifications) see for one alert."""
    return {**group_labels, **rule_labels, "alertname": rule_name, "severity": severity}


def silenced_by(labels: Mapping[str, str], silences: Iterable[Silence], now_ms: int) -> list[int]:
    """Ids of the silences that mute an alert with these labels at ``now_ms``."""
    return [s.id for s in silences if s.active(now_ms) and s.matches(labels)]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_HOURS = {"m": 1 / 60, "min": 1 / 60, "h": 1.0, "d": 24.0}


def duration_hours(text: str) -> float:
    """An operator's silence duration, ``30m``, ``2h``, ``1d`` or plain hours (``1.5``), as hours; RuleError
    naming the field otherwise (bounds are checked by :func:`end_after`)."""
    m = _DURATION.match(text if isinstance(text, str) else "")
    if not m or len(text) > 32:
        raise RuleError("duration", f"give a duration such as 30m, 2h or 1d (got {str(text)[:40]!r})")
    return float(m.group(1)) * _UNIT_HOURS[(m.group(2) or "h").lower()]


def matching(matchers: Iterable[Matcher], alerts: Iterable[Mapping[str, str]]) -> list[int]:
    """Indices of the alerts (their silence label sets, :func:`alert_labels`) that the matchers would mute."""
    ms = list(matchers)
    return [i for i, labels in enumerate(alerts) if all(m.matches(labels) for m in ms)]
