"""Lag clamping, no-offset partitions, rates, DLQ sources and error ratio (collectors.kafka_lag)."""
import pytest

from brokers.naming import convention_source as dlq_source
from collectors.kafka_lag import committed_or_none, error_ratio, offset_rate
from core.codes import state_code
from core.lag import lag_messages
from config.kafka import DEFAULT_DLQ_PATTERNS


@pytest.mark.parametrize(
    "end, committed, expected",
    [
        (100, 40, 60),  # plain lag
        (100, 100, 0),  # caught up
        (100, 105, 0),  # committed read after a newer end offset: clamped at 0, never negative
        (0, 0, 0),  # empty partition, committed at 0
        (100, None, None),  # never committed: "no offset", not 0 and not the whole log
        (None, 40, None),  # end offset unreadable: unknown
    ],
)
def test_lag_messages(end, committed, expected):
    assert lag_messages(end, committed) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        (-1, None),  # Kafka's "no committed offset" answer
        (None, None),  # partition absent from the OffsetFetch answer
        (0, 0),  # committed at the very start is a real offset
        (42, 42),  # a normal offset
    ],
)
def test_committed_or_none(raw, expected):
    assert committed_or_none(raw) == expected


@pytest.mark.parametrize(
    "prev, cur, dt_ms, expected",
    [
        ({0: 10, 1: 20}, {0: 20, 1: 40}, 2_000, 15.0),  # (10 + 20) records in 2 s
        ({0: 10}, {0: 10}, 1_000, 0.0),  # idle: a known zero rate
        ({0: 10}, {0: 10, 1: 50}, 1_000, 0.0),  # a new partition has no previous value: left out
        ({0: 50, 1: 10}, {0: 5, 1: 20}, 1_000, 10.0),  # partition 0 went down (re-created): left out
        ({}, {0: 10}, 1_000, None),  # first cycle: nothing to compare, unknown
        ({0: 10}, {0: 20}, 0, None),  # no time passed: unknown rather than infinite
    ],
)
def test_offset_rate(prev, cur, dt_ms, expected):
    assert offset_rate(prev, cur, dt_ms) == expected


@pytest.mark.parametrize(
    "dlq, patterns, expected",
    [
        ("orders.dlq", DEFAULT_DLQ_PATTERNS, "orders"),  # suffix convention
        ("dlq.orders", DEFAULT_DLQ_PATTERNS, "orders"),  # prefix convention
        ("orders.v2-dlt", DEFAULT_DLQ_PATTERNS, "orders.v2"),  # dots inside the source are kept
        (".dlq", DEFAULT_DLQ_PATTERNS, None),  # nothing left for the source name
        ("orders.dlq", ["*.d?q"], None),  # patterns with other wildcards are not invertible
        ("orders.dlq", ["*.*"], None),  # two stars are ambiguous
    ],
)
def test_dlq_source(dlq, patterns, expected):
    assert dlq_source(dlq, patterns) == expected


@pytest.mark.parametrize(
    "inflow, consumed, expected",
    [
        (1.0, 9.0, 0.1),  # 1 of every 10 records failed
        (0.0, 5.0, 0.0),  # consuming, nothing dead-lettered
        (0.0, 0.0, 0.0),  # idle: no errors, not 0/0
        (2.0, 0.0, 1.0),  # everything consumed went to the DLQ
        (None, 5.0, None),  # DLQ rate unknown (first cycle)
        (1.0, None, None),  # consumption rate unknown
    ],
)
def test_error_ratio(inflow, consumed, expected):
    got = error_ratio(inflow, consumed)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    "state, code",
    [
        ("Stable", 1),  # active group
        ("Empty", 4),  # no members, offsets kept
        ("Unknown", 0),  # Tansu's answer: unknown
        (None, 0),  # could not describe the group at all
        ("SomethingNew", 0),  # a state from a newer broker we do not know
    ],
)
def test_state_code(state, code):
    assert state_code(state) == code
