"""Sealing head rows into compressed chunks on a real SQLite store: queries answer the same before
and after (and against a brute-force computation), writers refuse closed windows, retention drops
whole chunks, a bad chunk is reported and skipped, and a store of the pre-chunk schema converts in
resumable batches while a reader keeps reading."""
from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import queries
from store import chunks
from store.chunks import DAY_MS, RAW_WINDOW_MS, WEEK_MS
from store.db import connect_reader, migrate, open_migrated
from store.retention import apply_retention
from store.rollups import HOUR_MS, MINUTE_MS
from store.seal import SEAL_GRACE_MS, due_horizon, seal_due
from store.types import Sample
from store.writes import SampleWriter, flush

T0 = 1_780_000_000_000 // DAY_MS * DAY_MS
LAG = "kafka_group_lag_messages"
STEP = 15_000


def lag(group: str, ts: int, value: float) -> Sample:
    return Sample(LAG, {"cluster": "a", "group": group}, ts, value)


@pytest.fixture(autouse=True)
def daily_hour_chunks(monkeypatch):
    """1-hour buckets packed per day instead of per week, so a day of data exercises them (the window
    is a parameter of sealing, queries and retention alike; test_weekly_hour_chunks uses the real one)."""
    monkeypatch.setitem(chunks.CHUNK_TABLES, "rollup_1h_chunks", (DAY_MS, "rollup_1h", "bucket_ms"))


def fill(w, groups: int, hours: float, start: int = T0, gap: int = 0) -> None:
    """Grid samples: value pattern differs per kind (gauge, counter, rate, percentile); every
    ``gap``-th cycle is missed (a rare gap on the grid)."""
    sw = SampleWriter(w)
    for k in range(int(hours * HOUR_MS // STEP)):
        if gap and k % gap == gap - 1:
            continue
        ts = start + k * STEP
        sw.write([lag(f"g{i}", ts, [float((k * 7 + i) % 50), float(10**6 + k * 13 + i), (k % 40) / 15.0,
                                    1.0202 ** (-150 + k % 7)][i % 4]) for i in range(groups)])


def counts(w) -> dict[str, int]:
    return {t: w.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("samples", "samples_recent", "rollup_1m", "rollup_1h", "sample_chunks", "rollup_1h_chunks")}


QUERIES = [  # (start offset, end offset, max_points, agg): raw, 1m, 1h and k-hour shapes, partial windows
    (0, 27 * HOUR_MS - 1, 10**6, "avg"),
    (5 * MINUTE_MS + 7, 9 * HOUR_MS + 1, 10**6, "avg"),
    (0, 27 * HOUR_MS - 1, 2000, "avg"),
    (HOUR_MS + 1, 7 * HOUR_MS, 400, "max"),
    (HOUR_MS + 1, 7 * HOUR_MS, 400, "min"),
    (0, 27 * HOUR_MS - 1, 2000, "last"),
    (0, 27 * HOUR_MS - 1, 2000, "count"),
    (0, 27 * HOUR_MS - 1, 2000, "sum"),
    (3 * HOUR_MS, 26 * HOUR_MS, 30, "avg"),
    (0, 27 * HOUR_MS - 1, 5, "last"),
    (0, 27 * HOUR_MS - 1, 4, "max"),
]


def run_queries(r, match=None) -> list[pd.DataFrame]:
    return [queries.range_query(r, LAG, match, T0 + a, T0 + b, max_points=m, agg=agg) for a, b, m, agg in QUERIES]


def assert_same(before: list[pd.DataFrame], after: list[pd.DataFrame]) -> None:
    for q, b, a in zip(QUERIES, before, after):
        assert a.attrs["bad_chunks"] == [], q
        assert list(a.columns) == list(b.columns) and set(a["resolution"]) == set(b["resolution"]), q
        # everything exact; a bucket's float sum may be added in another order (avg, sum)
        pd.testing.assert_frame_equal(b.drop(columns="value"), a.drop(columns="value"), obj=str(q))
        if q[3] in ("avg", "sum"):
            assert np.allclose(a["value"], b["value"], rtol=1e-12, atol=0), q
        else:
            assert a["value"].tolist() == b["value"].tolist(), q


@pytest.mark.parametrize("gap", [0, 37])
def test_queries_answer_the_same_before_and_after_sealing(store, gap):
    w, r = store
    fill(w, 8, 27, gap=gap)
    flush(w)  # sealing flushes first; a flush alone already changes a rollup bucket cut by end_ms
    before = run_queries(r)
    stats = seal_due(w, T0 + 27 * HOUR_MS)
    assert stats.done and stats.horizon_ms == due_horizon(T0 + 27 * HOUR_MS) == T0 + 26 * HOUR_MS
    c = counts(w)
    assert c["sample_chunks"] == 8 * 13 and c["rollup_1h_chunks"] == 8  # 13 closed 2 h windows, 1 closed day
    written = sum(1 for k in range(27 * HOUR_MS // STEP) if not gap or k % gap != gap - 1)
    left = sum(1 for k in range(26 * HOUR_MS // STEP, 27 * HOUR_MS // STEP) if not gap or k % gap != gap - 1)
    assert c["samples"] == 8 * left and c["samples"] + stats.samples == 8 * written
    assert w.execute("SELECT min(ts_ms) FROM samples").fetchone()[0] == T0 + 26 * HOUR_MS
    assert w.execute("SELECT min(bucket_ms) FROM rollup_1m").fetchone()[0] >= stats.horizon_ms
    assert stats.samples == w.execute("SELECT sum(n) FROM sample_chunks").fetchone()[0]
    assert_same(before, run_queries(r))
    # sealing again finds nothing new; a later call seals the next window
    assert seal_due(w, T0 + 27 * HOUR_MS).chunks == 0
    assert_same(before, run_queries(r))


def test_a_store_sealed_while_ingesting_answers_as_the_row_store(tmp_path):
    """The same batches into a row store and into one sealed every 2 h of sample time, as the service
    does; staged rows left in both. Every query shape answers the same (ends on bucket edges: a
    rollup bucket cut by end_ms already depends on when staged rows were flushed, sealing or not)."""
    rows_w, sealed_w = open_migrated(tmp_path / "rows.db"), open_migrated(tmp_path / "sealed.db")
    writers = (SampleWriter(rows_w), SampleWriter(sealed_w))
    for k in range(27 * HOUR_MS // STEP + 7):
        ts = T0 + k * STEP
        batch = [lag(f"g{i}", ts, float((k * 7 + i) % 50) / (1 + i % 3)) for i in range(6)]
        for sw in writers:
            sw.write(batch)
        if ts % RAW_WINDOW_MS == SEAL_GRACE_MS:
            seal_due(sealed_w, ts)
    assert counts(sealed_w)["sample_chunks"] == 6 * 13 and counts(sealed_w)["samples_recent"] > 0
    end = T0 + 27 * HOUR_MS + 7 * STEP
    shapes = [(a, e, m, agg) for a, e in ((0, end), (3 * HOUR_MS + 1, T0 + 26 * HOUR_MS - 1), (25 * HOUR_MS, end))
              for m, agg in ((10**6, "avg"), (2000, "avg"), (400, "max"), (400, "last"), (30, "sum"),
                             (30, "count"), (5, "min"), (3, "last"))]
    readers = [connect_reader(tmp_path / "rows.db"), connect_reader(tmp_path / "sealed.db")]
    for a, e, m, agg in shapes:
        want, got = (queries.range_query(r, LAG, None, T0 + a, e - 1 if e == end else e, max_points=m, agg=agg)
                     for r in readers)
        assert got.attrs["bad_chunks"] == []
        pd.testing.assert_frame_equal(want, got, check_exact=agg not in ("avg", "sum"), rtol=1e-12,
                                      obj=f"{(a, e, m, agg)}")


def test_weekly_hour_chunks(store, monkeypatch):
    monkeypatch.undo()  # the real window
    assert chunks.CHUNK_TABLES["rollup_1h_chunks"][0] == WEEK_MS
    w, r = store
    start = T0 // WEEK_MS * WEEK_MS
    sw = SampleWriter(w)
    for day in range(9):  # one sample a minute for 9 days, a day per batch
        sw.write([lag("g", start + day * DAY_MS + m * MINUTE_MS, float(m % 17)) for m in range(1440)])
    flush(w)
    cases = [(start + a, start + 9 * DAY_MS - 1, mp, agg) for a in (0, 5 * DAY_MS + 1)
             for mp, agg in ((300, "avg"), (300, "last"), (1000, "count"), (50, "max"))]
    before = [queries.range_query(r, LAG, None, *c[:2], max_points=c[2], agg=c[3]) for c in cases]
    seal_due(w, start + 9 * DAY_MS)
    assert w.execute("SELECT t_start, t_end, n FROM rollup_1h_chunks").fetchall() == \
        [(start, start + WEEK_MS, 7 * 24)]
    assert w.execute("SELECT min(bucket_ms) FROM rollup_1h").fetchone()[0] == start + WEEK_MS
    for c, b in zip(cases, before):
        a = queries.range_query(r, LAG, None, *c[:2], max_points=c[2], agg=c[3])
        assert set(a["resolution"]) == set(b["resolution"]) and "1m" not in set(a["resolution"])
        pd.testing.assert_frame_equal(b, a, check_exact=False, rtol=1e-12)


def test_queries_of_a_subset_agree_with_the_full_answer(store):
    w, r = store
    fill(w, 6, 27)
    seal_due(w, T0 + 27 * HOUR_MS)
    for full, part in zip(run_queries(r), run_queries(r, {"group": ["g1", "g4"]})):
        want = full[full["group"].isin(["g1", "g4"])].reset_index(drop=True)
        if set(full["resolution"]) == set(part["resolution"]):
            pd.testing.assert_frame_equal(want, part.reset_index(drop=True), check_exact=False, rtol=1e-12)


def test_raw_answer_equals_brute_force_after_sealing(store):
    w, r = store
    sw = SampleWriter(w)
    rng = np.random.default_rng(3)
    want = {}
    for k in range(2000):  # irregular millisecond timestamps, several series, out of order inside a batch
        batch = []
        for g in ("x", "y"):
            ts = T0 + k * 20_000 + int(rng.integers(0, 19_999))
            v = float(rng.normal())
            want.setdefault((g, ts), v)
            batch.append(lag(g, ts, v))
        sw.write(batch[::-1])
    seal_due(w, T0 + 12 * HOUR_MS)
    assert counts(w)["sample_chunks"] > 0 and counts(w)["samples"] > 0
    df = queries.range_query(r, LAG, None, T0, T0 + 2000 * 20_000, max_points=10**6)
    got = {(g, ts): v for g, ts, v in zip(df["group"], df["ts_ms"], df["value"])}
    assert got == want
    assert df.groupby("series_id")["ts_ms"].apply(lambda s: s.is_monotonic_increasing).all()


def test_latest_and_top_n_are_unchanged_by_sealing(store):
    w, r = store
    fill(w, 4, 5)
    before = (queries.latest(r, LAG), queries.top_n(r, LAG, 2))
    seal_due(w, T0 + 5 * HOUR_MS + SEAL_GRACE_MS)
    pd.testing.assert_frame_equal(before[0], queries.latest(r, LAG))
    pd.testing.assert_frame_equal(before[1], queries.top_n(r, LAG, 2))


def test_writer_refuses_samples_of_a_sealed_window(store):
    w, r = store
    fill(w, 1, 3)
    stats = seal_due(w, T0 + 3 * HOUR_MS)
    assert stats.horizon_ms == T0 + 2 * HOUR_MS
    sw = SampleWriter(w)
    # a late sample for the closed window would be a second copy or a changed rollup: refused
    assert sw.write([lag("g0", T0 + 1, 5.0), lag("g0", T0 + 2 * HOUR_MS - 1, 5.0)]) == 0
    assert sw.write([lag("g0", T0 + 2 * HOUR_MS + 1, 5.0)]) == 1
    df = queries.range_query(r, LAG, None, T0, T0 + 3 * HOUR_MS, max_points=10**6)
    assert len(df) == 3 * HOUR_MS // STEP + 1 and df["ts_ms"].is_unique


def test_sealing_is_resumable_in_batches(store):
    w, r = store
    fill(w, 10, 5)
    flush(w)
    before = run_queries(r)
    stats = seal_due(w, T0 + 5 * HOUR_MS, batch_series=3, max_batches=2)
    assert not stats.done and stats.batches == 2
    assert w.execute("SELECT count(DISTINCT series_id) FROM sample_chunks").fetchone()[0] == 6
    assert_same(before, run_queries(r))  # half-sealed reads the same
    stats = seal_due(w, T0 + 5 * HOUR_MS, batch_series=3)
    assert stats.done and w.execute("SELECT count(DISTINCT series_id) FROM sample_chunks").fetchone()[0] == 10
    assert_same(before, run_queries(r))


def test_a_chunk_that_does_not_decode_is_reported_and_skipped(store, caplog):
    w, r = store
    fill(w, 2, 5)
    seal_due(w, T0 + 5 * HOUR_MS)
    sid, t_start = w.execute("SELECT series_id, t_start FROM sample_chunks ORDER BY series_id, t_start").fetchone()
    w.execute("UPDATE sample_chunks SET data = ? WHERE series_id = ? AND t_start = ?", (b"\x01\x02\x03\x04\x05", sid, t_start))
    df = queries.range_query(r, LAG, None, T0, T0 + 5 * HOUR_MS, max_points=10**6)
    (bad,) = df.attrs["bad_chunks"]
    assert (bad.table, bad.series_id, bad.t_start, bad.t_end) == ("sample_chunks", sid, t_start, t_start + RAW_WINDOW_MS)
    assert f"series {sid}, window [{t_start}, {t_start + RAW_WINDOW_MS})" in caplog.text
    per_series = df.groupby("series_id").size().to_dict()
    assert per_series[sid] == 5 * HOUR_MS // STEP - RAW_WINDOW_MS // STEP  # only the bad window is missing
    # the 1-minute view (computed from raw chunks) skips it the same way
    m1 = queries.range_query(r, LAG, None, T0, T0 + 5 * HOUR_MS, max_points=400, agg="count")
    assert set(m1["resolution"]) == {"1m"} and len(m1.attrs["bad_chunks"]) == 1
    assert m1.groupby("series_id")["value"].sum().to_dict()[sid] == per_series[sid]


def test_retention_deletes_whole_chunks(store):
    w, r = store
    fill(w, 2, 10)
    seal_due(w, T0 + 10 * HOUR_MS)
    now = T0 + 10 * HOUR_MS
    deleted = apply_retention(w, now, raw_ms=5 * HOUR_MS, m1_ms=DAY_MS, h1_ms=DAY_MS)
    # the cut-off (T0 + 5 h) falls inside the window [4 h, 6 h): two windows go, that one stays whole
    assert deleted["sample_chunks"] == 2 * 2
    assert w.execute("SELECT min(t_start) FROM sample_chunks").fetchone()[0] == T0 + 4 * HOUR_MS
    assert w.execute("SELECT min(n) FROM sample_chunks").fetchone()[0] == RAW_WINDOW_MS // STEP
    # the 1-minute view of sealed windows comes from raw chunks: its cut-off follows the raw one
    assert w.execute("SELECT value FROM store_meta WHERE key = 'm1_cutoff_ms'").fetchone()[0] == now - 5 * HOUR_MS
    df = queries.range_query(r, LAG, None, now - 5 * HOUR_MS, now, max_points=10**6)
    assert set(df["resolution"]) == {"raw"} and df["ts_ms"].min() == now - 5 * HOUR_MS
    df = queries.range_query(r, LAG, None, now - 7 * HOUR_MS, now, max_points=400)
    assert set(df["resolution"]) == {"1h"}
    # a series whose chunks all expired is removed from the registry
    deleted = apply_retention(w, T0 + 40 * DAY_MS, raw_ms=HOUR_MS, m1_ms=HOUR_MS, h1_ms=HOUR_MS)
    assert deleted["series"] == 2 and counts(w)["sample_chunks"] == counts(w)["rollup_1h_chunks"] == 0


sample_sets = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 30 * HOUR_MS // 1000),
                                 st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)),
                       min_size=1, max_size=80)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample_sets, st.lists(st.integers(0, 30 * HOUR_MS), min_size=1, max_size=3))
def test_any_seal_points_keep_every_sample_exactly_once(samples, seal_at):
    """Samples in any order, sealed at any times: each accepted sample is in head rows or in exactly one
    chunk, and the raw answer equals the accepted samples (first write wins)."""
    with tempfile.TemporaryDirectory() as tmp:
        w = open_migrated(Path(tmp) / "s.db")
        sw = SampleWriter(w)
        accepted: dict[tuple[str, int], float] = {}
        order = sorted(seal_at)
        for g, s, v in samples:
            while order and order[0] <= s * 1000:
                seal_due(w, T0 + order.pop(0))
            ts = T0 + s * 1000
            horizon = w.execute("SELECT coalesce(max(value), 0) FROM store_meta WHERE key = 'sealed_until_ms'")
            if sw.write([lag(f"g{g}", ts, float(v))]):
                assert ts >= horizon.fetchone()[0]
                accepted.setdefault((f"g{g}", ts), float(v))
        seal_due(w, T0 + 40 * HOUR_MS)
        df = queries.range_query(w, LAG, None, T0, T0 + 40 * HOUR_MS, max_points=10**6)
        assert {(g, t): v for g, t, v in zip(df["group"], df["ts_ms"], df["value"])} == accepted
        assert counts(w)["samples"] == 0
        assert w.execute("SELECT sum(n) FROM sample_chunks").fetchone()[0] == len(accepted)
        w.close()


def test_a_store_of_the_pre_chunk_schema_converts_in_batches_while_a_reader_reads(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode = WAL")
    old.execute("PRAGMA synchronous = NORMAL")
    migrate(old, upto=59)  # today's schema, before chunks
    assert "sample_chunks" not in {n for (n,) in old.execute("SELECT name FROM sqlite_master")}
    fill(old, 12, 30)  # rows in samples, rollups and samples_recent, as the old writer leaves them
    staged = old.execute("SELECT count(*) FROM samples_recent").fetchone()[0]
    assert staged > 0 and old.execute("SELECT count(*) FROM samples").fetchone()[0] > 0
    old.close()

    w = open_migrated(path)  # the collector service at start: migrations, then the seal job
    r = connect_reader(path)
    flush(w)
    before = run_queries(r)
    now = T0 + 30 * HOUR_MS
    runs = 0
    while True:  # each call stops after one batch, as if the service were stopped between batches
        stats = seal_due(w, now, batch_series=5, max_batches=1)
        runs += 1
        if runs % 4 == 1 or stats.done:  # the reader sees the same answers part-way and at the end
            assert_same(before, run_queries(r))
        if stats.done:
            break
    assert runs == 3 * 7  # 12 series in batches of 5, 14 closed windows two at a time
    c = counts(w)
    assert c["samples_recent"] == 0 and c["sample_chunks"] == 12 * 14
    assert w.execute("SELECT min(ts_ms) FROM samples").fetchone()[0] >= now - SEAL_GRACE_MS - RAW_WINDOW_MS
    assert w.execute("SELECT count(*) FROM samples").fetchone()[0] + \
        w.execute("SELECT sum(n) FROM sample_chunks").fetchone()[0] == 12 * 30 * HOUR_MS // STEP
    assert w.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_rows_found_for_a_sealed_window_are_merged_into_its_chunk(store):
    """Defensive path (the writer refuses such rows): rows below the horizon whose window has a chunk
    are merged into it, the chunk's value winning for a repeated timestamp; an unreadable chunk is
    left alone and the rows stay rows."""
    w, r = store
    fill(w, 2, 3)
    seal_due(w, T0 + 3 * HOUR_MS)
    (a, b) = [sid for (sid,) in w.execute("SELECT id FROM series ORDER BY id")]
    w.execute("UPDATE sample_chunks SET data = ? WHERE series_id = ?", (b"\x00", b))
    w.executemany("INSERT INTO samples (series_id, ts_ms, value) VALUES (?, ?, ?)",
                  [(a, T0 + 7, 70.0), (a, T0, -1.0), (b, T0 + 7, 70.0)])
    stats = seal_due(w, T0 + 3 * HOUR_MS)
    assert stats.kept_rows == 1 and stats.samples == 2
    df = queries.range_query(r, LAG, {"group": "g0"}, T0, T0 + 20_000, max_points=100)
    assert df[["ts_ms", "value"]].values.tolist() == [[T0, 0.0], [T0 + 7, 70.0], [T0 + 15_000, 7.0]]
    assert w.execute("SELECT n FROM sample_chunks WHERE series_id = ?", (a,)).fetchone()[0] == \
        RAW_WINDOW_MS // STEP + 1
    assert w.execute("SELECT series_id, ts_ms FROM samples WHERE ts_ms < ?", (T0 + HOUR_MS,)).fetchall() == \
        [(b, T0 + 7)]
