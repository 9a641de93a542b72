"""Read API (use a reader connection): pandas DataFrames with one column per label.

``match`` is ``{label: value or [values]}``; a series lacking the label does not match.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Mapping, Sequence

import pandas as pd

from store.rollups import plan_rollup
from store.writes import LABEL_RE

Match = Mapping[str, "str | Sequence[str]"] | None

# Value of one output point from the rollup rows of its bucket, per aggregation.
GROUP_AGG = {"avg": "sum(sum_v) / sum(cnt)", "min": "min(min_v)", "max": "max(max_v)", "sum": "sum(sum_v)",
             "count": "sum(cnt)", "last": "last_v"}  # 'last' is the bare column picked by max(last_ts_ms)
_BASE = ["series_id", "ts_ms", "value"]


def _match_sql(match: Match) -> tuple[str, list]:
    """SQL conditions on ``series.labels`` for a label matcher; errors name the label."""
    sql, params = [], []
    for name, wanted in (match or {}).items():
        if not isinstance(name, str) or not LABEL_RE.match(name):
            raise ValueError(f"match: label name {name!r} is invalid")
        values = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(values, (list, tuple, set, frozenset)) or not all(isinstance(v, str) for v in values):
            raise TypeError(f"match: values of label {name!r} must be str, got {wanted!r}")
        if not values:
            sql.append("0")
            continue
        sql.append(f"json_extract(s.labels, ?) IN ({', '.join('?' * len(values))})")
        params += [f"$.{name}", *sorted(values)]
    return "".join(f" AND {c}" for c in sql), params


def _series(conn: sqlite3.Connection, metric: str, match: Match) -> list[tuple[int, str]]:
    where, params = _match_sql(match)
    return conn.execute(f"SELECT s.id, s.labels FROM series s WHERE s.metric = ?{where} ORDER BY s.id",
                        [metric, *params]).fetchall()


def _with_labels(df: pd.DataFrame, series: list[tuple[int, str]], match: Match,
                 extra: Sequence[str] = ()) -> pd.DataFrame:
    """Append one column per label (sorted; None where a series lacks it) after the base columns.

    The labels of ``match`` always get a column, so an empty result still has them."""
    labels = pd.DataFrame.from_records([json.loads(lab) for _, lab in series])
    names = sorted(set(labels.columns) | set(match or ()))
    labels = labels.reindex(columns=names)
    labels.insert(0, "series_id", [sid for sid, _ in series])
    out = df.merge(labels, on="series_id", how="left", sort=False) if len(df) else \
        pd.DataFrame(columns=[*df.columns, *names])
    return out[[*_BASE, *names, *extra]]


def _frame(rows: list[tuple], columns: Sequence[str] = _BASE) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=list(columns))
    return df.astype({"series_id": "int64", "ts_ms": "int64", "value": "float64"})


def latest(conn: sqlite3.Connection, metric: str, match: Match = None) -> pd.DataFrame:
    """Latest value of every matching series: series_id, ts_ms, value, labels..."""
    return _latest(conn, metric, match, "ORDER BY s.id", ())


def top_n(conn: sqlite3.Connection, metric: str, n: int, match: Match = None) -> pd.DataFrame:
    """The ``n`` matching series with the highest latest value, highest first."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"top_n: n must be a positive int, got {n!r}")
    return _latest(conn, metric, match, "ORDER BY l.value DESC, s.id LIMIT ?", (n,))


def _latest(conn: sqlite3.Connection, metric: str, match: Match, tail: str, tail_params: tuple) -> pd.DataFrame:
    where, params = _match_sql(match)
    rows = conn.execute(
        f"SELECT l.series_id, l.ts_ms, l.value, s.labels FROM latest l JOIN series s ON s.id = l.series_id "
        f"WHERE s.metric = ?{where} {tail}", [metric, *params, *tail_params]).fetchall()
    df = _frame([r[:3] for r in rows])
    return _with_labels(df, [(r[0], r[3]) for r in rows], match).reset_index(drop=True)


def metrics(conn: sqlite3.Connection) -> pd.DataFrame:
    """Every metric in the registry: metric, source, series (number of series)."""
    rows = conn.execute("SELECT metric, min(source), count(*) FROM series GROUP BY metric ORDER BY metric").fetchall()
    return pd.DataFrame.from_records(rows, columns=["metric", "source", "series"])


def _cutoffs(conn: sqlite3.Connection) -> dict[str, int]:
    """Oldest timestamp each tier still fully holds (set by retention; 0 before the first run)."""
    meta = dict(conn.execute("SELECT key, value FROM store_meta WHERE key LIKE '%_cutoff_ms'"))
    return {k: meta.get(f"{k}_cutoff_ms", 0) for k in ("raw", "m1", "h1")}


# Staged samples (samples_recent) not yet moved into samples; a staged duplicate of a stored
# sample is ignored, as the next flush will drop it.
_STAGED = ("SELECT series_id, ts_ms, value FROM samples_recent r WHERE {ids} AND ts_ms BETWEEN ? AND ? "
           "AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.series_id = r.series_id AND s.ts_ms = r.ts_ms)")
_IN_IDS = "series_id IN (SELECT value FROM json_each(?))"


def _raw_fits(conn: sqlite3.Connection, ids: list[int], start_ms: int, end_ms: int, max_points: int) -> bool:
    """True if no series has more than max_points raw samples in range (counting stops early)."""
    staged = dict(conn.execute(f"SELECT series_id, count(*) FROM samples_recent WHERE {_IN_IDS} "
                               "AND ts_ms BETWEEN ? AND ? GROUP BY series_id", (json.dumps(ids), start_ms, end_ms)))
    sql = "SELECT count(*) FROM (SELECT 1 FROM samples WHERE series_id = ? AND ts_ms BETWEEN ? AND ? LIMIT ?)"
    return all(conn.execute(sql, (sid, start_ms, end_ms, max_points + 1)).fetchone()[0] + staged.get(sid, 0)
               <= max_points for sid in ids)


def range_query(conn: sqlite3.Connection, metric: str, match: Match, start_ms: int, end_ms: int,
                max_points: int = 2000, agg: str = "avg") -> pd.DataFrame:
    """Matching series over [start_ms, end_ms]: series_id, ts_ms, value, labels..., resolution.

    Raw samples when every series has <= max_points of them in range and raw retention covers the
    start; else 1-minute rollups, else 1-hour rollups (grouped into k-hour buckets if needed).
    ``agg`` (avg, min, max, sum, count, last) combines a bucket's samples; ts_ms is the bucket start.
    """
    if agg not in GROUP_AGG:
        raise ValueError(f"range_query: agg {agg!r} is not one of {sorted(GROUP_AGG)}")
    if not isinstance(max_points, int) or max_points < 1:
        raise ValueError(f"range_query: max_points must be a positive int, got {max_points!r}")
    if end_ms < start_ms:
        raise ValueError(f"range_query: end_ms {end_ms} is before start_ms {start_ms}")
    series = _series(conn, metric, match)
    ids = json.dumps([sid for sid, _ in series])
    cut = _cutoffs(conn)
    staged = _STAGED.format(ids=_IN_IDS)
    if series and start_ms >= cut["raw"] and _raw_fits(conn, [s for s, _ in series], start_ms, end_ms, max_points):
        resolution = "raw"
        sql = (f"SELECT series_id, ts_ms, value FROM samples WHERE {_IN_IDS} AND ts_ms BETWEEN ? AND ? "
               f"UNION ALL {staged} ORDER BY 1, 2")
        params: tuple = (ids, start_ms, end_ms, ids, start_ms, end_ms)
    else:
        table, width, resolution = plan_rollup(start_ms, end_ms, max_points, start_ms >= cut["m1"])
        lo, hi = start_ms // width * width, end_ms
        last = ", max(last_ts_ms)" if agg == "last" else ""
        # Rollup rows plus staged samples (each a one-sample bucket), grouped into buckets of `width`.
        sql = (f"SELECT series_id, bucket_ms / {width} * {width} AS b, {GROUP_AGG[agg]}{last} FROM ("
               f"SELECT series_id, bucket_ms, min_v, max_v, sum_v, cnt, last_ts_ms, last_v FROM {table} "
               f"WHERE {_IN_IDS} AND bucket_ms BETWEEN ? AND ? UNION ALL "
               f"SELECT series_id, ts_ms, value, value, value, 1, ts_ms, value FROM ({staged})) "
               "GROUP BY series_id, b ORDER BY series_id, b")
        params = (ids, lo, hi, ids, lo, hi)
    df = _frame([r[:3] for r in conn.execute(sql, params)])
    df["resolution"] = resolution
    return _with_labels(df, series, match, extra=["resolution"])
