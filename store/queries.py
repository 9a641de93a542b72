"""Read API (use a reader connection): pandas DataFrames with one column per label.

``match`` is ``{label: value or [values]}``; a series lacking the label does not match.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from store import chunks, dialect, liveness
from store.db import snapshot
from store.rollups import plan_rollup
from core.names import LABEL_RE, safe_label_value
from store.writes import FLUSHED_MAX_KEY, M1_CUTOFF_KEY, RAW_CUTOFF_KEY, STAGED_ROWS_KEY

Match = Mapping[str, "str | Sequence[str]"] | None
# Points per series a range query returns at most (it switches to coarser rollups beyond); the
# charts downsample to the same number, so a query result is never thinned twice.
MAX_POINTS = 2000

# Value of one output point from the rollup rows of its bucket, per aggregation.
GROUP_AGG = {"avg": "sum(sum_v) / sum(cnt)", "min": "min(min_v)", "max": "max(max_v)", "sum": "sum(sum_v)",
             "count": "sum(cnt)", "last": "last_v"}  # 'last' is the bare column picked by max(last_ts_ms)
# Columns of a rollup chunk ([bucket, min, max, sum, count, last_ts, last]) each aggregation reads.
AGG_COLUMNS = {"avg": frozenset({3, 4}), "min": frozenset({1}), "max": frozenset({2}), "sum": frozenset({3}),
               "count": frozenset({4}), "last": frozenset({5, 6})}
_BASE = ["series_id", "ts_ms", "value"]
_DTYPE = np.dtype([("series_id", "i8"), ("ts_ms", "i8"), ("value", "f8")])


def _match_sql(match: Match, conn: object = None) -> tuple[str, list]:
    """SQL conditions on ``series.labels`` for a label matcher; errors name the label."""
    sql, params = [], []
    for name, wanted in (match or {}).items():
        if not isinstance(name, str) or not LABEL_RE.match(name):
            raise ValueError(f"match: label name {name!r} is invalid")
        values = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(values, (list, tuple, set, frozenset)) or not all(isinstance(v, str) for v in values):
            raise TypeError(f"match: values of label {name!r} must be str, got {wanted!r}")
        if not values:
            sql.append("1 = 0")
            continue
        sql.append(f"{dialect.label_value(conn)} IN ({', '.join('?' * len(values))})")
        params += [dialect.label_param(conn, name), *sorted(values)]
    return "".join(f" AND {c}" for c in sql), params


def _series(conn: sqlite3.Connection, metric: str, match: Match) -> list[tuple[int, str]]:
    where, params = _match_sql(match, conn)
    return conn.execute(f"SELECT s.id, s.labels FROM series s WHERE s.metric = ?{where} ORDER BY s.id",
                        [metric, *params]).fetchall()


def load_labels(labels_json: str) -> dict[str, str]:
    """A series' labels. The writer stores only safe values; a row written before it did (a lone surrogate or
    NUL escaped in the JSON) is made safe the same way here, so no reader (pandas/Arrow, /metrics) fails on it."""
    labels = json.loads(labels_json)
    if "\\u" in labels_json:  # only escaped characters can be unsafe (the JSON is ASCII)
        labels = {k: safe_label_value(v) if isinstance(v, str) else str(v) for k, v in labels.items()}
    return labels


def _with_labels(df: pd.DataFrame, series: list[tuple[int, str]], match: Match,
                 extra: Sequence[str] = ()) -> pd.DataFrame:
    """Append one column per label (sorted; None where a series lacks it) after the base columns.

    The labels of ``match`` always get a column, so an empty result still has them."""
    labels = pd.DataFrame.from_records([load_labels(lab) for _, lab in series])
    names = sorted(set(labels.columns) | set(match or ()))
    labels = labels.reindex(columns=names)
    labels.insert(0, "series_id", [sid for sid, _ in series])
    out = df.merge(labels, on="series_id", how="left", sort=False) if len(df) else \
        pd.DataFrame(columns=[*df.columns, *names])
    return out[[*_BASE, *names, *extra]]


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """(series_id, ts_ms, value) rows as int64/int64/float64 columns (via numpy: ~2x faster)."""
    arr = np.array(rows, dtype=_DTYPE) if rows else np.empty(0, dtype=_DTYPE)
    return pd.DataFrame({name: arr[name] for name in _BASE})


def latest(conn: sqlite3.Connection, metric: str, match: Match = None, *, gone: bool = False) -> pd.DataFrame:
    """Latest value of every current matching series: series_id, ts_ms, value, labels...

    Series gone from their target's latest successful cycle (``store.liveness``) are left out; with
    ``gone=True`` they are kept and a bool column ``gone`` says which (``ts_ms`` is then "last seen")."""
    return _latest(conn, metric, match, "ORDER BY s.id", (), gone)


def latest_points(conn: sqlite3.Connection, metric: str) -> list[tuple[int, int, float, str]]:
    """``(series_id, ts_ms, value, labels JSON)`` of the latest sample of every current series of ``metric``, by
    series id: the lean form the alert evaluator reads every tick (labels JSON is canonical: sorted keys)."""
    return latest_points_split(conn, metric)[0]


def latest_points_split(conn: sqlite3.Connection, metric: str) -> tuple[list[tuple], list[tuple]]:
    """:func:`latest_points` as ``(current, gone)``: the gone series' last samples apart."""
    rows = conn.execute("SELECT l.series_id, l.ts_ms, l.value, s.labels FROM latest l JOIN series s "
                        "ON s.id = l.series_id WHERE s.metric = ? ORDER BY s.id", (metric,)).fetchall()
    flags = liveness.Judge(conn).gone_flags(lambda _r: metric, rows, 1, 3)
    current, gone = [], []
    for r, g in zip(rows, flags):
        (gone if g else current).append(r)
    return current, gone


def top_n(conn: sqlite3.Connection, metric: str, n: int, match: Match = None) -> pd.DataFrame:
    """The ``n`` current matching series with the highest latest value, highest first."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"top_n: n must be a positive int, got {n!r}")
    return _latest(conn, metric, match, "ORDER BY l.value DESC, s.id", (), False, n)


def _latest(conn: sqlite3.Connection, metric: str, match: Match, tail: str, tail_params: tuple,
            with_gone: bool, limit: int | None = None) -> pd.DataFrame:
    where, params = _match_sql(match, conn)
    rows = conn.execute(
        f"SELECT l.series_id, l.ts_ms, l.value, s.labels FROM latest l JOIN series s ON s.id = l.series_id "
        f"WHERE s.metric = ?{where} {tail}", [metric, *params, *tail_params]).fetchall()
    flags = liveness.Judge(conn).gone_flags(lambda _r: metric, rows, 1, 3)
    if not with_gone:
        rows = [r for r, g in zip(rows, flags) if not g]
        flags = [False] * len(rows)
    if limit is not None:
        rows, flags = rows[:limit], flags[:limit]
    df = _frame([r[:3] for r in rows])
    if with_gone:
        df["gone"] = np.array(flags, dtype=bool)
    return _with_labels(df, [(r[0], r[3]) for r in rows], match, extra=["gone"] if with_gone else ()) \
        .reset_index(drop=True)


def metrics(conn: sqlite3.Connection) -> pd.DataFrame:
    """Every metric in the registry: metric, source, series (number of series)."""
    rows = conn.execute("SELECT metric, min(source), count(*) FROM series GROUP BY metric ORDER BY metric").fetchall()
    return pd.DataFrame.from_records(rows, columns=["metric", "source", "series"])


def _meta(conn: sqlite3.Connection) -> dict[str, int]:
    """Bookkeeping written by the writer and retention (see store.writes for the keys)."""
    return dict(conn.execute("SELECT key, value FROM store_meta"))


def _staged(conn: object, meta: dict[str, int], ticks: int, n_series: int) -> str:
    """SELECT of staged samples (rows not yet flushed) for params (lo, hi, ids json, flushed max).

    With few staged timestamps, each (timestamp, series) is looked up; with many (ticks x series
    beyond the staged row count) the staged rows are scanned. A staged duplicate of a stored sample
    (possible only at or below the flushed maximum) is left out: the next flush drops it.
    """
    if ticks * n_series < meta.get(STAGED_ROWS_KEY, 0):
        source = (f"staged_ts t {dialect.forced_join(conn)} samples_recent r ON r.ts_ms = t.ts_ms "
                  "WHERE t.ts_ms BETWEEN ?1 AND ?2 AND r.")
    else:
        source = "samples_recent r WHERE r.ts_ms BETWEEN ?1 AND ?2 AND r."
    return (f"SELECT r.series_id, r.ts_ms, r.value FROM {source}{dialect.in_ids(conn, '?3')} "
            "AND (r.ts_ms > ?4 OR NOT EXISTS (SELECT 1 FROM samples s "
            "WHERE s.series_id = r.series_id AND s.ts_ms = r.ts_ms))")


def _ticks(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> int:
    """Distinct staged timestamps in [start_ms, end_ms]."""
    return conn.execute("SELECT count(*) FROM staged_ts WHERE ts_ms BETWEEN ? AND ?", (start_ms, end_ms)).fetchone()[0]


def _raw_counts(conn: sqlite3.Connection, ids: list[int], start_ms: int, end_ms: int,
                max_points: int) -> dict[int, int] | None:
    """Flushed raw samples per series in range, or None as soon as one series has more than max_points."""
    sql = "SELECT count(*) FROM (SELECT 1 FROM samples WHERE series_id = ? AND ts_ms BETWEEN ? AND ? LIMIT ?) AS c"
    counts = {}
    for sid in ids:
        counts[sid] = conn.execute(sql, (sid, start_ms, end_ms, max_points + 1)).fetchone()[0]
        if counts[sid] > max_points:
            return None
    return counts


def range_query(conn: sqlite3.Connection, metric: str, match: Match, start_ms: int, end_ms: int,
                max_points: int = MAX_POINTS, agg: str = "avg") -> pd.DataFrame:
    """Matching series over [start_ms, end_ms]: series_id, ts_ms, value, labels..., resolution.

    Raw samples when every series has <= max_points of them in range and raw retention covers the
    start; else 1-minute rollups, else 1-hour rollups (grouped into k-hour buckets if needed).
    ``agg`` (avg, min, max, sum, count, last) combines a bucket's samples; ts_ms is the bucket start.
    Head rows, staged rows and compressed chunks are read in one snapshot. A chunk that does not
    decode is logged and skipped; the result lists it in ``df.attrs["bad_chunks"]`` (series, window).
    """
    if agg not in GROUP_AGG:
        raise ValueError(f"range_query: agg {agg!r} is not one of {sorted(GROUP_AGG)}")
    if not isinstance(max_points, int) or max_points < 1:
        raise ValueError(f"range_query: max_points must be a positive int, got {max_points!r}")
    if end_ms < start_ms:
        raise ValueError(f"range_query: end_ms {end_ms} is before start_ms {start_ms}")
    bad: list[chunks.BadChunk] = []
    with snapshot(conn):  # staged rows may be flushed and rows sealed meanwhile: read all at one instant
        df = _range(conn, metric, match, start_ms, end_ms, max_points, agg, bad)
    df.attrs["bad_chunks"] = bad
    return df


def _range(conn: sqlite3.Connection, metric: str, match: Match, start_ms: int, end_ms: int, max_points: int,
           agg: str, bad: list) -> pd.DataFrame:
    series = _series(conn, metric, match)
    ids = [sid for sid, _ in series]
    meta = _meta(conn)
    args = (json.dumps(ids), meta.get(FLUSHED_MAX_KEY, -1))  # ?3 and ?4 of the staged-rows SELECT
    raw = _raw_rows(conn, meta, ids, args, start_ms, end_ms, max_points, bad) \
        if ids and start_ms >= meta.get(RAW_CUTOFF_KEY, 0) else None
    if raw is not None:
        return _result(raw, "raw", series, match)
    table, width, resolution = plan_rollup(start_ms, end_ms, max_points, start_ms >= meta.get(M1_CUTOFF_KEY, 0))
    lo = start_ms // width * width
    ticks = _ticks(conn, lo, end_ms)
    if not ids:
        sealed = None
    elif table == "rollup_1m":
        sealed = chunks.minute_buckets(conn, args[0], lo, end_ms, bad)
    else:
        sealed = chunks.read_rollups(conn, args[0], lo, end_ms, bad, AGG_COLUMNS[agg])
    if sealed is not None:
        return _result(_rollup_merged(conn, meta, table, width, agg, lo, end_ms, ids, args, ticks, sealed),
                       resolution, series, match)
    last = ", max(last_ts_ms)" if agg == "last" else ""
    value = dialect.last_value(conn, "last_v", "last_ts_ms") if agg == "last" else GROUP_AGG[agg]
    staged_part = (" UNION ALL SELECT series_id, ts_ms, value, value, value, 1, ts_ms, value "
                   f"FROM ({_staged(conn, meta, ticks, len(ids))}) AS st" if ticks else "")
    # Rollup rows plus staged samples (each a one-sample bucket), grouped into buckets of `width`.
    sql = (f"SELECT series_id, bucket_ms / {width} * {width} AS b, {value}{last} FROM ("
           f"SELECT series_id, bucket_ms, min_v, max_v, sum_v, cnt, last_ts_ms, last_v FROM {table} "
           f"WHERE {dialect.in_ids(conn, '?3')} AND bucket_ms BETWEEN ?1 AND ?2{staged_part}) AS u "
           "GROUP BY series_id, b ORDER BY series_id, b")
    rows = [r[:3] for r in conn.execute(sql, (lo, end_ms, *args) if ticks else (lo, end_ms, args[0]))]
    return _result(_frame(rows), resolution, series, match)


_ROLLUP_DTYPE = np.dtype([("series_id", "i8"), ("bucket_ms", "i8"), ("min_v", "f8"), ("max_v", "f8"),
                          ("sum_v", "f8"), ("cnt", "i8"), ("last_ts_ms", "i8"), ("last_v", "f8")])


def _rollup_merged(conn: sqlite3.Connection, meta: dict[str, int], table: str, width: int, agg: str, lo: int,
                   end_ms: int, ids: list[int], args: tuple, ticks: int, sealed: list[np.ndarray]) -> pd.DataFrame:
    """The rollup answer when some buckets are in chunks: chunk buckets + rollup rows + staged samples
    (one-sample buckets), grouped into buckets of ``width`` with the same aggregations as the SQL path."""
    sql = (f"SELECT series_id, bucket_ms, min_v, max_v, sum_v, cnt, last_ts_ms, last_v FROM {table} "
           f"WHERE {dialect.in_ids(conn, '?3')} AND bucket_ms BETWEEN ?1 AND ?2")
    if ticks:  # staged samples as buckets of `width` ('value' is the one at max(ts_ms))
        sql += (f" UNION ALL SELECT series_id, ts_ms / {width} * {width}, min(value), max(value), sum(value), "
                f"count(*), max(ts_ms), {dialect.last_value(conn, 'value', 'ts_ms')} "
                f"FROM ({_staged(conn, meta, ticks, len(ids))}) AS st GROUP BY series_id, ts_ms / {width}")
    rows = conn.execute(sql, (lo, end_ms, *args) if ticks else (lo, end_ms, args[0])).fetchall()
    arr = np.array(rows, dtype=_ROLLUP_DTYPE) if rows else np.empty(0, dtype=_ROLLUP_DTYPE)
    sid, b, mn, mx, sm, cnt, lts, lv = (np.concatenate([c, arr[name]]) for c, name in zip(sealed, _ROLLUP_DTYPE.names))
    if not len(sid):
        return _frame([])
    g = b // width * width
    order = np.lexsort((lts, g, sid))
    sid, g = sid[order], g[order]
    starts = np.flatnonzero(np.r_[True, (sid[1:] != sid[:-1]) | (g[1:] != g[:-1])])
    if agg == "avg":
        value = np.add.reduceat(sm[order], starts) / np.add.reduceat(cnt[order], starts)
    elif agg == "min":
        value = np.minimum.reduceat(mn[order], starts)
    elif agg == "max":
        value = np.maximum.reduceat(mx[order], starts)
    elif agg == "sum":
        value = np.add.reduceat(sm[order], starts)
    elif agg == "count":
        value = np.add.reduceat(cnt[order], starts).astype(np.float64)
    else:  # last: the value at the latest timestamp of the bucket
        value = lv[order][np.r_[starts[1:], len(sid)] - 1]
    return pd.DataFrame({"series_id": sid[starts], "ts_ms": g[starts], "value": value})


def _raw_rows(conn: sqlite3.Connection, meta: dict[str, int], ids: list[int], args: tuple, start_ms: int,
              end_ms: int, max_points: int, bad: list) -> pd.DataFrame | None:
    """Raw (chunked + flushed + staged) samples of the series in range, or None if one has more than
    max_points. Whole chunks inside the range are counted without decoding, so a range far too long
    for raw costs a few index lookups."""
    whole = chunks.sample_counts(conn, args[0], start_ms, end_ms)
    if whole and max(whole.values()) > max_points:
        return None
    counts = _raw_counts(conn, ids, start_ms, end_ms, max_points)  # head rows, each capped at max_points + 1
    if counts is None or max(counts[sid] + whole.get(sid, 0) for sid in ids) > max_points:
        return None
    ticks = _ticks(conn, start_ms, end_ms)
    staged = conn.execute(_staged(conn, meta, ticks, len(ids)), (start_ms, end_ms, *args)).fetchall() if ticks else []
    for sid, _, _ in staged:
        counts[sid] += 1
    if max(counts[sid] + whole.get(sid, 0) for sid in ids) > max_points:
        return None
    c_sid, c_ts, c_val = chunks.read_samples(conn, args[0], start_ms, end_ms, bad)
    if len(c_sid):
        for sid, n in zip(*np.unique(c_sid, return_counts=True)):
            counts[int(sid)] += int(n)
        if max(counts.values()) > max_points:
            return None
    rows = conn.execute(f"SELECT series_id, ts_ms, value FROM samples WHERE {dialect.in_ids(conn)} "
                        "AND ts_ms BETWEEN ? AND ? ORDER BY series_id, ts_ms",
                        (args[0], start_ms, end_ms)).fetchall()
    if not len(c_sid):
        return _frame(sorted(rows + staged) if staged else rows)
    arr = np.array(rows + staged, dtype=_DTYPE) if rows or staged else np.empty(0, dtype=_DTYPE)
    sid = np.concatenate([c_sid, arr["series_id"]])
    ts = np.concatenate([c_ts, arr["ts_ms"]])
    val = np.concatenate([c_val, arr["value"]])
    order = np.lexsort((ts, sid))
    return pd.DataFrame({"series_id": sid[order], "ts_ms": ts[order], "value": val[order]})


def _result(df: pd.DataFrame, resolution: str, series: list[tuple[int, str]], match: Match) -> pd.DataFrame:
    df["resolution"] = resolution
    return _with_labels(df, series, match, extra=["resolution"])
