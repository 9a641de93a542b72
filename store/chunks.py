"""Reading compressed chunks (see migration 0060 and store.codec): the chunk tables, their windows,
and decoding that reports a bad chunk (series + window) and skips it instead of failing a query."""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

import numpy as np

from store import codec, dialect
from store.rollups import HOUR_MS, MINUTE_MS

log = logging.getLogger("eventdeck.store.chunks")

DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# Window of one chunk per tier. Raw chunks close every 2 h (480 samples at 15 s: large enough that
# pcodec's per-column header, ~50 B, costs ~0.1 B/sample; small enough that a query for the last
# minutes decodes little); 1-hour buckets are packed per week (168 rows, epoch-aligned): measured
# 10.7 B per bucket against 20 packed per day and 8 per 30 days, which would keep a month of rows.
# 1-minute buckets of closed windows are computed from raw chunks (minute_buckets): packed as chunks
# they measured 1.8-3.7 B per raw sample, twice the raw chunk, so keeping raw as long as 1-minute
# rollups costs less than keeping the rollups.
RAW_WINDOW_MS = 2 * HOUR_MS
# every chunk table -> (window, row table it is sealed from, its time column)
CHUNK_TABLES: dict[str, tuple[int, str, str]] = {
    "sample_chunks": (RAW_WINDOW_MS, "samples", "ts_ms"),
    "rollup_1h_chunks": (WEEK_MS, "rollup_1h", "bucket_ms"),
}
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)
_ZERO = {"i": np.int64, "f": np.float64}


@dataclass(frozen=True)
class BadChunk:
    """A chunk that failed to decode: reported, skipped."""

    table: str
    series_id: int
    t_start: int
    t_end: int
    reason: str


def _overlapping(conn: sqlite3.Connection, table: str, ids_json: str, start_ms: int, end_ms: int) -> list[tuple]:
    """(series_id, t_start, t_end, n, data) of the chunks of ``table`` overlapping [start_ms, end_ms]."""
    window = CHUNK_TABLES[table][0]
    return conn.execute(f"SELECT series_id, t_start, t_end, n, data FROM {table} WHERE {dialect.in_ids(conn)} "
                        "AND t_start BETWEEN ? AND ? ORDER BY series_id, t_start",
                        (ids_json, start_ms - window + 1, end_ms)).fetchall()


def sample_counts(conn: sqlite3.Connection, ids_json: str, start_ms: int, end_ms: int) -> dict[int, int]:
    """Samples per series in chunks lying wholly inside [start_ms, end_ms] (read without decoding)."""
    window = CHUNK_TABLES["sample_chunks"][0]
    return dict(conn.execute(f"SELECT series_id, sum(n) FROM sample_chunks WHERE {dialect.in_ids(conn)} "
                             "AND t_start BETWEEN ? AND ? AND t_end - 1 <= ? GROUP BY series_id",
                             (ids_json, start_ms, end_ms - window + 1, end_ms)))


def _report(bad: list[BadChunk], table: str, row: tuple, exc: codec.ChunkDecodeError) -> None:
    item = BadChunk(table, row[0], row[1], row[2], str(exc))
    log.warning("skipping %s chunk of series %d, window [%d, %d): %s", table, *row[:3], exc)
    bad.append(item)


def read_samples(conn: sqlite3.Connection, ids_json: str, start_ms: int, end_ms: int,
                 bad: list[BadChunk]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(series_id, ts_ms, value) arrays of chunked samples in [start_ms, end_ms], in chunk order."""
    sids, tss, vals = [], [], []
    for row in _overlapping(conn, "sample_chunks", ids_json, start_ms, end_ms):
        try:
            ts, values = codec.decode_samples(row[4], row[3], row[1], row[2])
        except codec.ChunkDecodeError as exc:
            _report(bad, "sample_chunks", row, exc)
            continue
        if len(ts) and (ts[0] < start_ms or ts[-1] > end_ms):
            keep = (ts >= start_ms) & (ts <= end_ms)
            ts, values = ts[keep], values[keep]
        sids.append(np.full(len(ts), row[0], dtype=np.int64))
        tss.append(ts)
        vals.append(values)
    if not sids:
        return _EMPTY_I, _EMPTY_I, _EMPTY_F
    return np.concatenate(sids), np.concatenate(tss), np.concatenate(vals)


def minute_buckets(conn: sqlite3.Connection, ids_json: str, lo_ms: int, end_ms: int,
                   bad: list[BadChunk]) -> list[np.ndarray] | None:
    """[series_id, bucket, min, max, sum, count, last_ts, last] of the 1-minute buckets starting in
    [lo_ms, end_ms] computed from raw chunks (lo_ms minute-aligned), each bucket whole as a rollup row
    is; None when no chunk overlaps."""
    end_ms = end_ms // MINUTE_MS * MINUTE_MS + MINUTE_MS - 1
    if not conn.execute(f"SELECT 1 FROM sample_chunks WHERE {dialect.in_ids(conn)} AND t_start BETWEEN ? AND ? LIMIT 1",
                        (ids_json, lo_ms - RAW_WINDOW_MS + 1, end_ms)).fetchone():
        return None
    sid, ts, values = read_samples(conn, ids_json, lo_ms, end_ms, bad)  # sorted by (series, ts)
    if not len(sid):
        return [_EMPTY_I, _EMPTY_I, _EMPTY_F, _EMPTY_F, _EMPTY_F, _EMPTY_I, _EMPTY_I, _EMPTY_F]
    b = ts // MINUTE_MS * MINUTE_MS
    starts = np.flatnonzero(np.r_[True, (sid[1:] != sid[:-1]) | (b[1:] != b[:-1])])
    ends = np.r_[starts[1:], len(sid)] - 1
    return [sid[starts], b[starts], np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts),
            np.add.reduceat(values, starts), np.diff(np.r_[starts, len(sid)]), ts[ends], values[ends]]


def read_rollups(conn: sqlite3.Connection, ids_json: str, lo_ms: int, end_ms: int, bad: list[BadChunk],
                 wanted: frozenset[int] | None = None) -> list[np.ndarray] | None:
    """[series_id, bucket, min, max, sum, count, last_ts, last] arrays of the chunked 1-hour buckets in
    [lo_ms, end_ms]; None when no chunk overlaps (the caller's row-only path applies). With ``wanted``
    (indexes into [bucket, min, ...]) only those columns are decoded; the others are zeros."""
    table = "rollup_1h_chunks"
    rows = _overlapping(conn, table, ids_json, lo_ms, end_ms)
    if not rows:
        return None
    parts: list[list[np.ndarray]] = []
    for row in rows:
        try:
            cols = codec.decode_rollups(row[4], row[3], row[1], row[2], wanted)
        except codec.ChunkDecodeError as exc:
            _report(bad, table, row, exc)
            continue
        cols = [np.zeros(row[3], dtype=_ZERO[k]) if c is None else c for c, k in zip(cols, codec.ROLLUP_KINDS)]
        keep = (cols[0] >= lo_ms) & (cols[0] <= end_ms)
        if not keep.all():
            cols = [c[keep] for c in cols]
        parts.append([np.full(len(cols[0]), row[0], dtype=np.int64), *cols])
    if not parts:
        return [_EMPTY_I, _EMPTY_I, _EMPTY_F, _EMPTY_F, _EMPTY_F, _EMPTY_I, _EMPTY_I, _EMPTY_F]
    return [np.concatenate(col) for col in zip(*parts)]
