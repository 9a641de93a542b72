"""Batched sample writes: series registry, raw samples, the latest table and 1m/1h rollups in one transaction."""
from __future__ import annotations

import json
import math
import re
import sqlite3
from typing import Iterable, Mapping

from store import rollups
from store.db import transaction
from store.types import Sample

METRIC_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Label names that would collide with the columns of query results.
RESERVED_LABELS = frozenset({"series_id", "ts_ms", "value", "resolution", "metric"})
ENTITY_LABELS = ("group", "queue", "dlq", "consumer", "topic", "target")
GC_KEY = "series_gc_generation"
RAW_CUTOFF_KEY = "raw_cutoff_ms"

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def series_key(metric: str, labels: Mapping[str, str]) -> SeriesKey:
    """Validated identity of a series; errors name the metric and the offending label."""
    if not isinstance(metric, str) or not METRIC_RE.match(metric):
        raise ValueError(f"metric name {metric!r} is not <source>_<thing>_<unit> in lowercase snake_case")
    for name, value in labels.items():
        if not isinstance(name, str) or not LABEL_RE.match(name) or name in RESERVED_LABELS:
            raise ValueError(f"metric {metric}: label name {name!r} is invalid or reserved")
        if not isinstance(value, str):
            raise TypeError(f"metric {metric}: label {name!r} must be a str, got {type(value).__name__}")
    return metric, tuple(sorted(labels.items()))


def series_columns(key: SeriesKey) -> tuple[str, str, str, str, str]:
    """(metric, labels JSON, source, cluster, entity) of a series, as stored in the registry."""
    metric, items = key
    labels = dict(items)
    entity = next((labels[k] for k in ENTITY_LABELS if k in labels), "")
    return (metric, json.dumps(labels, sort_keys=True, separators=(",", ":")), metric.split("_", 1)[0],
            labels.get("cluster", ""), entity)


def _value(sample: Sample) -> float:
    v = sample.value
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"metric {sample.metric} {dict(sample.labels)}: value {v!r} is not a finite number "
                         "(unknown values must not be written)")
    if not isinstance(sample.ts_ms, int) or isinstance(sample.ts_ms, bool):
        raise TypeError(f"metric {sample.metric}: ts_ms must be int epoch milliseconds, got {sample.ts_ms!r}")
    return float(v)


class SampleWriter:
    """Writes batches of samples on a writer connection; caches series ids between batches.

    A (series, ts_ms) that is already stored is ignored (first write wins), so a retried batch never
    double-counts in the rollups; so is a sample older than the last raw retention cut-off.
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._ids: dict[SeriesKey, int] = {}
        self._gc_generation: int | None = None
        self._raw_cutoff_ms = 0

    def write(self, samples: Iterable[Sample]) -> int:
        """Store a batch in one transaction; returns the number of new samples stored."""
        batch = [(series_key(s.metric, s.labels), s.ts_ms, _value(s)) for s in samples]
        if not batch:
            return 0
        joined = self.conn.in_transaction
        with transaction(self.conn):
            self._read_meta()
            ids, new_ids = self._resolve({k for k, _, _ in batch})
            rows = self._new_rows([(ids[k], ts, v) for k, ts, v in batch])
            self._store(rows)
        if not joined:
            self._ids.update(new_ids)
        return len(rows)

    def _read_meta(self) -> None:
        """Pick up retention's cut-off and forget cached ids if retention removed series since."""
        meta = dict(self.conn.execute("SELECT key, value FROM store_meta WHERE key IN (?, ?)",
                                      (GC_KEY, RAW_CUTOFF_KEY)))
        self._raw_cutoff_ms = meta.get(RAW_CUTOFF_KEY, 0)
        generation = meta.get(GC_KEY, 0)
        if generation != self._gc_generation:
            self._ids.clear()
            self._gc_generation = generation

    def _resolve(self, keys: set[SeriesKey]) -> tuple[dict[SeriesKey, int], dict[SeriesKey, int]]:
        """Series ids for keys (registering new series); returns (all ids, ids not cached before)."""
        ids = {k: self._ids[k] for k in keys if k in self._ids}
        fresh: dict[SeriesKey, int] = {}
        for key in keys - ids.keys():
            cols = series_columns(key)
            row = self.conn.execute("SELECT id FROM series WHERE metric = ? AND labels = ?", cols[:2]).fetchone()
            if row is None:
                row = self.conn.execute("INSERT INTO series (metric, labels, source, cluster, entity) "
                                        "VALUES (?, ?, ?, ?, ?) RETURNING id", cols).fetchone()
            fresh[key] = row[0]
        ids.update(fresh)
        return ids, fresh

    def _new_rows(self, rows: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
        """Drop rows already stored, repeated in the batch (first one wins) or older than the raw cut-off."""
        unique: dict[tuple[int, int], float] = {}
        for sid, ts, v in rows:
            if ts >= self._raw_cutoff_ms:
                unique.setdefault((sid, ts), v)
        sids = list({sid for sid, _ in unique})
        newest = dict(self.conn.execute(
            "SELECT series_id, ts_ms FROM latest WHERE series_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sids),)))
        out = []
        for (sid, ts), v in unique.items():
            last = newest.get(sid)
            if last is not None and ts <= last and self.conn.execute(
                    "SELECT 1 FROM samples WHERE series_id = ? AND ts_ms = ?", (sid, ts)).fetchone():
                continue
            out.append((sid, ts, v))
        return out

    def _store(self, rows: list[tuple[int, int, float]]) -> None:
        c = self.conn
        c.executemany("INSERT INTO samples (series_id, ts_ms, value) VALUES (?, ?, ?)", rows)
        for table, width in rollups.TIERS.values():
            c.executemany(rollups.upsert_sql(table), rollups.deltas(rows, width))
        newest: dict[int, tuple[int, float]] = {}
        for sid, ts, v in rows:
            cur = newest.get(sid)
            if cur is None or ts >= cur[0]:
                newest[sid] = (ts, v)
        c.executemany(
            "INSERT INTO latest (series_id, ts_ms, value) VALUES (?, ?, ?) ON CONFLICT (series_id) DO UPDATE "
            "SET ts_ms = excluded.ts_ms, value = excluded.value WHERE excluded.ts_ms >= latest.ts_ms",
            [(sid, ts, v) for sid, (ts, v) in newest.items()])
