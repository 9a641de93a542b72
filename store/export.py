"""Reads for exporters (Prometheus ``/metrics``): the latest sample of every series, in one query."""
from __future__ import annotations

from typing import Any

from store import liveness


def latest_rows(conn: Any, since_ms: int) -> list[tuple[str, str, int, float]]:
    """``(metric, labels JSON, ts_ms, value)`` of every current series whose latest sample is at or after
    ``since_ms``, by metric then series id (labels JSON is canonical: sorted keys). Series gone from their
    target's latest successful cycle (``store.liveness``) are not exported, as Prometheus marks them stale."""
    rows = _rows(conn, since_ms)
    flags = liveness.Judge(conn).gone_flags(lambda r: r[0], rows, 2, 1)
    return [r for r, g in zip(rows, flags) if not g]


def _rows(conn: Any, since_ms: int) -> list[tuple[str, str, int, float]]:
    return conn.execute("SELECT s.metric, s.labels, l.ts_ms, l.value FROM latest l JOIN series s ON s.id = l.series_id "
                        "WHERE l.ts_ms >= ? ORDER BY s.metric, s.id", (since_ms,)).fetchall()
