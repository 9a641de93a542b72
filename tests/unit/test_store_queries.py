"""Writes and queries on a real SQLite store: round trips, label filters, resolution choice,
rollups against a brute-force computation, duplicates."""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import queries, writes
from store.db import open_migrated
from store.rollups import HOUR_MS, MINUTE_MS
from store.types import Sample
from store.writes import SampleWriter, flush

T0 = 1_780_000_000_000 // HOUR_MS * HOUR_MS
LAG = "kafka_group_lag_messages"


def lag(group: str, ts: int, value: float, cluster: str = "a", topic: str = "t") -> Sample:
    return Sample(LAG, {"cluster": cluster, "group": group, "topic": topic}, ts, value)


def test_round_trip_latest_range_top_and_metrics(store):
    w, r = store
    sw = SampleWriter(w)
    assert sw.write([lag("g1", T0, 5.0), lag("g2", T0, 7.0), lag("g3", T0, 1.0, cluster="b")]) == 3
    assert sw.write([lag("g1", T0 + 15_000, 6.0)]) == 1
    assert sw.write([]) == 0
    df = queries.latest(r, LAG)
    assert list(df.columns) == ["series_id", "ts_ms", "value", "cluster", "group", "topic"]
    got = df.set_index("group")[["ts_ms", "value", "cluster"]].to_dict("index")
    assert got == {"g1": {"ts_ms": T0 + 15_000, "value": 6.0, "cluster": "a"},
                   "g2": {"ts_ms": T0, "value": 7.0, "cluster": "a"},
                   "g3": {"ts_ms": T0, "value": 1.0, "cluster": "b"}}
    rng = queries.range_query(r, LAG, {"group": "g1"}, T0, T0 + 60_000)
    assert list(rng.columns) == ["series_id", "ts_ms", "value", "cluster", "group", "topic", "resolution"]
    assert rng[["ts_ms", "value"]].values.tolist() == [[T0, 5.0], [T0 + 15_000, 6.0]]
    assert set(rng["resolution"]) == {"raw"}
    assert queries.top_n(r, LAG, 2)["group"].tolist() == ["g2", "g1"]
    m = queries.metrics(r)
    assert m.to_dict("records") == [{"metric": LAG, "source": "kafka", "series": 3}]


@pytest.mark.parametrize("match, want", [
    (None, ["g1", "g2", "g3", "g4"]),                    # no matcher: every series of the metric
    ({"cluster": "a"}, ["g1", "g2"]),                    # one value
    ({"group": ["g1", "g3"]}, ["g1", "g3"]),             # a list of values is an IN
    ({"cluster": "a", "topic": "u"}, ["g2"]),            # several labels are ANDed
    ({"group": []}, []),                                 # empty list matches nothing
    ({"partition": "0"}, ["g4"]),                        # series lacking the label do not match
    ({"group": "zzz"}, []),                              # unknown value
])
def test_label_filters(store, match, want):
    w, r = store
    SampleWriter(w).write([
        lag("g1", T0, 1.0), lag("g2", T0, 2.0, topic="u"), lag("g3", T0, 3.0, cluster="b"),
        Sample(LAG, {"cluster": "b", "group": "g4", "topic": "t", "partition": "0"}, T0, 4.0)])
    assert queries.latest(r, LAG, match)["group"].tolist() == want
    assert sorted(queries.range_query(r, LAG, match, T0, T0 + 1)["group"].unique()) == want
    assert sorted(queries.top_n(r, LAG, 10, match)["group"]) == want


def test_query_argument_errors_name_the_argument(store):
    _, r = store
    with pytest.raises(ValueError, match="bad name"):
        queries.latest(r, LAG, {"bad name": "x"})
    with pytest.raises(TypeError, match="'partition'"):
        queries.latest(r, LAG, {"partition": 3})
    with pytest.raises(ValueError, match="agg 'p99'"):
        queries.range_query(r, LAG, None, T0, T0 + 1, agg="p99")
    with pytest.raises(ValueError, match="end_ms"):
        queries.range_query(r, LAG, None, T0 + 1, T0)
    with pytest.raises(ValueError, match="n must be"):
        queries.top_n(r, LAG, 0)


def test_missing_metric_gives_empty_frames_with_the_base_columns(store):
    _, r = store
    assert list(queries.latest(r, "kafka_nothing_here").columns) == ["series_id", "ts_ms", "value"]
    empty = queries.range_query(r, "kafka_nothing_here", None, T0, T0 + HOUR_MS)
    assert empty.empty and list(empty.columns) == ["series_id", "ts_ms", "value", "resolution"]


def fill(w, groups: int, hours: float, step_ms: int = 15_000) -> None:
    """`groups` series with value = minute index within the day, one batch per tick."""
    sw = SampleWriter(w)
    for k in range(int(hours * HOUR_MS // step_ms)):
        ts = T0 + k * step_ms
        sw.write([lag(f"g{i}", ts, float(ts // MINUTE_MS % 1440 + i)) for i in range(groups)])


@pytest.mark.parametrize("hours, max_points, agg, resolution, points", [
    (1, 2000, "avg", "raw", 240),      # 240 raw samples fit
    (1, 100, "avg", "1m", 60),         # 240 raw > 100 -> 60 one-minute buckets
    (6, 2000, "avg", "raw", 1440),     # 6 h at 15 s = 1440 raw samples still fit
    (6, 360, "max", "1m", 360),        # the dashboard's 1-minute view of 6 h
    (6, 100, "last", "1h", 6),         # 360 minutes > 100 -> hourly
    (6, 3, "min", "2h", 3),            # even hourly is too many -> 2-hour buckets
])
def test_resolution_choice_never_exceeds_max_points(store, hours, max_points, agg, resolution, points):
    w, r = store
    fill(w, 2, hours)
    end = T0 + int(hours * HOUR_MS) - 1
    df = queries.range_query(r, LAG, None, T0, end, max_points=max_points, agg=agg)
    assert set(df["resolution"]) == {resolution}
    assert df.groupby("series_id").size().tolist() == [points, points]
    assert df.groupby("series_id").size().max() <= max_points


def test_rollup_aggregates_match_raw(store):
    w, r = store
    fill(w, 3, 3)
    raw = queries.range_query(r, LAG, None, T0, T0 + 3 * HOUR_MS - 1, max_points=10**6)
    assert set(raw["resolution"]) == {"raw"}
    raw["bucket"] = raw["ts_ms"] // MINUTE_MS * MINUTE_MS
    g = raw.sort_values("ts_ms").groupby(["series_id", "bucket"])["value"]
    for agg, want in (("avg", g.mean()), ("min", g.min()), ("max", g.max()), ("sum", g.sum()),
                      ("count", g.count()), ("last", g.last())):
        got = queries.range_query(r, LAG, None, T0, T0 + 3 * HOUR_MS - 1, max_points=180, agg=agg)
        assert set(got["resolution"]) == {"1m"}
        got = got.set_index(["series_id", "ts_ms"])["value"]
        assert got.index.tolist() == want.index.tolist(), agg
        assert got.tolist() == pytest.approx(want.astype(float).tolist()), agg


def test_duplicates_keep_the_first_write_and_count_once(store):
    w, r = store
    sw = SampleWriter(w)
    sw.write([lag("g", T0, 1.0), lag("g", T0, 99.0)])            # same ts twice in a batch
    sw.write([lag("g", T0, 98.0)])                                # again while staged
    flush(w)
    sw.write([lag("g", T0, 97.0), lag("g", T0 + 1000, 2.0)])      # again after the flush
    df = queries.range_query(r, LAG, None, T0, T0 + 1000)
    assert df["value"].tolist() == [1.0, 2.0]
    flush(w)
    assert w.execute("SELECT cnt, sum_v FROM rollup_1m").fetchall() == [(2, 3.0)]
    assert queries.latest(r, LAG)["value"].tolist() == [2.0]


def test_late_samples_do_not_move_latest_back(store):
    w, r = store
    sw = SampleWriter(w)
    sw.write([lag("g", T0 + 60_000, 5.0)])
    sw.write([lag("g", T0, 1.0)])
    assert queries.latest(r, LAG)[["ts_ms", "value"]].values.tolist() == [[T0 + 60_000, 5.0]]
    assert queries.range_query(r, LAG, None, T0, T0 + 60_000)["value"].tolist() == [1.0, 5.0]


def test_bad_sample_rejects_the_whole_batch(store):
    w, r = store
    with pytest.raises(ValueError, match="not finite"):
        SampleWriter(w).write([lag("g", T0, 1.0), lag("h", T0, math.nan)])
    assert queries.latest(r, LAG).empty
    assert not w.in_transaction


def test_staged_samples_flush_after_flush_ms_of_sample_time(store):
    w, r = store
    sw = SampleWriter(w)
    ticks = writes.FLUSH_MS // 15_000
    for k in range(ticks):  # up to FLUSH_MS - 15 s of sample time stays staged
        sw.write([lag("g", T0 + k * 15_000, float(k))])
    assert w.execute("SELECT count(*) FROM samples_recent").fetchone()[0] == ticks
    assert w.execute("SELECT count(*) FROM samples").fetchone()[0] == 0
    staged_view = queries.range_query(r, LAG, None, T0, T0 + writes.FLUSH_MS, max_points=30, agg="count")
    sw.write([lag("g", T0 + writes.FLUSH_MS, float(ticks))])
    assert w.execute("SELECT count(*) FROM samples_recent").fetchone()[0] == 0
    assert w.execute("SELECT count(*) FROM samples").fetchone()[0] == ticks + 1
    assert w.execute("SELECT sum(cnt) FROM rollup_1m").fetchone()[0] == ticks + 1
    # readers see the same buckets before and after the move (plus the new sample)
    flushed_view = queries.range_query(r, LAG, None, T0, T0 + writes.FLUSH_MS, max_points=30, agg="count")
    assert staged_view["value"].sum() == ticks and flushed_view["value"].sum() == ticks + 1
    assert flushed_view["value"].tolist()[:-1] == staged_view["value"].tolist()


@pytest.mark.parametrize("match", [
    {"group": "g3"},                        # 10 ticks x 1 series < 400 staged rows: looked up per tick
    {"group": [f"g{i}" for i in range(5)]},  # 10 x 5 < 400: looked up
    None,                                   # 10 x 40 = 400 staged rows: scanned
])
@pytest.mark.parametrize("max_points, agg", [(10_000, "avg"), (3, "max"), (3, "last")])  # raw, then 1m buckets
def test_staged_rows_read_the_same_as_flushed_ones(store, match, max_points, agg):
    w, r = store
    sw = SampleWriter(w)
    for k in range(10):
        sw.write([lag(f"g{i}", T0 + k * 15_000, float(i * 100 + k)) for i in range(40)])
    sw.write([lag("g3", T0 + 15_000, -1.0)])  # a duplicate, still staged: first write wins
    end = T0 + 9 * 15_000
    staged = queries.range_query(r, LAG, match, T0, end, max_points=max_points, agg=agg)
    assert w.execute("SELECT count(*) FROM samples").fetchone()[0] == 0
    flush(w)
    flushed = queries.range_query(r, LAG, match, T0, end, max_points=max_points, agg=agg)
    assert w.execute("SELECT count(*) FROM samples_recent").fetchone()[0] == 0
    pd.testing.assert_frame_equal(staged, flushed)
    assert len(staged) == (10 if max_points > 10 else 3) * staged["series_id"].nunique()


sample_sets = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 3 * HOUR_MS // 1000),
              st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)),
    min_size=1, max_size=80)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample_sets, st.lists(st.integers(1, 30), min_size=1, max_size=8), st.data())
def test_stored_rollups_equal_brute_force(samples, batch_sizes, data):
    """Any split into batches, any flush points: rollup tables equal a brute-force aggregation
    of the distinct stored samples (first write wins for a repeated timestamp)."""
    with tempfile.TemporaryDirectory() as tmp:
        w = open_migrated(Path(tmp) / "s.db")
        sw = SampleWriter(w)
        rows = [(g, T0 + s * 1000, float(v)) for g, s, v in samples]
        i = 0
        while i < len(rows):
            n = batch_sizes[i % len(batch_sizes)]
            sw.write([lag(f"g{g}", ts, v) for g, ts, v in rows[i:i + n]])
            if data.draw(st.booleans()):
                flush(w)
            i += n
        flush(w)
        first: dict[tuple[str, int], float] = {}
        for g, ts, v in rows:
            first.setdefault((f"g{g}", ts), v)
        df = pd.DataFrame([(g, ts, v) for (g, ts), v in first.items()], columns=["group", "ts", "v"])
        ids = {g: sid for sid, g in w.execute("SELECT id, json_extract(labels, '$.group') FROM series")}
        for table, width in (("rollup_1m", MINUTE_MS), ("rollup_1h", HOUR_MS)):
            df["bucket"] = df["ts"] // width * width
            want = {}
            for (g, b), part in df.sort_values("ts").groupby(["group", "bucket"]):
                want[(ids[g], b)] = (part.v.min(), part.v.max(), part.v.sum(), len(part), part.ts.max(),
                                     part.v.iloc[-1])
            got = {(r[0], r[1]): r[2:] for r in w.execute(
                f"SELECT series_id, bucket_ms, min_v, max_v, sum_v, cnt, last_ts_ms, last_v FROM {table}")}
            assert got.keys() == want.keys()
            for key, (mn, mx, sm, n, lts, lv) in want.items():
                g = got[key]
                assert (g[0], g[1], g[3], g[4], g[5]) == (mn, mx, n, lts, lv)
                assert g[2] == pytest.approx(sm, abs=1e-6)
        assert w.execute("SELECT count(*) FROM samples").fetchone()[0] == len(first)
        w.close()
