"""Pure store logic: rollup arithmetic, resolution planning, series identity and sample checks."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.queries import buckets, plan_rollup
from store.rollups import HOUR_MS, MINUTE_MS, Bucket, bucket_start, deltas, merge
from store.types import Sample
from store.writes import _checked, series_columns, series_key

T0 = 1_780_000_000_000 // HOUR_MS * HOUR_MS

rows_strategy = st.lists(
    st.tuples(st.integers(1, 4), st.integers(T0 - 3 * HOUR_MS, T0 + 3 * HOUR_MS),
              st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
    max_size=120)


def brute(rows, width):
    """Reference rollup: group by (series, bucket) with plain Python, last = value at the max timestamp
    (first such row on ties, as the writer keeps the first of equal timestamps)."""
    out = {}
    for sid, ts, v in rows:
        out.setdefault((sid, ts // width * width), []).append((ts, v))
    result = {}
    for key, pts in out.items():
        vals = [v for _, v in pts]
        last_ts = max(ts for ts, _ in pts)
        last_v = [v for ts, v in pts if ts == last_ts][-1]
        result[key] = (min(vals), max(vals), sum(vals), len(vals), last_ts, last_v)
    return result


@settings(max_examples=200, deadline=None)
@given(rows_strategy, st.sampled_from([MINUTE_MS, HOUR_MS]))
def test_deltas_match_brute_force(rows, width):
    got = {(b.series_id, b.bucket_ms): b[2:] for b in deltas(rows, width)}
    want = brute(rows, width)
    assert got.keys() == want.keys()
    for key, (mn, mx, sm, n, lts, lv) in want.items():
        g = got[key]
        assert (g[0], g[1], g[3], g[4], g[5]) == (mn, mx, n, lts, lv)
        assert math.isclose(g[2], sm, rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=200, deadline=None)
@given(rows_strategy, st.integers(0, 120))
def test_merging_deltas_of_two_batches_equals_deltas_of_all(rows, cut):
    """Incremental maintenance: rollup(batch A) merged with rollup(batch B) == rollup(A + B)."""
    a, b = rows[:cut], rows[cut:]
    merged = {(x.series_id, x.bucket_ms): x for x in deltas(a, MINUTE_MS)}
    for x in deltas(b, MINUTE_MS):
        key = (x.series_id, x.bucket_ms)
        merged[key] = merge(merged[key], x) if key in merged else x
    want = {(x.series_id, x.bucket_ms): x for x in deltas(rows, MINUTE_MS)}
    assert merged.keys() == want.keys()
    for key, w in want.items():
        m = merged[key]
        assert (m.min_v, m.max_v, m.cnt, m.last_ts_ms) == (w.min_v, w.max_v, w.cnt, w.last_ts_ms)
        assert math.isclose(m.sum_v, w.sum_v, rel_tol=1e-9, abs_tol=1e-6)


@pytest.mark.parametrize("old_last, new_last, want", [
    ((100, 1.0), (200, 2.0), (200, 2.0)),  # newer delta replaces last
    ((300, 1.0), (200, 2.0), (300, 1.0)),  # a late (older) delta keeps the stored last
    ((200, 1.0), (200, 2.0), (200, 2.0)),  # equal timestamps: the delta wins, like the SQL UPSERT (>=)
])
def test_merge_last(old_last, new_last, want):
    old = Bucket(1, 0, 0.0, 5.0, 5.0, 2, *old_last)
    new = Bucket(1, 0, -1.0, 3.0, 3.0, 1, *new_last)
    m = merge(old, new)
    assert (m.last_ts_ms, m.last_v) == want
    assert (m.min_v, m.max_v, m.sum_v, m.cnt) == (-1.0, 5.0, 8.0, 3)


@pytest.mark.parametrize("ts, width, want", [
    (T0 + 59_999, MINUTE_MS, T0),              # last ms of the first minute stays in it
    (T0 + 60_000, MINUTE_MS, T0 + 60_000),     # a bucket starts at its own boundary
    (-1, MINUTE_MS, -60_000),                  # floor division, not truncation, before the epoch
    (T0 + HOUR_MS - 1, HOUR_MS, T0),           # hour bucket
])
def test_bucket_start(ts, width, want):
    assert bucket_start(ts, width) == want


@pytest.mark.parametrize("start, end, max_points, minute_ok, want", [
    (T0, T0 + 6 * HOUR_MS, 2000, True, ("rollup_1m", MINUTE_MS, "1m")),         # 361 minutes fit
    (T0, T0 + 6 * HOUR_MS, 360, True, ("rollup_1h", HOUR_MS, "1h")),            # 361 buckets > 360
    (T0, T0 + 6 * HOUR_MS - 1, 360, True, ("rollup_1m", MINUTE_MS, "1m")),      # exactly 360 minutes
    (T0, T0 + 6 * HOUR_MS, 2000, False, ("rollup_1h", HOUR_MS, "1h")),          # 1m tier pruned past start
    (T0, T0 + 48 * HOUR_MS, 2000, True, ("rollup_1h", HOUR_MS, "1h")),          # 2881 minutes too many
    (T0, T0 + 400 * 24 * HOUR_MS, 2000, True, ("rollup_1h", 5 * HOUR_MS, "5h")),  # 9601 hours -> 5 h buckets
    (0, 10 * HOUR_MS, 1, True, ("rollup_1h", 11 * HOUR_MS, "11h")),            # one point: 11 h bucket at 0
    (5 * HOUR_MS, 15 * HOUR_MS, 1, True, ("rollup_1h", 16 * HOUR_MS, "16h")),   # epoch-aligned; end inclusive
])
def test_plan_rollup(start, end, max_points, minute_ok, want):
    got = plan_rollup(start, end, max_points, minute_ok)
    assert got == want
    assert buckets(start, end, got[1]) <= max_points


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2 * 10**12), st.integers(0, 2 * 10**10), st.integers(1, 5000), st.booleans())
def test_plan_rollup_never_exceeds_max_points(start, length, max_points, minute_ok):
    _, width, _ = plan_rollup(start, start + length, max_points, minute_ok)
    assert buckets(start, start + length, width) <= max_points


@pytest.mark.parametrize("metric, labels, want", [
    # source = prefix before the first '_', cluster from labels, entity = first of group/queue/dlq/...
    ("kafka_group_lag_messages", {"cluster": "a", "topic": "t", "group": "g", "partition": "0"},
     ("kafka", "a", "g")),
    ("rabbitmq_queue_ready_messages", {"cluster": "r", "vhost": "/", "queue": "q"}, ("rabbitmq", "r", "q")),
    ("dlq_messages", {"broker": "kafka", "cluster": "a", "dlq": "orders.dlq"}, ("dlq", "a", "orders.dlq")),
    ("collector_up", {"target": "kafka:a"}, ("collector", "", "kafka:a")),        # no cluster label -> ''
    ("kafka_topic_produce_rate_per_s", {"cluster": "a", "topic": "t"}, ("kafka", "a", "t")),  # topic when no group
    ("consumer_processing_seconds", {"cluster": "a", "consumer": "c", "quantile": "0.99"}, ("consumer", "a", "c")),
])
def test_series_columns(metric, labels, want):
    m, labels_json, source, cluster, entity = series_columns(series_key(metric, labels))
    assert (m, source, cluster, entity) == (metric, *want)
    assert labels_json == series_columns(series_key(metric, dict(reversed(list(labels.items())))))[1]  # order-free


@pytest.mark.parametrize("metric, labels, error, fragment", [
    ("Kafka_lag", {}, ValueError, "Kafka_lag"),                 # uppercase metric
    ("lag", {}, ValueError, "'lag'"),                           # no <source>_ prefix
    ("kafka_lag", {"bad-name": "x"}, ValueError, "bad-name"),   # label name not an identifier
    ("kafka_lag", {"value": "x"}, ValueError, "'value'"),       # collides with a result column
    ("kafka_lag", {"partition": 3}, TypeError, "'partition'"),  # label values must be str
])
def test_series_key_rejects(metric, labels, error, fragment):
    with pytest.raises(error, match=fragment):
        series_key(metric, labels)


@pytest.mark.parametrize("ts, value, error, fragment", [
    (T0, float("nan"), ValueError, "not finite"),     # unknown values are not written
    (T0, float("inf"), ValueError, "not finite"),
    (T0, "3", TypeError, "must be a number"),         # strings are not coerced
    (T0, True, TypeError, "must be a number"),        # bool is not a measurement
    (float(T0), 1.0, TypeError, "ts_ms must be int"),  # seconds-as-float mistakes surface
])
def test_checked_rejects(ts, value, error, fragment):
    with pytest.raises(error, match=fragment):
        _checked(Sample("kafka_group_lag_messages", {"cluster": "a"}, ts, value))


def test_checked_accepts_int_values():
    assert _checked(Sample("kafka_group_lag_messages", {"cluster": "a"}, T0, 7)) == (T0, 7.0)
