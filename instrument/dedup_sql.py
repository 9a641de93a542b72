"""SQL of the message-id dedup table that :mod:`instrument.idempotency` keeps for idempotent
handlers, in the consumer app's own SQLite file (never the Eventdeck store). It lives here, not in
``store/``, because ``instrument`` is installed on its own by consumer apps and imports nothing of
the project.

A row is a claim on one message id: ``done = 0`` while a handler works on it (a lease, so a
crashed handler's message can be processed again once the lease expires), ``done = 1`` after
success, kept until ``expires_ms``.
"""
from __future__ import annotations

import sqlite3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instrument_dedup (
    key        TEXT PRIMARY KEY,
    done       INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS instrument_dedup_expires ON instrument_dedup (expires_ms);
"""


def ensure_dedup_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)


def claim(conn: sqlite3.Connection, key: str, now_ms: int, lease_ms: int) -> bool:
    """Take ``key`` unless a live claim or a done mark exists; one atomic statement."""
    cur = conn.execute(
        "INSERT INTO instrument_dedup (key, done, expires_ms) VALUES (?, 0, ?) "
        "ON CONFLICT (key) DO UPDATE SET done = 0, expires_ms = excluded.expires_ms "
        "WHERE instrument_dedup.expires_ms <= ?",
        (key, now_ms + lease_ms, now_ms))
    return cur.rowcount == 1


def mark_done(conn: sqlite3.Connection, key: str, now_ms: int, ttl_ms: int) -> None:
    conn.execute("INSERT INTO instrument_dedup (key, done, expires_ms) VALUES (?, 1, ?) "
                 "ON CONFLICT (key) DO UPDATE SET done = 1, expires_ms = excluded.expires_ms",
                 (key, now_ms + ttl_ms))


def release(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM instrument_dedup WHERE key = ? AND done = 0", (key,))


def purge_expired(conn: sqlite3.Connection, now_ms: int) -> int:
    return conn.execute("DELETE FROM instrument_dedup WHERE expires_ms <= ?", (now_ms,)).rowcount
