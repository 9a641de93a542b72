"""Rejection accounting: counts per (source, reason) slug, clipped examples, the cumulative stored counter."""
from __future__ import annotations

import pytest

from core.rejects import EXAMPLE_CHARS, METRIC, OTHER, Rejects, clip, slug
from store import queries
from store import rejects as store_rejects
from store.db import open_migrated


@pytest.mark.parametrize("reason, expected", [
    ("not_json", "not_json"), ("bad_sketch", "bad_sketch"), ("Not JSON: x", OTHER), ("", OTHER),
    ("a" * 49, OTHER), (None, OTHER),
])
def test_reasons_are_slugs_never_free_text(reason, expected):
    assert slug(reason) == expected


@pytest.mark.parametrize("text, expected", [
    (b"\xff\xfeabc", "\ufffd\ufffdabc"), ("a\nb\x00c", "a b c"), ("x" * 500, "x" * (EXAMPLE_CHARS - 1) + "…"),
    (12, "12"),
])
def test_examples_are_one_printable_clipped_line(text, expected):
    assert clip(text) == expected


def test_counts_per_source_and_reason_and_unknown_sources_are_other():
    r = Rejects(keep=2)
    for _ in range(3):
        r.record("telemetry", "not_json", b"{", 1)
    r.record("nonsense", "bad header!", "x", 2)
    counts, examples = r.drain()
    assert counts == {("telemetry", "not_json"): 3, (OTHER, OTHER): 1}
    assert [(e.source, e.reason, e.ts_ms) for e in examples] == [("telemetry", "not_json", 1), (OTHER, OTHER, 2)]
    assert r.drain() == ({}, [])


def test_flush_accumulates_a_counter_across_flushes_and_keeps_the_last_examples(store_location):
    conn = open_migrated(store_location)
    r = Rejects()
    r.record("telemetry", "not_json", "first", 1000)
    r.record("telemetry", "not_json", "second", 1000)
    assert store_rejects.flush_recorder(conn, r, 1000) == 1
    for i in range(store_rejects.KEEP_PER_SOURCE + 5):
        r.record("telemetry", "not_json", f"more {i}", 2000)
    store_rejects.flush_recorder(conn, r, 2000)
    df = queries.latest(conn, METRIC)
    assert df[["source", "reason", "value"]].values.tolist() == [["telemetry", "not_json",
                                                                  2.0 + store_rejects.KEEP_PER_SOURCE + 5]]
    ex = store_rejects.recent_examples(conn, 100)
    assert len(ex) <= store_rejects.KEEP_PER_SOURCE and ex["text"].iloc[0].startswith("more")
    assert store_rejects.flush_recorder(conn, r, 3000) == 0  # nothing pending: nothing written
    conn.close()


def test_a_failed_flush_puts_the_counts_back():
    r = Rejects()
    r.record("silence", "invalid", "x", 1)

    class Broken:
        in_transaction = False

        def execute(self, *a):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store_rejects.flush_recorder(Broken(), r, 1)
    assert r.pending() == 1


def test_a_refused_replay_request_is_counted(store_location):
    from dlq import api
    from dlq.plan import RequestError

    conn = open_migrated(store_location)
    for bad in ({"broker": "kafka", "cluster": "k", "dlq": "d", "rate_per_s": float("nan")},
                {"broker": "kafka", "cluster": "k", "dlq": "d", "selection": {"mode": "picked", "coords": [1, 2]}}):
        with pytest.raises(RequestError):
            api.enqueue_replay(conn, bad, "op", 5_000)
    df = queries.latest(conn, METRIC)
    assert df[["source", "reason", "value"]].values.tolist() == [["replay_request", "invalid", 2.0]]
    conn.close()
