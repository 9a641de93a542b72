"""Evaluation of the stored rules over the store's latest samples, after every collection tick.

For each enabled rule: read the latest sample of every series of its metric, group and compare
(``alerts.rules``), advance each (rule, group) state (``alerts.state``), record every transition,
and queue a notification for each due firing/repeat/resolved event unless a silence mutes it.
Queued notifications are then delivered (``alerts.notify``) outside any write transaction.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from alerts import api, message, silences as sil
from alerts.notify import deliver_due
from alerts.rules import Rule, RuleError, SeriesPoint, breaches, group_values, render_summary, rule_from_dict
from alerts.state import AlertState, step
from config import Settings, secret
from core.clock import now_ms
from store import alerts as store_alerts
from store import queries
from store.db import connect_writer, transaction

log = logging.getLogger(__name__)
# Columns of store.queries.latest that are not labels.
_NOT_LABELS = {"series_id", "metric", "ts_ms", "value", "resolution"}
# Resolved states of series gone this long are forgotten.
FORGET_AFTER_MS = 24 * 3600 * 1000


@dataclass
class Options:
    """Evaluation settings taken from ``config.alerts``."""

    repeat_interval_s: float = 4 * 3600.0
    targets: Mapping[str, list[str]] = field(default_factory=dict)   # severity -> secret names
    dashboard_url: str = "http://127.0.0.1:8501"


@dataclass
class Result:
    rules: int = 0
    groups: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    queued: int = 0
    errors: list[str] = field(default_factory=list)


def enabled_rules(conn: sqlite3.Connection, errors: list[str]) -> list[Rule]:
    out = []
    for row in store_alerts.read_rules(conn):
        try:
            rule = rule_from_dict(row["spec"])
        except RuleError as exc:
            errors.append(f"rule {row['name']}: {exc}")
            continue
        if rule.enabled:
            out.append(rule)
    return out


def series_points(conn: sqlite3.Connection, metric: str) -> list[SeriesPoint]:
    """Latest sample of each series of a metric. Read whole and once per evaluation (rules share
    metrics); selectors are applied in memory, where ``label=""`` also matches a missing label."""
    df = queries.latest(conn, metric)
    if df.empty:
        return []
    label_cols = [c for c in df.columns if c not in _NOT_LABELS]
    points = []
    for ts, value, *vals in zip(df["ts_ms"].tolist(), df["value"].tolist(), *(df[c].tolist() for c in label_cols)):
        labels = {c: str(v) for c, v in zip(label_cols, vals) if not pd.isna(v)}
        points.append(SeriesPoint(labels, int(ts), float(value)))
    return points


def _as_state(row: Mapping[str, Any] | None) -> AlertState:
    if row is None:
        return AlertState()
    return AlertState(row["state"], row["active_since_ms"], row["fired_at_ms"], row["last_notified_ms"],
                      row["resolved_at_ms"], row["nodata_since_ms"], row["value"])


def evaluate_rule(conn: sqlite3.Connection, rule: Rule, points: list[SeriesPoint], silences: list[sil.Silence],
                  now_ms: int, opts: Options, result: Result) -> None:
    groups = group_values(rule, points, now_ms)
    previous = {r["group_key"]: r for r in store_alerts.read_states(conn, rule.name)}
    repeat_ms = int((rule.repeat_interval_s or opts.repeat_interval_s) * 1000)
    targets = rule.notify or list(opts.targets.get(rule.severity, []))
    identity = rule.identity  # a JSON dump of the rule: once per rule, not per group
    with transaction(conn):
        for key in sorted(groups.keys() | previous.keys()):
            labels, value = groups.get(key, (previous.get(key, {}).get("labels", {}), None))
            breach = None if value is None else breaches(rule, value)
            if breach is None and previous.get(key, {}).get("identity") not in (None, identity):
                breach = False  # the edited rule no longer selects this group: resolved, not no data
            result.groups += 1
            if breach is False and key not in previous and rule.no_data != "alerting":
                continue  # quiet and was quiet: nothing to keep (see _forget)
            prev = _as_state(previous.get(key))
            new, events = step(prev, breach, value, for_ms=int(rule.for_s * 1000), repeat_ms=repeat_ms,
                               no_data=rule.no_data, now_ms=now_ms)
            if _forget(rule, new, now_ms):
                if key in previous:
                    store_alerts.delete_state(conn, rule.name, key)
                continue
            muted = sil.silenced_by(sil.alert_labels(rule.name, rule.severity, rule.labels, labels), silences,
                                    now_ms)
            store_alerts.write_state(conn, {
                "rule": rule.name, "group_key": key, "labels": labels, "severity": rule.severity,
                "state": new.state, "active_since_ms": new.active_since_ms, "fired_at_ms": new.fired_at_ms,
                "last_notified_ms": new.last_notified_ms, "resolved_at_ms": new.resolved_at_ms,
                "nodata_since_ms": new.nodata_since_ms, "value": new.value,
                "summary": render_summary(rule, labels, new.value), "silenced_by": muted or None,
                "updated_ms": now_ms, "identity": identity})
            for ev in events:
                tid = store_alerts.add_transition(conn, now_ms, rule.name, key, labels, ev.kind, ev.from_state,
                                                  ev.to_state, new.value, muted)
                result.events.append({"rule": rule.name, "group_key": key, "event": ev.kind, "silenced": bool(muted)})
                if not ev.notify or muted:
                    continue
                if ev.kind == "resolved" and not store_alerts.notified_since(conn, rule.name, key,
                                                                            new.fired_at_ms or 0):
                    continue  # the receivers never heard of this incident (silenced while firing)
                since = new.fired_at_ms if ev.kind != "firing" else new.active_since_ms
                title, body, kind = message.compose(rule, ev.kind, labels, new.value, since, now_ms,
                                                    opts.dashboard_url)
                for target in targets:
                    store_alerts.enqueue(conn, now_ms, tid, rule.name, target, title, body, kind)
                    result.queued += 1


def _forget(rule: Rule, new: AlertState, now_ms: int) -> bool:
    """No row is kept for a quiet group (inactive; only ``no_data: alerting`` must remember its
    series exist), nor for a resolved one gone for ``FORGET_AFTER_MS``."""
    if new.state == "inactive":
        return rule.no_data != "alerting" or (new.nodata_since_ms is not None
                                              and now_ms - new.nodata_since_ms > FORGET_AFTER_MS)
    return new.state == "resolved" and new.nodata_since_ms is not None and \
        now_ms - new.nodata_since_ms > FORGET_AFTER_MS


def evaluate(conn: sqlite3.Connection, now_ms: int, opts: Options | None = None) -> Result:
    """Evaluate every enabled rule once at ``now_ms`` on a writer connection; returns what happened.
    A rule that fails (e.g. a store error on its metric) is reported in ``errors``, the others go on."""
    opts = opts or Options()
    result = Result()
    rules = enabled_rules(conn, result.errors)
    silences = [sil.Silence.from_row(r) for r in store_alerts.read_silences(conn, in_force_at_ms=now_ms)]
    points: dict[str, list[SeriesPoint]] = {}
    for rule in rules:
        try:
            if rule.metric not in points:
                points[rule.metric] = series_points(conn, rule.metric)
            evaluate_rule(conn, rule, points[rule.metric], silences, now_ms, opts, result)
            result.rules += 1
        except (sqlite3.Error, ValueError, KeyError) as exc:
            result.errors.append(f"rule {rule.name}: {exc}")
            log.warning("alert rule %s not evaluated: %s", rule.name, exc)
    with transaction(conn):
        store_alerts.delete_orphan_states(conn, [r["name"] for r in store_alerts.read_rules(conn)])
    return result


def options_from(settings: Settings) -> Options:
    cfg = settings.alerts
    return Options(cfg.repeat_interval_s, dict(cfg.notify_env), settings.dashboard.public_url or cfg.dashboard_url)


def hook(settings: Settings, store_path: str | Path) -> Callable[[], None]:
    """Post-tick callable for the collector scheduler: seeds built-in/YAML rules once, then on each
    call (at most every ``evaluation_interval_s``; the scheduler runs hooks one at a time) evaluates
    the rules and delivers due notifications. It never raises into the scheduler."""
    cfg = settings.alerts
    conn = connect_writer(store_path)
    try:
        api.seed_builtin(conn, now_ms())
        if cfg.rules_file:
            api.seed_from_yaml(conn, cfg.rules_file)
    finally:
        conn.close()
    last = {"ms": 0}
    opts = options_from(settings)

    def run() -> None:
        if not cfg.enabled:
            return
        try:
            now = now_ms()
            if now - last["ms"] < cfg.evaluation_interval_s * 1000:
                return
            last["ms"] = now
            wconn = connect_writer(store_path)
            try:
                res = evaluate(wconn, now, opts)
                for err in res.errors:
                    log.warning("alerts: %s", err)
                deliver_due(wconn, now_ms(), secret, retries=cfg.send_retries,
                            base_ms=int(cfg.retry_base_s * 1000), cap_ms=int(cfg.retry_max_s * 1000))
            finally:
                wconn.close()
        except Exception:  # noqa: BLE001 - a failed evaluation must not stop collection
            log.exception("alert evaluation failed")

    return run
