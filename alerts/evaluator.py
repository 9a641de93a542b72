"""Evaluation of the stored rules over the store's latest samples, after every collection tick.

For each enabled rule: read the latest sample of every series of its metric, group and compare
(``alerts.rules``), advance each (rule, group) state (``alerts.state``), record every transition,
and queue a notification for each due firing/repeat/resolved event unless a silence mutes it.
Queued notifications are then delivered (``alerts.notify``) outside any write transaction.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np


from alerts import api, inhibit, message, silences as sil, windows
from alerts.inhibition import Inhibition
from alerts.notify import deliver_due
from alerts.rules import (COMPARISONS, Rule, RuleError, SeriesPoint, breaches, group_key, render_summary,
                          rule_from_dict)
from alerts.series import PointSet
from alerts.state import AlertState, step
from config import Settings, secret
from core import times
from core.clock import now_ms
from core.rejects import Rejects
from store import alerts as store_alerts
from store import queries
from store import rejects as store_rejects
from store.db import connect_writer, transaction

log = logging.getLogger(__name__)
# Resolved states of series gone this long are forgotten.
FORGET_AFTER_MS = 24 * 3600 * 1000


def notify_targets(named: list[str], severity: str, configured: Mapping[str, list[str]]) -> list[str]:
    """The secret names a rule's notifications go to: those it names that ``alerts.notify_env`` configures
    (a rule may not name any other environment variable: its value would be sent as an apprise URL), else
    the severity's configured ones."""
    known = {n for names in configured.values() for n in names}
    allowed = [n for n in named if n in known]
    if len(allowed) < len(named):
        log.warning("alert rule names notification variables not in alerts.notify_env; ignored: %s",
                    ", ".join(sorted(set(named) - known))[:200])
    return allowed or list(configured.get(severity, []))


@dataclass
class Options:
    """Evaluation settings taken from ``config.alerts``."""

    repeat_interval_s: float = 4 * 3600.0
    targets: Mapping[str, list[str]] = field(default_factory=dict)   # severity -> secret names
    dashboard_url: str = "http://127.0.0.1:8501"
    # Alertmanager-style inhibit rules (alerts.inhibit): the built-ins plus ``alerts.inhibit_rules``
    inhibit_rules: list[inhibit.InhibitRule] = field(default_factory=inhibit.rules_from_builtin)


@dataclass
class Result:
    rules: int = 0
    groups: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    queued: int = 0
    errors: list[str] = field(default_factory=list)


def enabled_rules(conn: sqlite3.Connection, errors: list[str], rejects: Rejects | None = None,
                  now_ms: int = 0) -> list[Rule]:
    out = []
    for row in store_alerts.read_rules(conn):
        try:
            rule = rule_from_dict(row["spec"])
        except RuleError as exc:
            errors.append(f"rule {row['name']}: {exc}")
            if rejects is not None:
                rejects.record("alert_rule", "invalid", f"rule {row['name']}: {exc}", now_ms)
            continue
        if rule.enabled:
            out.append(rule)
    return out


# labels JSON -> parsed labels, shared by every evaluation (a series' labels never change); bounded.
_LABELS: dict[str, dict[str, str]] = {}
_LABELS_MAX = 500_000


def series_points(conn: sqlite3.Connection, metric: str) -> list[SeriesPoint]:
    """Latest sample of each current series of a metric. Read whole and once per evaluation (rules share
    metrics); selectors are applied in memory, where ``label=""`` also matches a missing label."""
    return _points(queries.latest_points(conn, metric))


def _points(rows: list[tuple]) -> list[SeriesPoint]:
    cache = _LABELS
    if len(cache) > _LABELS_MAX:
        cache.clear()
    points = []
    for _sid, ts, value, text in rows:
        labels = cache.get(text)
        if labels is None:
            labels = cache[text] = {str(k): str(v) for k, v in queries.load_labels(text).items()}
        points.append(SeriesPoint(labels, int(ts), float(value), text))
    return points


@dataclass
class MetricPoints:
    """One evaluation's read of a metric: its current series and those gone from their target's latest
    successful cycle (their alerts resolve as gone), and the range-function values computed so far."""

    current: list[tuple]
    gone: PointSet
    latest: PointSet
    windows: dict[tuple[str, float], PointSet] = field(default_factory=dict)


def metric_points(conn: sqlite3.Connection, metric: str) -> MetricPoints:
    current, gone = queries.latest_points_split(conn, metric)
    return MetricPoints(current, PointSet(_points(gone), cache=False), PointSet(_points(current)))


def rule_points(conn: sqlite3.Connection, rule: Rule, mp: MetricPoints, now_ms: int) -> PointSet:
    """What ``rule`` compares: the latest points, or each current series' ``range_function`` over the last
    ``range_s`` (a series with no value over the window is left out: no data)."""
    if rule.range_function == "last":
        return mp.latest
    key = (rule.range_function, rule.range_s)
    if key not in mp.windows:
        start = now_ms - int(rule.range_s * 1000)
        df = queries.range_query(conn, rule.metric, None, start, now_ms, agg="last")
        by_sid = {sid: g["value"].to_numpy() for sid, g in df.groupby("series_id", sort=False)} if len(df) else {}
        rows = []
        for sid, ts, _value, text in mp.current:
            v = windows.apply(rule.range_function, by_sid.get(sid, np.empty(0)))
            if v is not None:
                rows.append((sid, ts, v, text))
        mp.windows[key] = PointSet(_points(rows))
    return mp.windows[key]


def gone_keys(rule: Rule, mp: MetricPoints) -> dict[str, int]:
    """``{group key: last seen ms}`` of the rule's groups made only of gone series."""
    ps = mp.gone
    out: dict[str, int] = {}
    for i in ps.selected(rule).tolist():
        lab = ps.labels[i]
        key = ps.keys[i] if rule.aggregation == "series" else group_key({b: lab.get(b, "") for b in rule.by})
        out[key] = max(out.get(key, 0), int(ps.ts[i]))
    live = mp.latest
    for i in live.selected(rule).tolist():
        lab = live.labels[i]
        out.pop(live.keys[i] if rule.aggregation == "series" else group_key({b: lab.get(b, "") for b in rule.by}),
                None)
    return out


def _as_state(row: Mapping[str, Any] | None) -> AlertState:
    if row is None:
        return AlertState()
    return AlertState(row["state"], row["active_since_ms"], row["fired_at_ms"], row["last_notified_ms"],
                      row["resolved_at_ms"], row["nodata_since_ms"], row["value"], row.get("clear_since_ms"))


def evaluate_rule(conn: sqlite3.Connection, rule: Rule, points: PointSet | list[SeriesPoint],
                  silences: list[sil.Silence], now_ms: int, opts: Options, result: Result,
                  inhibition: Inhibition | None = None, gone: Mapping[str, int] | None = None) -> None:
    """``gone``: ``{group key: last seen ms}`` of groups whose series all left their target's latest
    successful cycle: a stored alert of such a group resolves (reason "gone") instead of holding."""
    points = points if isinstance(points, PointSet) else PointSet(points)
    gone = gone or {}
    keys, group_labels, values = points.group_arrays(rule, now_ms)
    previous = {r["group_key"]: r for r in store_alerts.read_states(conn, rule.name)}
    index = {k: i for i, k in enumerate(keys)}
    result.groups += len(keys) + sum(1 for k in previous if k not in index)
    # Only groups breaching now or with a stored state can change: the quiet rest is skipped in numpy.
    if rule.no_data == "alerting":
        candidates = index.keys() | previous.keys()
    else:
        hot = COMPARISONS[rule.comparison](values, rule.threshold)
        candidates = {keys[i] for i in np.flatnonzero(hot).tolist()} | previous.keys()
    repeat_ms = int((rule.repeat_interval_s or opts.repeat_interval_s) * 1000)
    targets = notify_targets(rule.notify, rule.severity, opts.targets)
    identity = rule.identity  # a JSON dump of the rule: once per rule, not per group
    rows: list[dict[str, Any]] = []
    transitions: list[tuple] = []
    forgotten: list[str] = []
    for_ms = int(rule.for_s * 1000)
    keep_ms = int(rule.keep_firing_for_s * 1000)
    with transaction(conn):
        for key in sorted(candidates):
            i = index.get(key)
            if i is None:
                labels, value = previous[key]["labels"], None
            else:
                labels, value = group_labels[i], float(values[i])
            breach = None if value is None else breaches(rule, value)
            if breach is None and previous.get(key, {}).get("identity") not in (None, identity):
                breach = False  # the edited rule no longer selects this group: resolved, not no data
            if breach is False and key not in previous and rule.no_data != "alerting":
                continue  # quiet and was quiet: nothing to keep (see _forget)
            old = previous.get(key)
            prev = _as_state(old)
            last_seen = gone.get(key) if i is None else None
            if last_seen is not None:  # gone, not silent: resolve now (keep_firing_for does not hold it)
                new, events = step(prev, False, None, for_ms=for_ms, repeat_ms=repeat_ms, no_data=rule.no_data,
                                   now_ms=now_ms)
                new = replace(new, value=None, nodata_since_ms=prev.nodata_since_ms or now_ms)
            else:
                new, events = step(prev, breach, value, for_ms=for_ms, repeat_ms=repeat_ms,
                                   no_data=rule.no_data, now_ms=now_ms, keep_ms=keep_ms)
            if _forget(rule, new, now_ms):
                if key in previous:
                    forgotten.append(key)
                continue
            muted = sil.silenced_by(sil.alert_labels(rule.name, rule.severity, rule.labels, labels), silences,
                                    now_ms) if silences else []
            inhibited = inhibition.check(rule, key, labels, new.value) if inhibition and new.state != "resolved" else []
            if not events and old is not None and _unchanged_quiet(old, new, rule, identity, muted):
                continue  # a resolved/inactive group that stays so: its row (shown in no list) is kept as is
            rows.append({
                "rule": rule.name, "group_key": key, "labels": labels, "severity": rule.severity,
                "state": new.state, "active_since_ms": new.active_since_ms, "fired_at_ms": new.fired_at_ms,
                "last_notified_ms": new.last_notified_ms, "resolved_at_ms": new.resolved_at_ms,
                "nodata_since_ms": new.nodata_since_ms, "value": new.value,
                "summary": gone_summary(labels, last_seen) if last_seen is not None
                else render_summary(rule, labels, new.value), "silenced_by": muted or None,
                "updated_ms": now_ms, "identity": identity, "inhibited_by": inhibited or None,
                "clear_since_ms": new.clear_since_ms})
            for ev in events:
                result.events.append({"rule": rule.name, "group_key": key, "event": ev.kind, "silenced": bool(muted)})
                if not ev.notify or muted or (inhibited and ev.kind != "resolved") or not targets:
                    transitions.append((now_ms, rule.name, key, labels, ev.kind, ev.from_state, ev.to_state,
                                        new.value, muted))
                    continue
                tid = store_alerts.add_transition(conn, now_ms, rule.name, key, labels, ev.kind, ev.from_state,
                                                  ev.to_state, new.value, muted)
                if ev.kind == "resolved" and not store_alerts.notified_since(conn, rule.name, key,
                                                                            new.fired_at_ms or 0):
                    continue  # the receivers never heard of this incident (silenced while firing)
                since = new.fired_at_ms if ev.kind != "firing" else new.active_since_ms
                title, body, kind = message.compose(rule, ev.kind, labels, new.value, since, now_ms,
                                                    opts.dashboard_url)
                for target in targets:
                    store_alerts.enqueue(conn, now_ms, tid, rule.name, target, title, body, kind)
                    result.queued += 1
            if (new.state == "firing" and targets and not muted and not inhibited
                    and not any(ev.notify for ev in events)
                    and not store_alerts.notified_since(conn, rule.name, key, new.fired_at_ms or 0)):
                _announce_unmuted(conn, rule, key, labels, new, targets, now_ms, opts, result)
        store_alerts.write_states(conn, rows)
        store_alerts.add_transitions(conn, transitions)
        store_alerts.delete_states(conn, rule.name, forgotten)


GONE_PREFIX = api.GONE_PREFIX


def gone_summary(labels: Mapping[str, str], last_seen_ms: int) -> str:
    """The summary of an alert resolved because its series are gone (the reason the Alerts page shows)."""
    what = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "its series"
    return (f"{GONE_PREFIX}{what} is no longer reported by its collector (last seen "
            f"{times.shown(last_seen_ms)})")


def _announce_unmuted(conn: sqlite3.Connection, rule: Rule, key: str, labels: dict[str, str], new: AlertState,
                      targets: list[str], now_ms: int, opts: Options, result: Result) -> None:
    """A firing alert whose firing notification was held back (inhibited or silenced) and no longer is:
    announce it now, as Alertmanager does when an inhibition or silence ends."""
    tid = store_alerts.add_transition(conn, now_ms, rule.name, key, labels, "unmuted", "firing", "firing",
                                      new.value, None)
    result.events.append({"rule": rule.name, "group_key": key, "event": "unmuted", "silenced": False})
    title, body, kind = message.compose(rule, "firing", labels, new.value, new.active_since_ms, now_ms,
                                        opts.dashboard_url)
    for target in targets:
        store_alerts.enqueue(conn, now_ms, tid, rule.name, target, title, body, kind)
        result.queued += 1


def _unchanged_quiet(old: Mapping[str, Any], new: AlertState, rule: Rule, identity: str, muted: list[int]) -> bool:
    """A resolved or inactive group whose stored row would change in nothing but its value and summary."""
    return (new.state in ("resolved", "inactive") and old["state"] == new.state
            and old["active_since_ms"] == new.active_since_ms and old["fired_at_ms"] == new.fired_at_ms
            and old["last_notified_ms"] == new.last_notified_ms and old["resolved_at_ms"] == new.resolved_at_ms
            and old["nodata_since_ms"] == new.nodata_since_ms and old["identity"] == identity
            and old["severity"] == rule.severity and (old["silenced_by"] or []) == muted)


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
    rejects = Rejects()
    rules = enabled_rules(conn, result.errors, rejects, now_ms)
    silences = []
    for row in store_alerts.read_silences(conn, in_force_at_ms=now_ms):
        try:
            silences.append(sil.Silence.from_row(row))
        except RuleError as exc:  # e.g. a regex the matcher engine refuses: that silence mutes nothing
            result.errors.append(f"silence {row['id']}: {exc}")
            rejects.record("silence", "invalid", f"silence {row['id']}: {exc}", now_ms)
    inhibition = Inhibition(conn, rules, opts.inhibit_rules)
    rules = inhibition.order(rules)  # possible inhibition sources first
    points: dict[str, MetricPoints] = {}
    for rule in rules:
        try:
            if rule.metric not in points:
                points[rule.metric] = metric_points(conn, rule.metric)
            mp = points[rule.metric]
            evaluate_rule(conn, rule, rule_points(conn, rule, mp, now_ms), silences, now_ms, opts, result,
                          inhibition, gone_keys(rule, mp))
            result.rules += 1
        except Exception as exc:  # noqa: BLE001 - one failing rule is recorded; it never stops the others
            result.errors.append(f"rule {rule.name}: {type(exc).__name__}: {str(exc)[:300]}")
            rejects.record("alert_rule", "evaluation_failed", f"rule {rule.name}: {type(exc).__name__}: {exc}",
                           now_ms)
            log.warning("alert rule %s not evaluated: %s", rule.name, exc)
    with transaction(conn):
        store_alerts.delete_orphan_states(conn, [r["name"] for r in store_alerts.read_rules(conn)])
    store_rejects.flush_recorder(conn, rejects, now_ms)
    return result


def options_from(settings: Settings) -> Options:
    cfg = settings.alerts
    return Options(cfg.repeat_interval_s, dict(cfg.notify_env), settings.dashboard.public_url or cfg.dashboard_url,
                   inhibit.rules_from(cfg.inhibit_rules))


def hook(settings: Settings, store: Any) -> Callable[[], None]:
    """Post-tick callable for the collector scheduler: seeds built-in/YAML rules once, then on each
    call (at most every ``evaluation_interval_s``; the scheduler runs hooks one at a time) evaluates
    the rules and delivers due notifications. It never raises into the scheduler."""
    cfg = settings.alerts
    conn = connect_writer(store)
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
            wconn = connect_writer(store)
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
