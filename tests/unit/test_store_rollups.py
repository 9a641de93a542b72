"""Pure store logic: resolution planning, series identity and sample checks.
(Rollup values are checked against a brute-force computation in test_store_queries.py.)"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.rollups import HOUR_MS, MINUTE_MS, buckets, plan_rollup
from store.types import Sample
from store.writes import _checked, series_columns, series_key

T0 = 1_780_000_000_000 // HOUR_MS * HOUR_MS


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
