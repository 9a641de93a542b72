"""Members and target leases of collectors sharing one PostgreSQL store (see runner.leases).

Expiry is judged by the database's clock (``clock_timestamp()``), so hosts' clocks may disagree.
Every write runs in the store's write transaction, so an acquisition and a write are ordered.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

import pandas as pd

from store.db import transaction

_NOW = "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS bigint)"


def heartbeat(conn: Any, member: str, host: str, pid: int, targets: Iterable[str]) -> int:
    """Record that ``member`` is alive (and the targets its configuration has); returns the database's now."""
    with transaction(conn):
        now = conn.execute(f"SELECT {_NOW}").fetchone()[0]
        conn.execute("INSERT INTO collector_members (member, host, pid, targets, started_ms, heartbeat_ms) "
                     "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (member) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, "
                     "targets = excluded.targets",
                     (member, host, pid, json.dumps(sorted(targets)), now, now))
    return now


def live_members(conn: Any, now_ms: int, ttl_ms: int) -> dict[str, list[str]]:
    """{member: its targets} of members whose heartbeat is newer than ``ttl_ms``."""
    rows = conn.execute("SELECT member, targets FROM collector_members WHERE heartbeat_ms > ?",
                        (now_ms - ttl_ms,)).fetchall()
    return {m: json.loads(t) for m, t in rows}


def acquire(conn: Any, target: str, member: str, ttl_ms: int) -> bool:
    """Take or renew ``target`` for ``member`` when it is free, expired or already ours; True if held now."""
    with transaction(conn):
        row = conn.execute(
            f"INSERT INTO target_leases (target, owner, acquired_ms, renewed_ms, expires_ms) "
            f"VALUES (?1, ?2, {_NOW}, {_NOW}, {_NOW} + ?3) ON CONFLICT (target) DO UPDATE SET "
            "owner = excluded.owner, renewed_ms = excluded.renewed_ms, expires_ms = excluded.expires_ms, "
            "acquired_ms = CASE WHEN target_leases.owner = excluded.owner THEN target_leases.acquired_ms "
            "ELSE excluded.acquired_ms END "
            "WHERE target_leases.owner = excluded.owner OR target_leases.expires_ms < excluded.renewed_ms "
            "RETURNING owner", (target, member, ttl_ms)).fetchone()
    return row is not None


def release(conn: Any, member: str, targets: Iterable[str] | None = None) -> int:
    """Give up ``member``'s leases (all of them without ``targets``); returns how many."""
    with transaction(conn):
        if targets is None:
            return conn.execute("DELETE FROM target_leases WHERE owner = ?", (member,)).rowcount
        return sum(conn.execute("DELETE FROM target_leases WHERE owner = ? AND target = ?", (member, t)).rowcount
                   for t in targets)


def leave(conn: Any, member: str) -> None:
    """``member`` stops: its leases and its member row go, so the others take over at their next beat."""
    with transaction(conn):
        conn.execute("DELETE FROM target_leases WHERE owner = ?", (member,))
        conn.execute("DELETE FROM collector_members WHERE member = ?", (member,))


def forget_dead(conn: Any, now_ms: int, keep_ms: int) -> int:
    """Drop member rows silent for longer than ``keep_ms`` (their leases expired long ago)."""
    with transaction(conn):
        return conn.execute("DELETE FROM collector_members WHERE heartbeat_ms < ?", (now_ms - keep_ms,)).rowcount


MEMBER_COLUMNS = ["member", "host", "pid", "started_ms", "heartbeat_ms", "targets"]
LEASE_COLUMNS = ["target", "owner", "acquired_ms", "renewed_ms", "expires_ms"]


def read_members(conn: Any) -> pd.DataFrame:
    rows = conn.execute(f"SELECT {', '.join(MEMBER_COLUMNS)} FROM collector_members ORDER BY member").fetchall()
    df = pd.DataFrame.from_records(rows, columns=MEMBER_COLUMNS)
    df["targets"] = [json.loads(t) for t in df["targets"]]
    return df


def read_leases(conn: Any) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        conn.execute(f"SELECT {', '.join(LEASE_COLUMNS)} FROM target_leases ORDER BY target").fetchall(),
        columns=LEASE_COLUMNS)


def database_now(conn: Any) -> int:
    return conn.execute(f"SELECT {_NOW}").fetchone()[0]
