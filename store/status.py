"""Collector status per target (``kafka:<cluster>``, ``rabbitmq:<cluster>``, ``telemetry:<broker>:<cluster>``)."""
from __future__ import annotations

import sqlite3

import pandas as pd

from store.db import transaction
from store.types import Sample
from store.writes import SampleWriter

COLUMNS = ["target", "up", "reason", "since_ms", "last_ms", "last_ok_ms", "duration_ms", "interval_ms"]


def set_status(conn: sqlite3.Connection, target: str, up: bool, reason: str | None, now_ms: int,
               duration_ms: int | None = None, interval_ms: int | None = None) -> None:
    """Record the outcome of one collection of ``target`` and write its ``collector_up{target}`` sample.

    ``since_ms`` keeps the time of the last up/down change; ``reason`` should say why a target is down
    (never include secrets in it). ``interval_ms`` is the target's collection interval (``store.liveness``
    tells gone series by it).
    """
    if not isinstance(target, str) or not target:
        raise ValueError(f"set_status: target must be a non-empty str, got {target!r}")
    with transaction(conn):
        conn.execute(
            "INSERT INTO collector_status (target, up, reason, since_ms, last_ms, last_ok_ms, duration_ms, interval_ms) "
            "VALUES (?1, ?2, ?3, ?4, ?4, CASE WHEN ?2 = 1 THEN ?4 END, ?5, ?6) ON CONFLICT (target) DO UPDATE SET "
            "since_ms = CASE WHEN collector_status.up = excluded.up THEN collector_status.since_ms "
            "ELSE excluded.since_ms END, up = excluded.up, reason = excluded.reason, last_ms = excluded.last_ms, "
            "last_ok_ms = coalesce(excluded.last_ok_ms, collector_status.last_ok_ms), duration_ms = excluded.duration_ms, "
            "interval_ms = coalesce(excluded.interval_ms, collector_status.interval_ms)",
            (target, int(bool(up)), reason, now_ms, duration_ms, interval_ms))
        SampleWriter(conn).write([Sample("collector_up", {"target": target}, now_ms, 1.0 if up else 0.0)])


def read_status(conn: sqlite3.Connection) -> pd.DataFrame:
    """One row per target, ordered by target; ``up`` is a bool, unknown ms values are ``<NA>``."""
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM collector_status ORDER BY target").fetchall()
    df = pd.DataFrame.from_records(rows, columns=COLUMNS)
    return df.astype({"up": bool, "since_ms": "int64", "last_ms": "int64", "last_ok_ms": "Int64",
                      "duration_ms": "Int64", "interval_ms": "Int64"})
