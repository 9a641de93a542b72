"""Audit log of operator actions (replays, rule and silence changes): who, when, what, outcome."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from store.db import transaction

if TYPE_CHECKING:
    from store.handle import Connection  # sqlite3's, or the sqlite3-shaped PostgreSQL one

COLUMNS = ["id", "ts_ms", "actor", "action", "target", "detail", "outcome"]


def record(conn: Connection, ts_ms: int, actor: str, action: str, target: str, detail: dict,
           outcome: str) -> int:
    """Append one entry (``detail`` must be JSON-serialisable and free of secrets); returns its id."""
    for name, value in (("actor", actor), ("action", action), ("target", target), ("outcome", outcome)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"audit.record: {name} must be a non-empty str, got {value!r}")
    if not isinstance(detail, dict):
        raise TypeError(f"audit.record: detail must be a dict, got {type(detail).__name__}")
    try:
        text = json.dumps(detail, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit.record: detail is not JSON-serialisable: {exc}") from exc
    with transaction(conn):
        return conn.execute("INSERT INTO audit_log (ts_ms, actor, action, target, detail, outcome) "
                            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                            (ts_ms, actor, action, target, text, outcome)).fetchone()[0]


def read(conn: Connection, limit: int = 200, action_prefix: str = "") -> pd.DataFrame:
    """The newest ``limit`` entries (whose action starts with ``action_prefix``), newest first;
    ``detail`` is parsed back into a dict."""
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE substr(action, 1, ?) = ? "
                        "ORDER BY ts_ms DESC, id DESC LIMIT ?",
                        (len(action_prefix), action_prefix, limit)).fetchall()
    df = pd.DataFrame.from_records(rows, columns=COLUMNS)
    df["detail"] = [json.loads(d) for d in df["detail"]]
    return df


def find(conn: Connection, action: str, target: str, limit: int = 200) -> list[dict]:
    """The newest ``limit`` entries of exactly ``action`` on ``target``, newest first (detail parsed)."""
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE action = ? AND target = ? "
                        "ORDER BY id DESC LIMIT ?", (action, target, limit)).fetchall()
    return [{**dict(zip(COLUMNS, r)), "detail": json.loads(r[5])} for r in rows]


def set_outcome(conn: Connection, entry_id: int, outcome: str, detail: dict) -> None:
    """Settle an entry written before a multi-step action ran (skip-to-DLQ writes ``copying`` first: its
    row is the crash-safety record a re-run resumes from) with its outcome and final detail."""
    if not isinstance(outcome, str) or not outcome:
        raise ValueError(f"audit.set_outcome: outcome must be a non-empty str, got {outcome!r}")
    text = json.dumps(detail, sort_keys=True)
    with transaction(conn):
        conn.execute("UPDATE audit_log SET outcome = ?, detail = ? WHERE id = ?", (outcome, text, entry_id))
