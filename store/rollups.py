"""Rollup arithmetic (pure): per-batch bucket deltas and how they merge into stored buckets.

A bucket holds (min, max, sum, count, last_ts_ms, last); avg = sum / count. Deltas from one batch
are merged into the stored row by an UPSERT whose SET clause mirrors :func:`merge`.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
TIERS: dict[str, tuple[str, int]] = {"1m": ("rollup_1m", MINUTE_MS), "1h": ("rollup_1h", HOUR_MS)}


class Bucket(NamedTuple):
    series_id: int
    bucket_ms: int
    min_v: float
    max_v: float
    sum_v: float
    cnt: int
    last_ts_ms: int
    last_v: float


def bucket_start(ts_ms: int, width_ms: int) -> int:
    """Start of the aligned bucket holding ``ts_ms`` (floor division, so also right before 1970)."""
    return ts_ms // width_ms * width_ms


def deltas(rows: Iterable[tuple[int, int, float]], width_ms: int) -> list[Bucket]:
    """Aggregate (series_id, ts_ms, value) rows into one Bucket per (series, aligned bucket)."""
    acc: dict[tuple[int, int], list] = {}
    for sid, ts, v in rows:
        key = (sid, ts // width_ms * width_ms)
        b = acc.get(key)
        if b is None:
            acc[key] = [v, v, v, 1, ts, v]
        else:
            if v < b[0]:
                b[0] = v
            if v > b[1]:
                b[1] = v
            b[2] += v
            b[3] += 1
            if ts >= b[4]:
                b[4] = ts
                b[5] = v
    return [Bucket(sid, bms, *b) for (sid, bms), b in acc.items()]


def merge(old: Bucket, new: Bucket) -> Bucket:
    """The stored bucket after merging a delta into it (later timestamp wins ``last``; ties go to new)."""
    newer = new.last_ts_ms >= old.last_ts_ms
    return Bucket(old.series_id, old.bucket_ms, min(old.min_v, new.min_v), max(old.max_v, new.max_v),
                  old.sum_v + new.sum_v, old.cnt + new.cnt,
                  new.last_ts_ms if newer else old.last_ts_ms, new.last_v if newer else old.last_v)


def upsert_sql(table: str) -> str:
    """UPSERT of one Bucket into ``table``, merging exactly like :func:`merge`."""
    return (
        f"INSERT INTO {table} (series_id, bucket_ms, min_v, max_v, sum_v, cnt, last_ts_ms, last_v) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, bucket_ms) DO UPDATE SET "
        "min_v = min(min_v, excluded.min_v), max_v = max(max_v, excluded.max_v), "
        "sum_v = sum_v + excluded.sum_v, cnt = cnt + excluded.cnt, "
        "last_v = CASE WHEN excluded.last_ts_ms >= last_ts_ms THEN excluded.last_v ELSE last_v END, "
        "last_ts_ms = max(last_ts_ms, excluded.last_ts_ms)"
    )
