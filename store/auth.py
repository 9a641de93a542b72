"""Dashboard sign-in state: server-side sessions, failed sign-ins (lockout), the cookie signing key."""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from store.db import transaction

if TYPE_CHECKING:
    from store.handle import Connection  # sqlite3's, or the sqlite3-shaped PostgreSQL one


def signing_key(conn: Connection) -> bytes:
    """The store's cookie signing key, made on first use."""
    row = conn.execute("SELECT key_hex FROM dashboard_keys WHERE id = 1").fetchone()
    if row is None:
        with transaction(conn):
            conn.execute("INSERT INTO dashboard_keys (id, key_hex) VALUES (1, ?) ON CONFLICT DO NOTHING",
                         (secrets.token_hex(32),))
        row = conn.execute("SELECT key_hex FROM dashboard_keys WHERE id = 1").fetchone()
    return bytes.fromhex(row[0])


def failures(conn: Connection, subjects: list[str], since_ms: int) -> dict[str, int]:
    """Failed sign-ins per subject since ``since_ms``."""
    out = {s: 0 for s in subjects}
    for s in subjects:
        out[s] = conn.execute("SELECT count(*) FROM signin_failures WHERE subject = ? AND ts_ms >= ?",
                              (s, since_ms)).fetchone()[0]
    return out


def add_failure(conn: Connection, subjects: list[str], ts_ms: int, forget_before_ms: int) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM signin_failures WHERE ts_ms < ?", (forget_before_ms,))
        conn.executemany("INSERT INTO signin_failures (subject, ts_ms) VALUES (?, ?)", [(s, ts_ms) for s in subjects])


def clear_failures(conn: Connection, subject: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM signin_failures WHERE subject = ?", (subject,))


def forget_failure(conn: Connection, subject: str, ts_ms: int) -> None:
    """Remove the failure recorded for ``subject`` at ``ts_ms`` (an attempt recorded before its hash, which
    then succeeded)."""
    with transaction(conn):
        conn.execute("DELETE FROM signin_failures WHERE subject = ? AND ts_ms = ?", (subject, ts_ms))


def create_session(conn: Connection, token_sha256: str, user: str, role: str, address: str | None,
                   now_ms: int, expires_ms: int, handoff_sha256: str, handoff_expires_ms: int) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM dashboard_sessions WHERE expires_ms < ?", (now_ms,))
        conn.execute("INSERT INTO dashboard_sessions (token_sha256, user_name, role, address, created_ms, "
                     "expires_ms, handoff_sha256, handoff_expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (token_sha256, user, role, address, now_ms, expires_ms, handoff_sha256, handoff_expires_ms))


def take_handoff(conn: Connection, handoff_sha256: str, token_sha256: str, now_ms: int) -> int | None:
    """Bind a fresh token to the session a live one-time handoff code belongs to (the code is used up);
    returns the session's expiry, or None."""
    with transaction(conn):
        row = conn.execute("UPDATE dashboard_sessions SET token_sha256 = ?, handoff_sha256 = NULL "
                           "WHERE handoff_sha256 = ? AND handoff_expires_ms >= ? AND revoked_ms IS NULL "
                           "RETURNING expires_ms", (token_sha256, handoff_sha256, now_ms)).fetchone()
        conn.execute("UPDATE dashboard_sessions SET handoff_sha256 = NULL WHERE handoff_sha256 = ?", (handoff_sha256,))
    return None if row is None else int(row[0])


def session(conn: Connection, token_sha256: str, now_ms: int, idle_ms: int | None = None
            ) -> dict[str, Any] | None:
    """A live (not expired, not revoked, not idle longer than ``idle_ms``) session, or None. Reading it
    marks it used now; an idle one is revoked."""
    row = conn.execute("SELECT user_name, role, expires_ms, COALESCE(seen_ms, created_ms) FROM dashboard_sessions "
                       "WHERE token_sha256 = ? AND expires_ms > ? AND revoked_ms IS NULL",
                       (token_sha256, now_ms)).fetchone()
    if row is None:
        return None
    with transaction(conn):
        if idle_ms is not None and now_ms - int(row[3]) > idle_ms:
            conn.execute("UPDATE dashboard_sessions SET revoked_ms = ? WHERE token_sha256 = ?", (now_ms, token_sha256))
            return None
        conn.execute("UPDATE dashboard_sessions SET seen_ms = ? WHERE token_sha256 = ? AND "
                     "(seen_ms IS NULL OR seen_ms < ?)", (now_ms, token_sha256, now_ms))
    return {"user": row[0], "role": row[1], "expires_ms": row[2]}


def revoke(conn: Connection, token_sha256: str, now_ms: int) -> bool:
    with transaction(conn):
        return conn.execute("UPDATE dashboard_sessions SET revoked_ms = ? WHERE token_sha256 = ? AND revoked_ms IS NULL",
                            (now_ms, token_sha256)).rowcount == 1
