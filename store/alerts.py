"""SQL of the alerts area: rules, alert state, transitions, silences and the notification outbox.

Plain statements on a given connection; callers wrap writes in ``store.db.transaction``.
Rows come back as dicts; JSON columns are decoded.
"""
from __future__ import annotations

import functools
import itertools
import json
import operator
import sqlite3
from typing import Any, Iterable

_JSON_COLS = {"spec", "labels", "matchers", "silenced_by", "inhibited_by"}


# labels JSON -> decoded labels, for readers that promise not to change them (shared_labels); bounded.
_LABELS_DECODED: dict[str, Any] = {}
_LABELS_JSON_MAX = 200_000


def _rows(cur: sqlite3.Cursor, shared_labels: bool = False) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    out = []
    json_cols = [c for c in cols if c in _JSON_COLS]
    shared = "labels" in json_cols and shared_labels
    if shared:
        json_cols.remove("labels")
        cache = _LABELS_DECODED
        if len(cache) > _LABELS_JSON_MAX:
            cache.clear()
    for row in cur.fetchall():
        d = dict(zip(cols, row))
        for c in json_cols:
            if d[c] is not None:
                d[c] = json.loads(d[c])
        if shared and d["labels"] is not None:
            text = d["labels"]
            got = cache.get(text)
            d["labels"] = got if got is not None else cache.setdefault(text, json.loads(text))
        out.append(d)
    return out


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


# ------------------------------------------------------------------ rules

def read_rules(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(conn.execute(
        "SELECT name, spec, builtin, updated_ms, updated_by FROM alert_rules ORDER BY name"))


def read_rule(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    rows = _rows(conn.execute(
        "SELECT name, spec, builtin, updated_ms, updated_by FROM alert_rules WHERE name = ?", (name,)))
    return rows[0] if rows else None


def upsert_rule(conn: sqlite3.Connection, name: str, spec: dict[str, Any], builtin: bool,
                now_ms: int, actor: str) -> None:
    conn.execute(
        "INSERT INTO alert_rules(name, spec, builtin, updated_ms, updated_by) VALUES (?,?,?,?,?) "
        "ON CONFLICT(name) DO UPDATE SET spec=excluded.spec, updated_ms=excluded.updated_ms, "
        "updated_by=excluded.updated_by",
        (name, _dump(spec), int(builtin), now_ms, actor))


def insert_rule_if_absent(conn: sqlite3.Connection, name: str, spec: dict[str, Any], builtin: bool,
                          now_ms: int, actor: str) -> bool:
    """Insert unless a rule of that name exists (operator edits win over seeds); True if inserted."""
    cur = conn.execute(
        "INSERT INTO alert_rules(name, spec, builtin, updated_ms, updated_by) VALUES (?,?,?,?,?) "
        "ON CONFLICT (name) DO NOTHING",
        (name, _dump(spec), int(builtin), now_ms, actor))
    return cur.rowcount == 1


def delete_rule(conn: sqlite3.Connection, name: str) -> bool:
    """Delete a rule and its current states (history stays); True if it existed."""
    conn.execute("DELETE FROM alert_state WHERE rule = ?", (name,))
    return conn.execute("DELETE FROM alert_rules WHERE name = ?", (name,)).rowcount == 1


# ------------------------------------------------------------------ state and history

_STATE_COLS = ("rule", "group_key", "labels", "severity", "state", "active_since_ms", "fired_at_ms",
               "last_notified_ms", "resolved_at_ms", "nodata_since_ms", "value", "summary", "silenced_by",
               "updated_ms", "identity", "inhibited_by", "clear_since_ms")


def read_states(conn: sqlite3.Connection, rule: str | None = None, states: Iterable[str] | None = None,
                shared_labels: bool = False) -> list[dict[str, Any]]:
    """State rows, by rule and group key. ``shared_labels``: rows with the same labels share one decoded
    mapping (faster for a reader that only reads them, as the evaluator)."""
    sql, args = f"SELECT {', '.join(_STATE_COLS)} FROM alert_state WHERE 1=1", []
    if rule is not None:
        sql += " AND rule = ?"
        args.append(rule)
    if states is not None:
        states = list(states)
        sql += f" AND state IN ({','.join('?' * len(states))})"
        args.extend(states)
    return _rows(conn.execute(sql + " ORDER BY rule, group_key", args), shared_labels)


# What one evaluation's decision reads of a stored state row (alerts.decide): not its summary, time of
# update or inhibitions, which it writes anew.
_DECIDE_COLS = ("rule", "group_key", "labels", "severity", "state", "active_since_ms", "fired_at_ms",
                "last_notified_ms", "resolved_at_ms", "nodata_since_ms", "value", "silenced_by", "identity",
                "clear_since_ms")


def read_states_by_rule(conn: sqlite3.Connection, rules: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{rule: {group key: row}}`` for the given rules in one read, each row with the columns a decision reads
    (``_DECIDE_COLS``); rows with the same labels share one decoded mapping (read only)."""
    rules = list(dict.fromkeys(rules))
    out: dict[str, dict[str, dict[str, Any]]] = {r: {} for r in rules}
    if not rules:
        return out
    rows = conn.execute(f"SELECT {', '.join(_DECIDE_COLS)} FROM alert_state WHERE rule IN "
                        f"({','.join('?' * len(rules))}) ORDER BY rule, group_key", rules).fetchall()
    cache = _LABELS_DECODED
    if len(cache) > _LABELS_JSON_MAX:
        cache.clear()
    loads = json.loads
    cols = _DECIDE_COLS
    for row in rows:
        d = dict(zip(cols, row))
        text = d["labels"]
        if text is not None:
            got = cache.get(text)
            d["labels"] = got if got is not None else cache.setdefault(text, loads(text))
        if d["silenced_by"] is not None:
            d["silenced_by"] = loads(d["silenced_by"])
        out[d["rule"]][d["group_key"]] = d
    return out


# Upsert of a whole state row (the same statement on SQLite and PostgreSQL).
_STATE_HEAD = f"INSERT INTO alert_state({', '.join(_STATE_COLS)})"
_STATE_TAIL = (" ON CONFLICT (rule, group_key) DO UPDATE SET "
               + ", ".join(f"{c} = excluded.{c}" for c in _STATE_COLS[2:]))
_STATE_UPSERT = f"{_STATE_HEAD} VALUES ({','.join('?' * len(_STATE_COLS))}){_STATE_TAIL}"


def write_state(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    values = [_dump(row.get(c)) if c in _JSON_COLS else row.get(c) for c in _STATE_COLS]
    conn.execute(_STATE_UPSERT, values)


# group key -> its labels as JSON. An alert group's labels are a function of its key (the series' labels JSON,
# or the JSON of the ``by`` labels), so the dump is made once per group, not on every write; bounded.
_LABELS_JSON: dict[str, str | None] = {}


def _labels_json(group_key: str, labels: Any) -> str | None:
    got = _LABELS_JSON.get(group_key)
    if got is None:
        if len(_LABELS_JSON) >= _LABELS_JSON_MAX:
            _LABELS_JSON.clear()
        got = _LABELS_JSON[group_key] = _dump(labels)
    return got


_STATE_MID = operator.itemgetter("severity", "state", "active_since_ms", "fired_at_ms", "last_notified_ms",
                                 "resolved_at_ms", "nodata_since_ms", "value", "summary")


# Rows a multi-row statement carries: one statement step per chunk instead of one per row (alert_state rows on
# SQLite: ~18 % less CPU than executemany, deletes ~20 %); 100 x 17 parameters stay far below both engines' limits.
_ROWS_PER_STATEMENT = 100
_KEYS_PER_DELETE = 500


@functools.lru_cache(maxsize=256)
def _values_sql(head: str, width: int, tail: str, rows: int) -> str:
    one = "(" + ",".join("?" * width) + ")"
    return f"{head} VALUES {','.join([one] * rows)}{tail}"


def _insert_rows(conn: sqlite3.Connection, head: str, width: int, tail: str, params: list[tuple]) -> None:
    """``head VALUES (…),(…)… tail`` over ``params`` (tuples of ``width`` values), in statements of up to
    ``_ROWS_PER_STATEMENT`` rows."""
    n = _ROWS_PER_STATEMENT
    for j in range(0, len(params), n):
        chunk = params[j:j + n]
        conn.execute(_values_sql(head, width, tail, len(chunk)), list(itertools.chain.from_iterable(chunk)))


def write_states(conn: sqlite3.Connection, rows: Iterable[dict[str, Any]]) -> None:
    """:func:`write_state` for many rows of alert groups (``labels`` a function of ``group_key``), a few
    statements in all. A (rule, group key) given twice is written once, as its last row (PostgreSQL refuses
    an upsert that would change a row twice)."""
    params = [_state_params(r) for r in rows]
    if len({p[:2] for p in params}) < len(params):
        params = list({p[:2]: p for p in params}.values())
    _insert_rows(conn, _STATE_HEAD, len(_STATE_COLS), _STATE_TAIL, params)


def _state_params(r: dict[str, Any]) -> tuple:
    key = r["group_key"]
    if len(r) >= len(_STATE_COLS):  # a whole row, as alerts.decide makes them: columns read in C
        try:
            silenced, inhibited = r["silenced_by"], r["inhibited_by"]
            return (r["rule"], key, _labels_json(key, r["labels"]), *_STATE_MID(r),
                    None if silenced is None else _dump(silenced), r["updated_ms"], r["identity"],
                    None if inhibited is None else _dump(inhibited), r["clear_since_ms"])
        except KeyError:
            pass
    return (r["rule"], key, _labels_json(key, r["labels"]), r.get("severity"), r.get("state"),
            r.get("active_since_ms"), r.get("fired_at_ms"), r.get("last_notified_ms"), r.get("resolved_at_ms"),
            r.get("nodata_since_ms"), r.get("value"), r.get("summary"), _dump(r.get("silenced_by")),
            r.get("updated_ms"), r.get("identity"), _dump(r.get("inhibited_by")), r.get("clear_since_ms"))


def delete_state(conn: sqlite3.Connection, rule: str, group_key: str) -> None:
    conn.execute("DELETE FROM alert_state WHERE rule = ? AND group_key = ?", (rule, group_key))


def delete_states(conn: sqlite3.Connection, rule: str, group_keys: Iterable[str]) -> None:
    """Delete a rule's states of the given group keys, up to ``_KEYS_PER_DELETE`` keys a statement."""
    keys = list(group_keys)
    n = _KEYS_PER_DELETE
    for j in range(0, len(keys), n):
        chunk = keys[j:j + n]
        conn.execute(f"DELETE FROM alert_state WHERE rule = ? AND group_key IN ({','.join('?' * len(chunk))})",
                     [rule, *chunk])


def delete_orphan_states(conn: sqlite3.Connection, rules: Iterable[str]) -> int:
    """Drop states of rules that no longer exist."""
    rules = list(rules)
    if not rules:  # `NOT IN ()` is SQLite-only
        return conn.execute("DELETE FROM alert_state").rowcount
    return conn.execute(f"DELETE FROM alert_state WHERE rule NOT IN ({','.join('?' * len(rules))})",
                        rules).rowcount


def add_transition(conn: sqlite3.Connection, ts_ms: int, rule: str, group_key: str, labels: dict[str, str],
                   event: str, from_state: str, to_state: str, value: float | None,
                   silenced_by: list[int] | None) -> int:
    cur = conn.execute(
        "INSERT INTO alert_transitions(ts_ms, rule, group_key, labels, event, from_state, to_state, value, "
        "silenced_by) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
        (ts_ms, rule, group_key, _dump(labels), event, from_state, to_state, value,
         _dump(silenced_by) if silenced_by else None))
    return int(cur.fetchone()[0])


def add_transitions(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """:func:`add_transition` for many ``(ts_ms, rule, group_key, labels, event, from_state, to_state, value,
    silenced_by)`` rows whose ids nobody needs, a few statements in all (``labels`` a function of ``group_key``),
    ids in the rows' order."""
    _insert_rows(conn, "INSERT INTO alert_transitions(ts_ms, rule, group_key, labels, event, from_state, to_state, "
                       "value, silenced_by)", 9, "",
                 [(ts, rule, key, _labels_json(key, labels), event, frm, to, value, _dump(muted) if muted else None)
                  for ts, rule, key, labels, event, frm, to, value, muted in rows])


def read_transitions(conn: sqlite3.Connection, limit: int = 200, rule: str | None = None) -> list[dict[str, Any]]:
    sql, args = ("SELECT id, ts_ms, rule, group_key, labels, event, from_state, to_state, value, silenced_by "
                 "FROM alert_transitions"), []
    if rule is not None:
        sql += " WHERE rule = ?"
        args.append(rule)
    return _rows(conn.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, int(limit)]))


# ------------------------------------------------------------------ silences

def add_silence(conn: sqlite3.Connection, matchers: list[dict[str, Any]], start_ms: int, end_ms: int,
                created_by: str, reason: str, now_ms: int) -> int:
    cur = conn.execute(
        "INSERT INTO alert_silences(matchers, start_ms, end_ms, created_by, reason, created_ms) "
        "VALUES (?,?,?,?,?,?) RETURNING id", (_dump(matchers), start_ms, end_ms, created_by, reason, now_ms))
    return int(cur.fetchone()[0])


def expire_silence(conn: sqlite3.Connection, silence_id: int, now_ms: int, actor: str) -> bool:
    """End a silence now; True if it was still in force."""
    return conn.execute(
        "UPDATE alert_silences SET expired_ms = ?, expired_by = ? "
        "WHERE id = ? AND expired_ms IS NULL AND end_ms > ?", (now_ms, actor, silence_id, now_ms)).rowcount == 1


def read_silences(conn: sqlite3.Connection, in_force_at_ms: int | None = None) -> list[dict[str, Any]]:
    """All silences, or only those not ended (by time or expiry) at ``in_force_at_ms``."""
    sql = ("SELECT id, matchers, start_ms, end_ms, created_by, reason, created_ms, expired_ms, expired_by "
           "FROM alert_silences")
    args: list[Any] = []
    if in_force_at_ms is not None:
        sql += " WHERE end_ms > ? AND (expired_ms IS NULL OR expired_ms > ?)"
        args = [in_force_at_ms, in_force_at_ms]
    return _rows(conn.execute(sql + " ORDER BY id DESC", args))


# ------------------------------------------------------------------ outbox

def enqueue(conn: sqlite3.Connection, created_ms: int, transition_id: int, rule: str, target: str,
            title: str, body: str, notify_type: str) -> int:
    cur = conn.execute(
        "INSERT INTO alert_outbox(created_ms, transition_id, rule, target, title, body, notify_type, "
        "next_attempt_ms) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
        (created_ms, transition_id, rule, target, title, body, notify_type, created_ms))
    return int(cur.fetchone()[0])


def due(conn: sqlite3.Connection, now_ms: int, limit: int = 100) -> list[dict[str, Any]]:
    return _rows(conn.execute(
        "SELECT id, target, title, body, notify_type, attempts FROM alert_outbox "
        "WHERE status = 'pending' AND next_attempt_ms <= ? ORDER BY id LIMIT ?", (now_ms, limit)))


def record_attempt(conn: sqlite3.Connection, outbox_id: int, ts_ms: int, ok: bool, error: str | None,
                   next_attempt_ms: int | None) -> None:
    """Log one send attempt. ok → sent; failed with ``next_attempt_ms`` None → failed for good."""
    conn.execute("INSERT INTO alert_send_attempts(outbox_id, ts_ms, ok, error) VALUES (?,?,?,?)",
                 (outbox_id, ts_ms, int(ok), error))
    if ok:
        conn.execute("UPDATE alert_outbox SET status='sent', sent_ms=?, attempts=attempts+1, last_error=NULL "
                     "WHERE id = ?", (ts_ms, outbox_id))
    else:
        conn.execute("UPDATE alert_outbox SET status=?, attempts=attempts+1, last_error=?, "
                     "next_attempt_ms=COALESCE(?, next_attempt_ms) WHERE id = ?",
                     ("pending" if next_attempt_ms is not None else "failed", error, next_attempt_ms, outbox_id))


def notified_since(conn: sqlite3.Connection, rule: str, group_key: str, since_ms: int) -> bool:
    """Whether a notification of this (rule, group) was queued at or after ``since_ms``."""
    return conn.execute(
        "SELECT 1 FROM alert_outbox o JOIN alert_transitions t ON t.id = o.transition_id "
        "WHERE o.rule = ? AND t.group_key = ? AND o.created_ms >= ? LIMIT 1",
        (rule, group_key, since_ms)).fetchone() is not None


def read_outbox(conn: sqlite3.Connection, limit: int = 200) -> list[dict[str, Any]]:
    return _rows(conn.execute(
        "SELECT id, created_ms, transition_id, rule, target, title, body, notify_type, status, attempts, "
        "next_attempt_ms, sent_ms, last_error FROM alert_outbox ORDER BY id DESC LIMIT ?", (int(limit),)))


def read_attempts(conn: sqlite3.Connection, outbox_id: int) -> list[dict[str, Any]]:
    return _rows(conn.execute(
        "SELECT id, outbox_id, ts_ms, ok, error FROM alert_send_attempts WHERE outbox_id = ? ORDER BY id",
        (outbox_id,)))
