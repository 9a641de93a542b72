"""Sealing: each series' closed windows of head rows become one compressed chunk per window.

``seal_due`` first advances the sealed horizon (store_meta ``sealed_until_ms``: the start of the
newest window that closed ``grace_ms`` ago) in the same transaction that flushes staged rows, so
from then on the writer refuses samples older than the horizon (like the raw retention cut-off)
and nothing new can land in a closed window. It then moves, per batch of series and in one
transaction per batch, every raw row below the horizon into ``sample_chunks`` and every 1-hour
rollup row of a closed week into ``rollup_1h_chunks``, and drops the 1-minute rollup rows below the
horizon: queries compute those buckets from the raw chunks (see store.chunks for the measurement).
Rollups stay computed incrementally at flush (exact sums, first write wins); 1-hour rows are packed
as they are: the same codec, one chunk per series per week.

A killed run leaves every batch either wholly sealed or wholly still rows; the next run carries
on from the rows that are left. The same job converts a store written before chunks existed
(every row below the horizon is simply due), in batches, while readers keep reading.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

import numpy as np

from store import codec
from store.chunks import CHUNK_TABLES, RAW_WINDOW_MS
from store.db import transaction
from store.rollups import MINUTE_MS
from store.writes import SEALED_UNTIL_KEY, flush

log = logging.getLogger("eventdeck.store.seal")

# A window is sealed once it ended this long ago: later samples for it would be refused, so this
# is how late a collection may write (cycles stamp their scheduled time, normally seconds behind).
SEAL_GRACE_MS = 30 * MINUTE_MS
# Series per transaction, and 2 h windows per series per transaction: 100 series x 4 h of 15 s
# samples is ~100k rows, ~0.2 s of write lock, however much history an older store converts.
BATCH_SERIES = 100
WINDOWS_PER_BATCH = 2

_COLUMNS = {"samples": "ts_ms, value", "rollup_1h": "bucket_ms, min_v, max_v, sum_v, cnt, last_ts_ms, last_v"}
_KINDS = {"samples": "if", "rollup_1h": codec.ROLLUP_KINDS}


@dataclass
class SealStats:
    horizon_ms: int = 0          # everything older is in chunks once done
    batches: int = 0             # transactions that sealed something
    chunks: int = 0              # chunks written (all tables)
    samples: int = 0             # raw samples moved into chunks
    buckets: int = 0             # rollup rows moved into chunks
    chunk_bytes: int = 0         # size of the blobs written
    kept_rows: int = 0           # rows left as rows because their window's chunk is unreadable
    done: bool = True            # False when max_batches stopped the run early


def due_horizon(now_ms: int, grace_ms: int = SEAL_GRACE_MS) -> int:
    """Exclusive end of what is due at ``now_ms``: every raw window that ended ``grace_ms`` ago or earlier."""
    return (now_ms - grace_ms) // RAW_WINDOW_MS * RAW_WINDOW_MS


def seal_due(conn: sqlite3.Connection, now_ms: int, *, grace_ms: int = SEAL_GRACE_MS,
             batch_series: int = BATCH_SERIES, max_batches: int | None = None) -> SealStats:
    """Seal every closed window of every series (writer connection); returns what was done.

    One transaction per ``batch_series`` series and ``WINDOWS_PER_BATCH`` windows; with
    ``max_batches`` it stops after that many transactions (``done`` False) and a later call goes on.
    """
    if not isinstance(batch_series, int) or batch_series < 1:
        raise ValueError(f"seal_due: batch_series must be a positive int, got {batch_series!r}")
    with transaction(conn):
        flush(conn)
        conn.execute("INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                     "SET value = CASE WHEN excluded.value > store_meta.value THEN excluded.value ELSE store_meta.value END",
                     (SEALED_UNTIL_KEY, due_horizon(now_ms, grace_ms)))
        (horizon,) = conn.execute("SELECT value FROM store_meta WHERE key = ?", (SEALED_UNTIL_KEY,)).fetchone()
    stats = SealStats(horizon_ms=horizon)
    ids = [sid for (sid,) in conn.execute("SELECT id FROM series ORDER BY id")]
    for i in range(0, len(ids), batch_series):
        lo, hi = ids[i], ids[min(i + batch_series, len(ids)) - 1]
        until = None
        while until != horizon:  # oldest windows first, WINDOWS_PER_BATCH at a time
            if max_batches is not None and stats.batches >= max_batches:
                stats.done = False
                return stats
            (first,) = conn.execute("SELECT min((SELECT min(ts_ms) FROM samples WHERE series_id = s.id)) "
                                    "FROM series s WHERE s.id BETWEEN ? AND ?", (lo, hi)).fetchone()
            until = horizon if first is None else min(horizon, (first // RAW_WINDOW_MS + WINDOWS_PER_BATCH)
                                                      * RAW_WINDOW_MS)
            with transaction(conn):
                moved = conn.total_changes
                for table, (window, source, column) in CHUNK_TABLES.items():
                    if source == "samples" or until == horizon:
                        _seal_table(conn, table, window, source, column, lo, hi, until // window * window, stats)
                conn.execute("DELETE FROM rollup_1m WHERE series_id BETWEEN ? AND ? AND bucket_ms < ?",
                             (lo, hi, until))
            if conn.total_changes != moved:  # series with nothing due cost a few index lookups, not a batch
                stats.batches += 1
    return stats


def _seal_table(conn: sqlite3.Connection, table: str, window: int, source: str, column: str, lo: int, hi: int,
                until: int, stats: SealStats) -> None:
    """Move rows of series lo..hi older than ``until`` from ``source`` into chunks of ``table``."""
    rows = conn.execute(f"SELECT series_id, {_COLUMNS[source]} FROM {source} WHERE series_id BETWEEN ? AND ? "
                        f"AND {column} < ? ORDER BY series_id, {column}", (lo, hi, until)).fetchall()
    if not rows:
        return
    kinds = _KINDS[source]
    cols = [np.array(c, dtype=np.int64 if k == "i" else np.float64)
            for c, k in zip(zip(*rows), "i" + kinds)]
    sid, t = cols[0], cols[1]
    win = t // window
    cut = np.flatnonzero((sid[1:] != sid[:-1]) | (win[1:] != win[:-1])) + 1
    existing = {(s, ts): (te, n, data) for s, ts, te, n, data in conn.execute(
        f"SELECT series_id, t_start, t_end, n, data FROM {table} WHERE series_id BETWEEN ? AND ? AND t_start >= ?",
        (lo, hi, int(win.min()) * window))}
    inserts, updates, keep = [], [], []
    for a, b in zip(np.r_[0, cut], np.r_[cut, len(sid)]):
        s, t_start = int(sid[a]), int(win[a]) * window
        part = [c[a:b] for c in cols[1:]]
        old = existing.get((s, t_start))
        if old is not None:  # a chunk for this window exists already (defensive: the writer refuses such rows)
            try:
                part = _merge(source, codec.decode(old[2], kinds, old[1]), part)
            except codec.ChunkDecodeError as exc:
                log.warning("%s chunk of series %d, window [%d, %d) is unreadable (%s): its %d new rows stay rows",
                            table, s, t_start, t_start + window, exc, b - a)
                keep.append((s, t_start, t_start + window))
                stats.kept_rows += b - a
                continue
        blob = codec.encode(part)
        (updates if old is not None else inserts).append((s, t_start, t_start + window, len(part[0]), blob))
        stats.chunks += 1
        stats.chunk_bytes += len(blob)
        if source == "samples":
            stats.samples += int(b - a)
        else:
            stats.buckets += int(b - a)
    conn.executemany(f"INSERT INTO {table} (series_id, t_start, t_end, n, data) VALUES (?, ?, ?, ?, ?)", inserts)
    conn.executemany(f"UPDATE {table} SET n = ?4, data = ?5 WHERE series_id = ?1 AND t_start = ?2 AND t_end = ?3",
                     updates)
    conn.execute(f"DELETE FROM {source} WHERE series_id BETWEEN ? AND ? AND {column} < ?", (lo, hi, until))
    if keep:  # put back the rows of windows whose chunk could not be merged
        conn.executemany(f"INSERT INTO {source} (series_id, {_COLUMNS[source]}) VALUES "
                         f"(?, {', '.join('?' * len(kinds))})",
                         [r for r in rows if any(r[0] == s and a <= r[1] < b for s, a, b in keep)])


def _merge(source: str, old: list[np.ndarray], new: list[np.ndarray]) -> list[np.ndarray]:
    """Columns of an existing chunk combined with new rows of its window; the chunk's values win for
    a repeated sample, and rollup buckets present in both are combined."""
    if source == "samples":
        ts = np.concatenate([old[0], new[0]])
        values = np.concatenate([old[1], new[1]])
        _, first = np.unique(ts, return_index=True)  # sorted unique; index of the first occurrence
        return [ts[first], values[first]]
    cols = [np.concatenate([o, n]) for o, n in zip(old, new)]
    order = np.lexsort((cols[5], cols[0]))  # by bucket, then last_ts
    cols = [c[order] for c in cols]
    starts = np.flatnonzero(np.r_[True, cols[0][1:] != cols[0][:-1]])
    ends = np.r_[starts[1:], len(cols[0])] - 1
    return [cols[0][starts], np.minimum.reduceat(cols[1], starts), np.maximum.reduceat(cols[2], starts),
            np.add.reduceat(cols[3], starts), np.add.reduceat(cols[4], starts), cols[5][ends], cols[6][ends]]
