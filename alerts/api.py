"""The alerts API the dashboard uses: rules, silences, current alerts, history, YAML seed/export.

Changes (rules, silences) take the acting user and ``now_ms`` and are audited through
``store.audit`` — refusals too. Bad input raises ``RuleError`` whose message names the field.
Role checks (operator) are the dashboard's job; this module records who did what.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml

from alerts.builtin import BUILTIN_RULES
from alerts.decide import GONE_PREFIX
from alerts.rules import Rule, RuleError, rule_from_dict
from alerts.silences import in_force
from alerts.silences import validate as validate_silence
from core.clock import now_ms as _now
from core.metrics import CATALOGUE
from store import alerts as store_alerts
from store import audit, queries
from store.db import transaction

__all__ = ["GONE_PREFIX", "RuleError", "add_silence", "alerts", "delete_rule", "expire_silence", "export_yaml", "history",
           "list_rules", "list_silences", "save_rule", "seed_builtin", "seed_from_yaml"]
SYSTEM_ACTOR = "eventdeck"


def known_metrics(conn: Any) -> set[str]:
    """Metrics in the store plus every metric Eventdeck writes (the catalogue, ``core.metrics``) and those the
    built-in rules use: known before any data arrives."""
    return set(queries.metrics(conn)["metric"]) | set(CATALOGUE) | {r["metric"] for r in BUILTIN_RULES}


def list_rules(conn: Any) -> list[dict[str, Any]]:
    """Every stored rule as a dict (the ``save_rule`` form) plus ``builtin``, ``updated_ms``, ``updated_by``."""
    out = []
    for row in store_alerts.read_rules(conn):
        meta = {"builtin": bool(row["builtin"]), "updated_ms": row["updated_ms"], "updated_by": row["updated_by"]}
        try:
            out.append({**rule_from_dict(row["spec"]).to_dict(), **meta})
        except RuleError as exc:
            out.append({**row["spec"], **meta, "error": str(exc)})
    return out


def save_rule(conn: Any, rule: dict[str, Any], actor: str, now_ms: int) -> Rule:
    """Validate and store (create or replace by name) a rule; refusals raise ``RuleError`` and are audited."""
    name = str(rule.get("name", "")) if isinstance(rule, dict) else ""
    try:
        parsed = rule_from_dict(rule)
        if parsed.metric not in known_metrics(conn):
            raise RuleError("metric", f"unknown metric {parsed.metric!r}: no such series in the store")
    except RuleError as exc:
        with transaction(conn):
            audit.record(conn, now_ms, actor, "alert_rule.save", name or "?", {"error": str(exc)}, "refused")
        raise
    with transaction(conn):
        existing = store_alerts.read_rule(conn, parsed.name)
        store_alerts.upsert_rule(conn, parsed.name, parsed.to_dict(), bool(existing and existing["builtin"]),
                                 now_ms, actor)
        audit.record(conn, now_ms, actor, "alert_rule.save", parsed.name,
                     {"rule": parsed.to_dict(), "created": existing is None}, "ok")
    return parsed


def delete_rule(conn: Any, name: str, actor: str, now_ms: int) -> bool:
    """Delete a rule (its current alerts go, history stays). Built-in rules are disabled, not deleted."""
    with transaction(conn):
        existing = store_alerts.read_rule(conn, name)
        if existing and existing["builtin"]:
            audit.record(conn, now_ms, actor, "alert_rule.delete", name, {"error": "built-in"}, "refused")
            raise RuleError("name", f"{name!r} is a built-in rule: disable it (enabled: false) instead")
        deleted = store_alerts.delete_rule(conn, name)
        audit.record(conn, now_ms, actor, "alert_rule.delete", name, {}, "ok" if deleted else "not found")
    return deleted


def list_silences(conn: Any, now_ms: int, include_ended: bool = True) -> pd.DataFrame:
    """Silences with an ``active`` column (in force at ``now_ms``), newest first."""
    rows = store_alerts.read_silences(conn, None if include_ended else now_ms)
    for r in rows:
        r["active"] = in_force(r["start_ms"], r["end_ms"], r["expired_ms"], now_ms)
    cols = ["id", "matchers", "start_ms", "end_ms", "created_by", "reason", "created_ms", "expired_ms",
            "expired_by", "active"]
    return pd.DataFrame(rows, columns=cols)


def add_silence(conn: Any, matchers: Any, start_ms: int, end_ms: int, actor: str, reason: str,
                now_ms: int) -> int:
    """Create a silence; ``matchers`` is ``{label: "v" | {glob|regex|not: ...}}`` or a list of full matchers."""
    try:
        parsed = validate_silence(matchers, start_ms, end_ms, actor, reason)
    except RuleError as exc:
        with transaction(conn):
            audit.record(conn, now_ms, actor or "?", "alert_silence.add", "?", {"error": str(exc)}, "refused")
        raise
    dumped = [m.model_dump() for m in parsed]
    with transaction(conn):
        sid = store_alerts.add_silence(conn, dumped, start_ms, end_ms, actor, reason, now_ms)
        audit.record(conn, now_ms, actor, "alert_silence.add", f"silence:{sid}",
                     {"matchers": dumped, "start_ms": start_ms, "end_ms": end_ms, "reason": reason}, "ok")
    return sid


def expire_silence(conn: Any, silence_id: int, actor: str, now_ms: int) -> bool:
    """End a silence now; False if it had already ended."""
    with transaction(conn):
        done = store_alerts.expire_silence(conn, int(silence_id), now_ms, actor)
        audit.record(conn, now_ms, actor, "alert_silence.expire", f"silence:{silence_id}", {},
                     "ok" if done else "not in force")
    return done


def alerts(conn: Any, states: Iterable[str] = ("firing", "pending")) -> pd.DataFrame:
    """Current alerts in the given states: rule, labels, severity, state, value, since, silenced_by,
    inhibited_by (names of the inhibit rules muting it; shown, never hidden)…"""
    rows = store_alerts.read_states(conn, states=list(states))
    cols = ["rule", "group_key", "labels", "severity", "state", "active_since_ms", "fired_at_ms",
            "last_notified_ms", "resolved_at_ms", "nodata_since_ms", "value", "summary", "silenced_by",
            "updated_ms", "inhibited_by"]
    return pd.DataFrame(rows, columns=cols)


def history(conn: Any, limit: int = 200) -> pd.DataFrame:
    """Latest transitions first (pending, cancelled, firing, repeat, resolved, nodata)."""
    cols = ["id", "ts_ms", "rule", "group_key", "labels", "event", "from_state", "to_state", "value",
            "silenced_by"]
    return pd.DataFrame(store_alerts.read_transitions(conn, limit), columns=cols)


def notifications(conn: Any, limit: int = 200) -> pd.DataFrame:
    """The notification outbox, newest first: status pending/sent/failed, attempts, last error."""
    cols = ["id", "created_ms", "transition_id", "rule", "target", "title", "body", "notify_type", "status",
            "attempts", "next_attempt_ms", "sent_ms", "last_error"]
    return pd.DataFrame(store_alerts.read_outbox(conn, limit), columns=cols)


def seed_builtin(conn: Any, now_ms: int | None = None) -> int:
    """Insert the built-in rules that are not in the store yet; returns how many were added."""
    now_ms = _now() if now_ms is None else now_ms
    added = 0
    with transaction(conn):
        for spec in BUILTIN_RULES:
            rule = rule_from_dict(spec)
            added += store_alerts.insert_rule_if_absent(conn, rule.name, rule.to_dict(), True, now_ms, SYSTEM_ACTOR)
    return added


def seed_from_yaml(conn: Any, path: str | Path, now_ms: int | None = None) -> int:
    """Add the rules of a YAML file (``rules: [...]`` or a list) that are not in the store yet.

    Rules edited in the dashboard win over the file. Every rule is validated first; an error names
    the file and the field (``rules.yaml: rules[2].for_s: ...``) and nothing is added.
    """
    now_ms = _now() if now_ms is None else now_ms
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(str(p), f"cannot read rules: {exc}") from None
    items = data.get("rules") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise RuleError(f"{p}: rules", "expected a list of rules (top-level 'rules:' key or a list)")
    rules = []
    for i, item in enumerate(items):
        try:
            rules.append(rule_from_dict(item))
        except RuleError as exc:
            raise RuleError(f"{p}: rules[{i}].{exc.field}", str(exc).split(": ", 1)[-1]) from None
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise RuleError(f"{p}: rules.name", f"{dup!r} appears more than once")
    with transaction(conn):
        added = sum(store_alerts.insert_rule_if_absent(conn, r.name, r.to_dict(), False, now_ms, f"file:{p.name}")
                    for r in rules)
    return added


def export_yaml(conn: Any) -> str:
    """All rules as YAML (``rules: [...]``) that ``seed_from_yaml`` reads back."""
    rules = []
    for r in store_alerts.read_rules(conn):
        try:
            rules.append(rule_from_dict(r["spec"]).to_dict())
        except RuleError:  # a rule stored before today's bounds: exported as stored, refused on re-import
            rules.append(r["spec"])
    return yaml.safe_dump({"rules": rules}, sort_keys=False, allow_unicode=True)
