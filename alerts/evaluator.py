"""Evaluation of the stored rules over the store's latest samples, after every collection tick.

For each enabled rule: read the latest sample of every series of its metric, group and compare
(``alerts.rules``), advance each (rule, group) state (``alerts.state``; ``alerts.decide`` plans it, no
I/O); then, in one write transaction for all rules, write the states, record every transition, and
queue a notification for each due firing/repeat/resolved event unless a silence mutes it. Queued
notifications are then delivered (``alerts.notify``) outside any write transaction.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np


from alerts import api, inhibit, message, silences as sil, windows
from alerts.decide import GONE_PREFIX, Change, Inhibit, Mute, Plan, decide
from alerts.inhibition import Inhibition
from alerts.notify import deliver_due
from alerts.rules import Rule, RuleError, rule_from_dict
from alerts.series import PointSet, SeriesPoint
from alerts.state import AlertState
from config import Settings, secret
from core import gcpause
from core.clock import now_ms
from core.rejects import Rejects
from store import alerts as store_alerts
from store import queries
from store import rejects as store_rejects
from store.db import connect_writer, savepoint, transaction

log = logging.getLogger(__name__)
__all__ = ["GONE_PREFIX", "Options", "Result", "evaluate", "hook", "notify_targets", "plan_rule", "write_plan"]


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


def _labels_of(texts: Sequence[str]) -> list[dict[str, str]]:
    cache = _LABELS
    if len(cache) > _LABELS_MAX:
        cache.clear()
    out = []
    for text in texts:
        labels = cache.get(text)
        if labels is None:
            labels = cache[text] = {str(k): str(v) for k, v in queries.load_labels(text).items()}
        out.append(labels)
    return out


def _points(rows: list[tuple]) -> list[SeriesPoint]:
    texts = [r[3] for r in rows]
    return [SeriesPoint(labels, int(ts), float(value), text)
            for (_sid, ts, value, text), labels in zip(rows, _labels_of(texts))]


def _point_set(rows: list[tuple], cache: bool = True) -> PointSet:
    """The rows' ``(series id, ts, value, labels JSON)`` as columns: a series is keyed by its labels JSON."""
    texts = [r[3] for r in rows]
    ts = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    values = np.fromiter((float(r[2]) for r in rows), dtype=np.float64, count=len(rows))
    return PointSet.from_columns(texts, _labels_of(texts), ts, values, cache=cache)


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
    return MetricPoints(current, _point_set(gone, cache=False), _point_set(current))


def rule_points(conn: sqlite3.Connection, rule: Rule, mp: MetricPoints, now_ms: int) -> PointSet:
    """What ``rule`` compares: the latest points, or each current series' ``range_function`` over the last
    ``range_s`` (a series with no value over the window is left out: no data)."""
    if rule.range_function == "last" or not mp.current:  # no current series: nothing over any window either
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
        mp.windows[key] = _point_set(rows)
    return mp.windows[key]


def gone_keys(rule: Rule, mp: MetricPoints) -> dict[str, int]:
    """``{group key: last seen ms}`` of the rule's groups made only of gone series."""
    ps = mp.gone
    if not len(ps.keys):
        return {}  # the usual case: nothing gone, nothing to resolve
    out: dict[str, int] = {}
    gkeys, picked = ps.group_keys_of(rule), ps.selected(rule)
    for k, ts in zip([gkeys[i] for i in picked.tolist()], ps.ts[picked].tolist()):
        out[k] = max(out.get(k, 0), int(ts))
    if out:
        live = mp.latest
        lkeys = live.group_keys_of(rule)
        for i in live.selected(rule).tolist():
            out.pop(lkeys[i], None)
    return out


def plan_rule(rule: Rule, points: PointSet | list[SeriesPoint], previous: Mapping[str, Mapping[str, Any]],
              silences: list[sil.Silence], now_ms: int, opts: Options, inhibition: Inhibition | None = None,
              gone: Mapping[str, int] | None = None) -> Plan:
    """What one rule's evaluation decides (``alerts.decide``) over its points and stored states (``previous``,
    by group key): nothing is written. ``gone``: ``{group key: last seen ms}`` of groups whose series all left
    their target's latest successful cycle: a stored alert of such a group resolves (reason "gone") instead
    of holding."""
    points = points if isinstance(points, PointSet) else PointSet(points)
    keys, group_labels, values = points.group_arrays(rule, now_ms)
    mute: Mute | None = (lambda labels: sil.silenced_by(
        sil.alert_labels(rule.name, rule.severity, rule.labels, labels), silences, now_ms)) if silences else None
    inhibit_: Inhibit | None = None
    if inhibition is not None and inhibition.sources_for(rule):  # else no alert of the rule can be inhibited now
        inhibit_ = lambda key, labels, value: inhibition.check(rule, key, labels, value)  # noqa: E731
    repeat_ms = int((rule.repeat_interval_s or opts.repeat_interval_s) * 1000)
    return decide(rule, keys, group_labels, values, previous, now_ms=now_ms, repeat_ms=repeat_ms, gone=gone,
                  mute=mute, inhibit=inhibit_)


def write_plan(conn: sqlite3.Connection, rule: Rule, plan: Plan, now_ms: int, opts: Options, result: Result) -> None:
    """Write one rule's plan inside the caller's transaction: state rows, transitions, and a queued
    notification per due event."""
    targets = notify_targets(rule.notify, rule.severity, opts.targets)
    transitions = _record(conn, rule, plan.changes, targets, now_ms, opts, result)
    if plan.rows:
        store_alerts.write_states(conn, plan.rows)
    if transitions:
        store_alerts.add_transitions(conn, transitions)
    if plan.forget:
        store_alerts.delete_states(conn, rule.name, plan.forget)


def _record(conn: sqlite3.Connection, rule: Rule, changes: list[Change], targets: list[str], now_ms: int,
            opts: Options, result: Result) -> list[tuple]:
    """Record each change's events: a transition with its queued notifications when one is due (and its
    receivers heard of the incident), else a transition row returned for one batch insert. Announce a
    firing alert whose notification was held back and no longer is."""
    transitions: list[tuple] = []
    for ch in changes:
        key, labels, new, muted = ch.key, ch.labels, ch.state, ch.muted
        for ev in ch.events:
            result.events.append({"rule": rule.name, "group_key": key, "event": ev.kind, "silenced": bool(muted)})
            if not ev.notify or muted or (ch.inhibited and ev.kind != "resolved") or not targets:
                transitions.append((now_ms, rule.name, key, labels, ev.kind, ev.from_state, ev.to_state,
                                    new.value, muted))
                continue
            tid = store_alerts.add_transition(conn, now_ms, rule.name, key, labels, ev.kind, ev.from_state,
                                              ev.to_state, new.value, muted)
            if ev.kind == "resolved" and not store_alerts.notified_since(conn, rule.name, key, new.fired_at_ms or 0):
                continue  # the receivers never heard of this incident (silenced while firing)
            since = new.fired_at_ms if ev.kind != "firing" else new.active_since_ms
            title, body, kind = message.compose(rule, ev.kind, labels, new.value, since, now_ms, opts.dashboard_url)
            for target in targets:
                store_alerts.enqueue(conn, now_ms, tid, rule.name, target, title, body, kind)
                result.queued += 1
        if ch.announce and targets and not store_alerts.notified_since(conn, rule.name, key, new.fired_at_ms or 0):
            _announce_unmuted(conn, rule, key, labels, new, targets, now_ms, opts, result)
    return transitions


def _announce_unmuted(conn: sqlite3.Connection, rule: Rule, key: str, labels: Mapping[str, str], new: AlertState,
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


def evaluate(conn: sqlite3.Connection, now_ms: int, opts: Options | None = None) -> Result:
    """Evaluate every enabled rule once at ``now_ms`` on a writer connection; returns what happened.

    Every rule is decided first (reads only), then every plan is written in one transaction, each rule's
    writes in a savepoint of their own. A rule that fails (e.g. a store error on its metric) is reported in
    ``errors``, the others go on."""
    opts = opts or Options()
    result = Result()
    rejects = Rejects()
    with gcpause.paused():  # a row dict, state and event per changed group: acyclic, freed by reference counts
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
        try:
            stored = store_alerts.read_states_by_rule(conn, [r.name for r in rules])
        except Exception as exc:  # noqa: BLE001 - e.g. the store went away: every rule is reported, none stops
            for rule in rules:
                _failed(rule, exc, now_ms, result, rejects)
            rules, stored = [], {}
        points: dict[str, MetricPoints] = {}
        plans: list[tuple[Rule, Plan]] = []
        for rule in rules:
            try:
                if rule.metric not in points:
                    points[rule.metric] = metric_points(conn, rule.metric)
                mp = points[rule.metric]
                plan = plan_rule(rule, rule_points(conn, rule, mp, now_ms), stored[rule.name], silences, now_ms,
                                 opts, inhibition, gone_keys(rule, mp))
                inhibition.planned(rule, plan)
                result.groups += plan.groups
                plans.append((rule, plan))
            except Exception as exc:  # noqa: BLE001 - one failing rule is recorded; it never stops the others
                _failed(rule, exc, now_ms, result, rejects)
        _write_plans(conn, plans, now_ms, opts, result, rejects)
    store_rejects.flush_recorder(conn, rejects, now_ms)
    return result


def _write_plans(conn: sqlite3.Connection, plans: list[tuple[Rule, Plan]], now_ms: int, opts: Options,
                 result: Result, rejects: Rejects) -> None:
    """Every rule's plan in one transaction (one commit per evaluation, the write lock held only while
    writing), each rule's writes in a savepoint: a rule whose writes fail is rolled back alone and reported.
    States of deleted rules go in the same transaction."""
    done: list[Rule] = []
    try:
        with transaction(conn):
            for rule, plan in plans:
                if not (plan.rows or plan.forget or plan.changes):
                    done.append(rule)  # nothing to write
                    continue
                events, queued = len(result.events), result.queued
                try:
                    with savepoint(conn, "alert_rule"):
                        write_plan(conn, rule, plan, now_ms, opts, result)
                    done.append(rule)
                except Exception as exc:  # noqa: BLE001 - one failing rule is recorded; it never stops the others
                    del result.events[events:]
                    result.queued = queued
                    _failed(rule, exc, now_ms, result, rejects)
            store_alerts.delete_orphan_states(conn, [r["name"] for r in store_alerts.read_rules(conn)])
    except Exception as exc:  # noqa: BLE001 - e.g. the store is locked or gone: nothing was written
        del result.events[:]
        result.queued = 0
        for rule in done:
            _failed(rule, exc, now_ms, result, rejects)
        return
    result.rules += len(done)


def _failed(rule: Rule, exc: Exception, now_ms: int, result: Result, rejects: Rejects) -> None:
    result.errors.append(f"rule {rule.name}: {type(exc).__name__}: {str(exc)[:300]}")
    rejects.record("alert_rule", "evaluation_failed", f"rule {rule.name}: {type(exc).__name__}: {exc}", now_ms)
    log.warning("alert rule %s not evaluated: %s", rule.name, exc)


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
