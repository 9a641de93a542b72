"""Retention per tier: prune raw samples, 1m and 1h rollups older than their windows (rows, and whole
chunks whose window ended before the cut-off); drop dead series."""
from __future__ import annotations

import sqlite3

from store.chunks import CHUNK_TABLES
from store.db import transaction
from store.writes import GC_KEY, H1_CUTOFF_KEY, M1_CUTOFF_KEY, RAW_CUTOFF_KEY, SEALED_UNTIL_KEY, flush

# Series handled per transaction, so a large first prune never holds the write lock for long.
CHUNK_SERIES = 250
# (table, time column, store_meta key of its cut-off)
TABLES = (("samples", "ts_ms", RAW_CUTOFF_KEY), ("rollup_1m", "bucket_ms", M1_CUTOFF_KEY),
          ("rollup_1h", "bucket_ms", H1_CUTOFF_KEY))
# chunk table -> store_meta key of the cut-off of the tier it holds
CHUNK_CUTOFFS = {"sample_chunks": RAW_CUTOFF_KEY, "rollup_1h_chunks": H1_CUTOFF_KEY}


def apply_retention(conn: sqlite3.Connection, now_ms: int, raw_ms: int, m1_ms: int, h1_ms: int) -> dict[str, int]:
    """Delete data older than ``now_ms - <tier>_ms`` per tier; returns rows (chunks) deleted per table.

    Staged samples are flushed first, so their rollups are counted before raw rows go.
    Cut-offs are recorded in ``store_meta`` (never moving backwards): queries use them to pick a tier
    that covers a range, writers drop samples older than the raw cut-off. A ``latest`` value older
    than the raw cut-off is removed, and a series left with no data at all is removed from the registry.
    1-minute buckets of sealed windows are computed from raw chunks, so there the 1-minute tier reaches
    back no further than raw: its cut-off is at least the raw one below the sealed horizon.
    """
    windows = {"raw_ms": raw_ms, "m1_ms": m1_ms, "h1_ms": h1_ms}
    for name, value in windows.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"apply_retention: {name} must be a positive int of milliseconds, got {value!r}")
    flush(conn)
    with transaction(conn):
        cuts = {key: now_ms - keep for (_, _, key), keep in zip(TABLES, windows.values())}
        sealed = conn.execute("SELECT value FROM store_meta WHERE key = ?", (SEALED_UNTIL_KEY,)).fetchone()
        cuts[M1_CUTOFF_KEY] = max(cuts[M1_CUTOFF_KEY], min(cuts[RAW_CUTOFF_KEY], sealed[0] if sealed else 0))
        conn.executemany("INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                         "SET value = CASE WHEN excluded.value > store_meta.value THEN excluded.value "
                         "ELSE store_meta.value END", cuts.items())
        cut = dict(conn.execute("SELECT key, value FROM store_meta"))
    ids = [sid for (sid,) in conn.execute("SELECT id FROM series ORDER BY id")]
    deleted = {table: 0 for table, _, _ in TABLES} | dict.fromkeys(CHUNK_CUTOFFS, 0)
    for i in range(0, len(ids), CHUNK_SERIES):
        chunk = ids[i:i + CHUNK_SERIES]
        with transaction(conn):
            for table, column, key in TABLES:
                before = conn.total_changes
                conn.executemany(f"DELETE FROM {table} WHERE series_id = ? AND {column} < ?",
                                 [(sid, cut[key]) for sid in chunk])
                deleted[table] += conn.total_changes - before
            for table, key in CHUNK_CUTOFFS.items():  # a chunk goes whole once its window has passed
                before = conn.total_changes
                conn.executemany(f"DELETE FROM {table} WHERE series_id = ? AND t_end <= ?",
                                 [(sid, cut[key]) for sid in chunk])
                deleted[table] += conn.total_changes - before
    with transaction(conn):
        deleted["latest"] = conn.execute("DELETE FROM latest WHERE ts_ms < ?", (cut[RAW_CUTOFF_KEY],)).rowcount
        deleted["series"] = conn.execute(
            "DELETE FROM series WHERE id NOT IN (SELECT series_id FROM latest) "
            "AND NOT EXISTS (SELECT 1 FROM samples WHERE series_id = series.id) "
            "AND NOT EXISTS (SELECT 1 FROM samples_recent WHERE series_id = series.id) "
            "AND NOT EXISTS (SELECT 1 FROM rollup_1m WHERE series_id = series.id) "
            "AND NOT EXISTS (SELECT 1 FROM rollup_1h WHERE series_id = series.id)"
            + "".join(f" AND NOT EXISTS (SELECT 1 FROM {t} WHERE series_id = series.id)" for t in CHUNK_TABLES)
        ).rowcount
        if deleted["series"]:
            conn.execute("INSERT INTO store_meta (key, value) VALUES (?, 1) ON CONFLICT (key) DO UPDATE "
                         "SET value = store_meta.value + 1", (GC_KEY,))
    return deleted
