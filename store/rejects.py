"""Rejected inputs in the store: the cumulative counter series and the last examples per source.

``flush`` adds a recorder's drained counts to the latest stored totals of
``eventdeck_rejected_inputs_total{source,reason}`` (a Prometheus-style counter that survives
restarts) and keeps the newest :data:`KEEP_PER_SOURCE` examples of each source.
"""
from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Mapping

import pandas as pd

from core.rejects import METRIC
from store import queries
from store.db import transaction
from store.types import Sample
from store.writes import SampleWriter

KEEP_PER_SOURCE = 20


def totals(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[float, int]]:
    """The stored cumulative count per (source, reason), with the time of its latest sample."""
    df = queries.latest(conn, METRIC)
    if df.empty:
        return {}
    return {(str(r["source"]), str(r["reason"])): (float(r["value"]), int(r["ts_ms"])) for r in df.to_dict("records")}


def flush(conn: sqlite3.Connection, counts: Mapping[tuple[str, str], int], examples: Iterable[Any],
          now_ms: int, writer: SampleWriter | None = None) -> int:
    """Add ``counts`` to the stored totals (one sample per touched (source, reason) at ``now_ms``) and store
    the ``examples`` (objects with source, reason, ts_ms, text); returns the samples written."""
    examples = list(examples)
    if not counts and not examples:
        return 0
    writer = writer or SampleWriter(conn)
    with transaction(conn):
        before = totals(conn)
        samples = []
        for (s, r), n in sorted(counts.items()):
            total, last_ms = before.get((s, r), (0.0, now_ms - 1))
            # A second flush in the same millisecond moves 1 ms on: the store keeps the first sample of a ts.
            samples.append(Sample(METRIC, {"source": s, "reason": r}, max(now_ms, last_ms + 1), total + n))
        written = writer.write(samples) if samples else 0
        conn.executemany("INSERT INTO rejected_examples (ts_ms, source, reason, text) VALUES (?, ?, ?, ?)",
                         [(e.ts_ms, e.source, e.reason, e.text) for e in examples])
        for source in {e.source for e in examples}:
            conn.execute("DELETE FROM rejected_examples WHERE source = ? AND id NOT IN (SELECT id FROM "
                         "rejected_examples WHERE source = ? ORDER BY id DESC LIMIT ?)",
                         (source, source, KEEP_PER_SOURCE))
    return written


def recent_examples(conn: sqlite3.Connection, limit: int = 50) -> pd.DataFrame:
    """The newest examples, newest first: ts_ms, source, reason, text."""
    rows = conn.execute("SELECT ts_ms, source, reason, text FROM rejected_examples ORDER BY id DESC LIMIT ?",
                        (int(limit),)).fetchall()
    return pd.DataFrame.from_records(rows, columns=["ts_ms", "source", "reason", "text"])


def flush_recorder(conn: sqlite3.Connection, rejects: Any, now_ms: int, writer: SampleWriter | None = None) -> int:
    """Drain a ``core.rejects.Rejects`` into the store; what a failed write drained is put back."""
    counts, examples = rejects.drain()
    try:
        return flush(conn, counts, examples, now_ms, writer)
    except BaseException:
        rejects.restore(counts, examples)
        raise
