"""Pure shaping of store frames for the dashboard pages."""
from __future__ import annotations

import pandas as pd
import pytest

from core.codes import GROUP_STATE_NAMES, STATUS_NAMES

from views import frames


def test_sum_by_groups_and_sorts_largest_first():
    df = pd.DataFrame({"group": ["a", "a", "b"], "partition": ["0", "1", "0"], "value": [1.0, 2.0, 5.0]})
    out = frames.sum_by(df, ["group"])
    assert out.to_dict("records") == [{"group": "b", "value": 5.0}, {"group": "a", "value": 3.0}]


def test_sum_by_empty_keeps_columns():
    assert list(frames.sum_by(pd.DataFrame(), ["cluster", "group"]).columns) == ["cluster", "group", "value"]


def test_over_time_sums_series_per_timestamp():
    df = pd.DataFrame({"ts_ms": [1, 1, 2], "value": [1.0, 2.0, 4.0]})
    assert frames.over_time(df).to_dict("records") == [{"ts_ms": 1, "value": 3.0}, {"ts_ms": 2, "value": 4.0}]


def test_wide_pivots_metrics_into_columns():
    df = pd.DataFrame({"queue": ["q", "q"], "metric": ["ready", "unacked"], "value": [3.0, 1.0]})
    assert frames.wide(df, ["queue"], "metric").to_dict("records") == [{"queue": "q", "ready": 3.0, "unacked": 1.0}]


STATUS = pd.DataFrame({"target": ["kafka:a", "kafka:b"], "up": [True, False], "reason": [None, "timeout"],
                       "last_ms": [10, 20]})


@pytest.mark.parametrize("cluster, state, reason", [
    ("a", frames.UP, None),          # last poll succeeded
    ("b", frames.DOWN, "timeout"),   # last poll failed: the reason is shown
    ("c", frames.NO_DATA, None),     # configured but never polled: not 'down'
])
def test_cluster_health(cluster, state, reason):
    row = frames.cluster_health([cluster], STATUS, "kafka").iloc[0]
    assert (row.state, row.reason) == (state, reason)


def test_cluster_health_prefix_separates_brokers():
    # why: a RabbitMQ cluster named like a Kafka one must not borrow its status
    assert frames.cluster_health(["a"], STATUS, "rabbitmq").iloc[0].state == frames.NO_DATA


@pytest.mark.parametrize("codes, names, expected", [
    ([0, 4], STATUS_NAMES, ["OK", "STOP"]),           # Burrow codes the collector stores
    ([1, 9], GROUP_STATE_NAMES, ["Stable", "unknown"]),      # an unknown code is never a crash
    ([None], STATUS_NAMES, ["unknown"]),              # a missing value is unknown, not OK
])
def test_decode(codes, names, expected):
    out = frames.decode(pd.DataFrame({"status": codes}), "status", names)
    assert out["status"].tolist() == expected


@pytest.mark.parametrize("value, limit, expected", [
    ("<script>alert(1)</script>", 100, "<script>alert(1)</script>"),  # kept as text; rendering escapes it
    (b"\xffab", 10, "\ufffdab"),                                       # undecodable bytes are replaced
    ("abcdef", 3, "abc… (+3 chars)"),                                  # truncation is marked
    (None, 5, ""),                                                     # absent header value
])
def test_escape_text(value, limit, expected):
    assert frames.escape_text(value, limit) == expected


def test_in_units_marks_time_lag_and_formats_columns():
    import pandas as pd

    from views.frames import in_units

    df = pd.DataFrame({"group": ["a", "b", "c"], "time lag": [4.2, 190.0, None], "method": [1, 2, 3],
                       "drain ETA": [95.0, 315_360_000.0, 0.0], "lag": [1234, 5, 0], "rate": [12.345, 0.5, 0]})
    out = in_units(df, counts=["lag"], rates=["rate"])
    assert out["time lag"].tolist() == ["≈ 4.2 s", "≥ 3 min 10 s", "— (not dated yet)"]
    assert out["drain ETA"].tolist() == ["1 min 35 s", "not draining", "drained"]
    assert out["lag"].tolist() == ["1,234", "5", "0"] and out["rate"].tolist() == ["12.3", "0.5", "0"]
    # no group has a dated lag: the column is still there, saying why
    only = in_units(pd.DataFrame({"group": ["a"], "method": [3]}))
    assert only["time lag"].tolist() == ["— (not dated yet)"]


def test_gone_entities_lists_entities_with_only_gone_series():
    import pandas as pd
    from views.frames import gone_entities
    df = pd.DataFrame({"ts_ms": [10, 20, 30, 5, 7], "value": [1.0] * 5,
                       "broker": ["kafka", "kafka", "rabbitmq", "rabbitmq", "kafka"],
                       "dlq": ["a", "b", "c", "c", "d"], "vhost": [None, None, "/", "/", None],
                       "gone": [True, False, True, False, True]})
    got = gone_entities(df, ["broker", "vhost", "dlq"])
    assert got[["broker", "dlq", "last_seen_ms"]].to_dict("records") == [
        {"broker": "kafka", "dlq": "a", "last_seen_ms": 10}, {"broker": "kafka", "dlq": "d", "last_seen_ms": 7}]
    assert got["vhost"].isna().all()
    assert list(gone_entities(df.drop(columns=["vhost"]), ["broker", "vhost", "dlq"]).columns) == \
        ["broker", "dlq", "last_seen_ms"]
    assert gone_entities(df.assign(gone=False), ["dlq"]).empty
    assert gone_entities(df.drop(columns=["gone"]), ["dlq"]).empty
