"""Reads for exporters (Prometheus ``/metrics``): the latest sample of every series, in one query."""
from __future__ import annotations

from typing import Any

from store import liveness


def latest_rows(conn: Any, since_ms: int) -> list[tuple[str, str, int, float]]:
    """``(metric, labels JSON, ts_ms, value)`` of every current series whose latest sample is at or after
    ``since_ms``, by metric then series id (labels JSON is canonical: sorted keys). Series gone from their
    target's latest successful cycle (``store.liveness``) are not exported, as Prometheus marks them stale."""
    judge = liveness.Judge(conn)
    return [r for r in _rows(conn, since_ms) if not judge.gone(r[0], r[1], r[2])]


def _rows(conn: Any, since_ms: int) -> list[tuple[str, str, int, float]]:
    return conn.execute("SELECT s.metric, s.labels, l.ts_ms, l.value FROM latest l JOIN series s ON s.id = l.series_id "
                        "WHERE l.ts_ms >= ? ORDER BY s.metric, s.id", (since_ms,)).fetchall()
