"""Rates, error ratio and DLQ inflow from two samples of a queue's counters."""
from __future__ import annotations

import pytest

from collectors.rabbit_rates import QueueCounters as C
from collectors.rabbit_rates import queue_rates, reset_between


@pytest.mark.parametrize("prev, cur, expected", [
    # 100 published in 10 s
    (C(0, publish=50), C(10_000, publish=150), dict(publish_per_s=10.0)),
    # deliveries and acks over 5 s
    (C(0, deliver_get=10, ack=10), C(5_000, deliver_get=60, ack=35), dict(deliver_per_s=10.0, ack_per_s=5.0)),
    # redeliveries are their own rate
    (C(0, redeliver=0), C(2_000, redeliver=4), dict(redeliver_per_s=2.0)),
    # broker restart: counters fell back; the increase is the new value (Prometheus), never negative
    (C(0, publish=1000, deliver_get=900, ack=900), C(10_000, publish=30, deliver_get=20, ack=20),
     dict(publish_per_s=3.0, deliver_per_s=2.0, ack_per_s=2.0)),
    # restart right before the poll: counters at 0 give zero rates, not negative ones
    (C(0, publish=500, ack=500), C(10_000), dict(publish_per_s=0.0, ack_per_s=0.0)),
])
def test_rates(prev, cur, expected):
    r = queue_rates(prev, cur)
    for k, v in expected.items():
        assert getattr(r, k) == pytest.approx(v), k


@pytest.mark.parametrize("prev, cur, expected", [
    # 100 delivered, 90 acked, none in flight: 10% rejected
    (C(0), C(1000, deliver_get=100, ack=90), 0.10),
    # 100 delivered, 90 acked, 10 still unacked: in flight is not an error
    (C(0), C(1000, deliver_get=100, ack=90, unacked=10), 0.0),
    # acks of messages delivered in the previous interval (unacked drops): not errors either
    (C(0, deliver_get=50, unacked=20), C(1000, deliver_get=80, ack=50, unacked=0), 0.0),
    # no deliveries in the interval: unknown, not 0
    (C(0, deliver_get=5, ack=5), C(1000, deliver_get=5, ack=5), None),
    # auto-ack (no_ack) deliveries are never acked and never errors
    (C(0), C(1000, deliver_get=100, no_ack=100), None),
    # mixed: 50 auto-ack + 50 manual of which 40 acked -> 10/50
    (C(0), C(1000, deliver_get=100, no_ack=50, ack=40), 0.2),
    # everything rejected
    (C(0), C(1000, deliver_get=20), 1.0),
    # stats skew (acks counted before deliveries) is clamped to 0, never negative
    (C(0), C(1000, deliver_get=10, ack=12), 0.0),
    # after a reset the old unacked figure no longer applies: 10 delivered, 8 acked, 1 in flight
    (C(0, deliver_get=500, ack=400, unacked=50), C(1000, deliver_get=10, ack=8, unacked=1), 0.1),
])
def test_error_ratio(prev, cur, expected):
    r = queue_rates(prev, cur)
    if expected is None:
        assert r.error_ratio is None
    else:
        assert r.error_ratio == pytest.approx(expected)


@pytest.mark.parametrize("prev, cur, per_s", [
    # 100 messages arrived in a DLQ nobody consumes, in 10 s
    (C(0, messages=5), C(10_000, messages=105), 10.0),
    # a consumer drained the DLQ while 30 arrived: depth -20, 50 acked
    (C(0, messages=40, ack=0), C(10_000, messages=20, ack=50), 3.0),
    # auto-ack consumption counts as leaving the queue too
    (C(0, messages=10), C(10_000, messages=0, deliver_get=40, no_ack=40), 3.0),
    # messages purged or expired: depth fell with no acks; inflow is 0, never negative
    (C(0, messages=100), C(10_000, messages=0), 0.0),
])
def test_dlq_inflow(prev, cur, per_s):
    assert queue_rates(prev, cur).dlq_inflow_per_s == pytest.approx(per_s)


@pytest.mark.parametrize("prev, cur", [
    (C(1000), C(1000)),   # same instant: no interval
    (C(2000), C(1000)),   # clock went backwards
])
def test_no_interval_no_rates(prev, cur):
    assert queue_rates(prev, cur) is None


@pytest.mark.parametrize("prev, cur, reset", [
    (C(0, ack=5), C(1, ack=5), False),                  # unchanged
    (C(0, ack=5), C(1, ack=6), False),                  # grew
    (C(0, ack=5, publish=9), C(1, ack=6, publish=1), True),  # one counter fell: restart
    (C(0, messages=9), C(1, messages=1), False),        # a gauge falling is not a reset
])
def test_reset_between(prev, cur, reset):
    assert reset_between(prev, cur) is reset


def test_from_api_reads_message_stats_and_defaults_to_zero():
    item = {"messages": 7, "messages_unacknowledged": 2,
            "message_stats": {"publish": 10, "deliver_get": 8, "ack": 5, "redeliver": 1,
                              "deliver_no_ack": 2, "get_no_ack": 1}}
    assert C.from_api(item, 42) == C(42, 7, 2, 10, 8, 5, 1, 3)
    # a queue with no traffic yet has no message_stats at all
    assert C.from_api({"messages": 0}, 1) == C(1)
