"""What one evaluation of one rule decides, before anything is written or sent. Pure.

Given a rule's groups this tick (keys, labels, values: ``alerts.series``), the stored state of each
of its groups and the injected ``now_ms``, :func:`decide` advances every group that can change
(``alerts.state.step``) and returns a :class:`Plan`: the state rows to write, the rows to forget,
and the groups whose events the evaluator records and may notify (``alerts.evaluator`` does that
I/O). Silences and inhibition come in as functions of a group (``mute``, ``inhibit``), so tables of
cases can run this without a store.

Only groups breaching now or with a stored state can change: the quiet rest is skipped in numpy.
A resolved or inactive group that stays so keeps its stored row as is (no write).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from alerts.rules import COMPARISONS, Rule, summary_renderer
from alerts.state import AlertState, Event, pending_since, step
from core import times

# Resolved states of series gone this long are forgotten.
FORGET_AFTER_MS = 24 * 3600 * 1000
GONE_PREFIX = "gone: "

_PENDING = Event("pending", "inactive", "pending")  # immutable: one for every new incident
Mute = Callable[[Mapping[str, str]], list[int]]                      # group labels -> silence ids
Inhibit = Callable[[str, Mapping[str, str], "float | None"], list[str]]  # key, labels, value -> inhibit rules


class Change(NamedTuple):
    """A group with events to record, or a firing one whose held-back notification may be due now
    (``announce``: not muted, not inhibited, no notifying event this tick)."""

    key: str
    labels: Mapping[str, str]
    state: AlertState
    events: list[Event]
    muted: list[int]
    inhibited: list[str]
    announce: bool


@dataclass
class Plan:
    groups: int = 0                                          # groups seen (current and stored)
    rows: list[dict[str, Any]] = field(default_factory=list)  # state rows to upsert
    forget: list[str] = field(default_factory=list)           # group keys whose stored row goes
    changes: list[Change] = field(default_factory=list)       # in group key order


def as_state(row: Mapping[str, Any] | None) -> AlertState:
    """The state of a stored ``alert_state`` row (none: inactive)."""
    if row is None:
        return AlertState()
    return AlertState(row["state"], row["active_since_ms"], row["fired_at_ms"], row["last_notified_ms"],
                      row["resolved_at_ms"], row["nodata_since_ms"], row["value"], row.get("clear_since_ms"))


def gone_summary(labels: Mapping[str, str], last_seen_ms: int) -> str:
    """The summary of an alert resolved because its series are gone (the reason the Alerts page shows)."""
    what = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "its series"
    return (f"{GONE_PREFIX}{what} is no longer reported by its collector (last seen "
            f"{times.shown(last_seen_ms)})")


def forget(rule: Rule, new: AlertState, now_ms: int) -> bool:
    """No row is kept for a quiet group (inactive; only ``no_data: alerting`` must remember its
    series exist), nor for a resolved one gone for ``FORGET_AFTER_MS``."""
    if new.state == "inactive":
        return rule.no_data != "alerting" or (new.nodata_since_ms is not None
                                              and now_ms - new.nodata_since_ms > FORGET_AFTER_MS)
    return new.state == "resolved" and new.nodata_since_ms is not None and \
        now_ms - new.nodata_since_ms > FORGET_AFTER_MS


def unchanged_quiet(old: Mapping[str, Any], new: AlertState, rule: Rule, identity: str, muted: list[int]) -> bool:
    """A resolved or inactive group whose stored row would change in nothing but its value and summary."""
    return (new.state in ("resolved", "inactive") and old["state"] == new.state
            and old["active_since_ms"] == new.active_since_ms and old["fired_at_ms"] == new.fired_at_ms
            and old["last_notified_ms"] == new.last_notified_ms and old["resolved_at_ms"] == new.resolved_at_ms
            and old["nodata_since_ms"] == new.nodata_since_ms and old["identity"] == identity
            and old["severity"] == rule.severity and (old["silenced_by"] or []) == muted)


def decide(rule: Rule, keys: Sequence[str], group_labels: Sequence[Mapping[str, str]], values: np.ndarray,
           previous: Mapping[str, Mapping[str, Any]], *, now_ms: int, repeat_ms: int,
           gone: Mapping[str, int] | None = None, mute: Mute | None = None,
           inhibit: Inhibit | None = None) -> Plan:
    """The plan of one rule's evaluation at ``now_ms``.

    ``keys``/``group_labels``/``values``: the rule's groups with fresh data; ``previous``: stored rows by
    group key; ``gone``: ``{group key: last seen ms}`` of groups whose series all left their target's
    latest successful cycle (a stored alert of such a group resolves, reason "gone", instead of holding);
    ``mute``: the silences muting a group's labels; ``inhibit``: the inhibit rules holding an alert back
    (asked for every group not resolved, in group key order)."""
    gone = gone or {}
    plan = Plan()
    index = {k: i for i, k in enumerate(keys)}
    plan.groups = len(keys) + sum(1 for k in previous if k not in index)
    if rule.no_data == "alerting":
        candidates = index.keys() | previous.keys()
    else:
        hot = COMPARISONS[rule.comparison](np.asarray(values, dtype=np.float64), rule.threshold)
        candidates = {keys[i] for i in np.flatnonzero(hot).tolist()} | previous.keys()
    if not candidates:
        return plan
    compare = COMPARISONS[rule.comparison]
    threshold = rule.threshold
    identity = rule.identity  # a JSON dump of the rule: once per rule, not per group
    for_ms = int(rule.for_s * 1000)
    keep_ms = int(rule.keep_firing_for_s * 1000)
    no_data = rule.no_data
    name, severity = rule.name, rule.severity
    summary = summary_renderer(rule)
    vals = values.tolist() if isinstance(values, np.ndarray) else [float(v) for v in values]
    rows, changes = plan.rows, plan.changes
    fast = repeat_ms > 0 and keep_ms >= 0  # else step refuses the durations: no shortcut around it
    new_pending = fast and for_ms > 0  # a breaching group without a stored row is a new incident: pending
    for key in sorted(candidates):
        old = previous.get(key)
        if old is None and new_pending and no_data != "alerting":
            # hot (a candidate with no stored row): what step would say, without it (the most common change)
            i = index[key]
            labels, value = group_labels[i], vals[i]
            muted = mute(labels) if mute is not None else []
            inhibited = inhibit(key, labels, value) if inhibit is not None else []
            rows.append({
                "rule": name, "group_key": key, "labels": labels, "severity": severity,
                "state": "pending", "active_since_ms": now_ms, "fired_at_ms": None, "last_notified_ms": None,
                "resolved_at_ms": None, "nodata_since_ms": None, "value": value, "summary": summary(labels, value),
                "silenced_by": muted or None, "updated_ms": now_ms, "identity": identity,
                "inhibited_by": inhibited or None, "clear_since_ms": None})
            changes.append(Change(key, labels, pending_since(now_ms, value), [_PENDING], muted, inhibited, False))
            continue
        i = index.get(key)
        if i is None:
            labels, value = old["labels"], None  # type: ignore[index]
            breach = None
        else:
            labels, value = group_labels[i], float(vals[i])
            breach = compare(value, threshold)
        if breach is None and old is not None and old.get("identity") not in (None, identity):
            breach = False  # the edited rule no longer selects this group: resolved, not no data
        if breach is False:
            if old is None and no_data != "alerting":
                continue  # quiet and was quiet: nothing to keep (see forget)
            if fast and old is not None and old["state"] == "pending" and no_data != "alerting":
                plan.forget.append(key)  # cancelled: inactive, and an inactive group keeps no row
                continue
        last_seen = gone.get(key) if i is None else None
        if fast and old is None and breach and for_ms > 0:
            # a new incident: pending (the most common change; step would say the same)
            new, events = pending_since(now_ms, value), [_PENDING]
        else:
            prev = as_state(old)
            if last_seen is not None:  # gone, not silent: resolve now (keep_firing_for does not hold it)
                new, events = step(prev, False, None, for_ms=for_ms, repeat_ms=repeat_ms, no_data=no_data,
                                   now_ms=now_ms)
                new = AlertState(new.state, new.active_since_ms, new.fired_at_ms, new.last_notified_ms,
                                 new.resolved_at_ms, prev.nodata_since_ms or now_ms, None, new.clear_since_ms)
            else:
                new, events = step(prev, breach, value, for_ms=for_ms, repeat_ms=repeat_ms, no_data=no_data,
                                   now_ms=now_ms, keep_ms=keep_ms)
            if forget(rule, new, now_ms):
                if old is not None:
                    plan.forget.append(key)
                continue
        muted = mute(labels) if mute is not None else []
        inhibited = inhibit(key, labels, new.value) if inhibit is not None and new.state != "resolved" else []
        if not events and old is not None and unchanged_quiet(old, new, rule, identity, muted):
            continue  # a resolved/inactive group that stays so: its row (shown in no list) is kept as is
        rows.append({
            "rule": name, "group_key": key, "labels": labels, "severity": severity,
            "state": new.state, "active_since_ms": new.active_since_ms, "fired_at_ms": new.fired_at_ms,
            "last_notified_ms": new.last_notified_ms, "resolved_at_ms": new.resolved_at_ms,
            "nodata_since_ms": new.nodata_since_ms, "value": new.value,
            "summary": gone_summary(labels, last_seen) if last_seen is not None else summary(labels, new.value),
            "silenced_by": muted or None, "updated_ms": now_ms, "identity": identity,
            "inhibited_by": inhibited or None, "clear_since_ms": new.clear_since_ms})
        announce = new.state == "firing" and not muted and not inhibited and not any(e.notify for e in events)
        if events or announce:
            changes.append(Change(key, labels, new, events, muted, inhibited, announce))
    return plan
