"""SQL of the Kafka area: the persisted time-lag tables (see collectors.timelag)."""
from __future__ import annotations

import sqlite3
from typing import Iterable

from store.db import transaction

# (topic, partition, ts_ms values to delete, (ts_ms, end_offset) to insert or None)
TimelagEdit = tuple[str, int, Iterable[int], "tuple[int, int] | None"]


def load_timelag(conn: sqlite3.Connection, cluster: str) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """Every stored (ts_ms, end_offset) point of ``cluster``, per (topic, partition), oldest first."""
    out: dict[tuple[str, int], list[tuple[int, int]]] = {}
    rows = conn.execute("SELECT topic, partition, ts_ms, end_offset FROM kafka_timelag_points "
                        "WHERE cluster = ? ORDER BY topic, partition, ts_ms", (cluster,))
    for topic, partition, ts_ms, end_offset in rows:
        out.setdefault((topic, partition), []).append((ts_ms, end_offset))
    return out


def apply_timelag_edits(conn: sqlite3.Connection, cluster: str, edits: Iterable[TimelagEdit]) -> None:
    """Mirror table changes: delete the listed points, then insert the new ones (one transaction,
    or the caller's)."""
    deletes: list[tuple[str, str, int, int]] = []
    inserts: list[tuple[str, str, int, int, int]] = []
    for topic, partition, removed, added in edits:
        deletes.extend((cluster, topic, partition, ts) for ts in removed)
        if added is not None:
            inserts.append((cluster, topic, partition, added[0], added[1]))
    with transaction(conn):
        conn.executemany("DELETE FROM kafka_timelag_points "
                         "WHERE cluster = ? AND topic = ? AND partition = ? AND ts_ms = ?", deletes)
        conn.executemany("INSERT INTO kafka_timelag_points (cluster, topic, partition, ts_ms, end_offset) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster, topic, partition, ts_ms) "
                         "DO UPDATE SET end_offset = excluded.end_offset", inserts)

