"""The Overview's needs-attention list (views.attention): what is wrong now, ranked, each row with its view."""
from __future__ import annotations

import pandas as pd

from core import links
from views import attention, units


def frame(rows):
    return pd.DataFrame(rows)


def build(**kw):
    args = dict(firing=None, pending=None, group_status=None, group_lag_s=None, queue_status=None, dlq_inflow=None,
                dlq_depth=None, consumer_errors=None, consumer_p99=None)
    args.update(kw)
    return attention.needs_attention(**args, link=lambda lab: links.link_for("", lab), fmt_duration=units.duration,
                                     fmt_rate=units.significant)


def test_ranked_with_status_in_text_and_views():
    got = build(
        firing=frame([{"rule": "dlq-growing", "severity": "warning", "labels": {"dlq": "d", "broker": "kafka",
                                                                              "cluster": "c"}, "summary": "grew"},
                      {"rule": "kafka-group-stalled", "severity": "critical", "labels": {"cluster": "c", "group": "g"},
                       "summary": "STOP"}]),
        pending=frame([{"rule": "x", "severity": "info", "labels": {}, "summary": "s"}]),
        group_status=frame([{"cluster": "c", "group": "g", "value": 4.0}, {"cluster": "c", "group": "ok", "value": 0.0},
                            {"cluster": "c", "group": "w", "value": 1.0}]),
        group_lag_s=frame([{"cluster": "c", "group": "g", "value": 3780.0}]),
        queue_status=frame([{"cluster": "r", "vhost": "/", "queue": "q", "value": 3.0}]),
        dlq_inflow=frame([{"broker": "kafka", "cluster": "c", "dlq": "d", "value": 0.4},
                          {"broker": "kafka", "cluster": "c", "dlq": "quiet", "value": 0.0}]),
        dlq_depth=frame([{"broker": "kafka", "cluster": "c", "dlq": "d", "value": 430.0}]),
        consumer_errors=frame([{"cluster": "c", "broker": "kafka", "consumer": "pay", "value": 0.12},
                               {"cluster": "c", "broker": "kafka", "consumer": "fine", "value": 0.001}]),
        consumer_p99=frame([{"cluster": "c", "broker": "kafka", "consumer": "slow", "value": 2.5}]))
    assert list(got["what"]) == [
        "alert kafka-group-stalled: cluster=c, group=g", "Kafka group g (c)", "alert dlq-growing: broker=kafka, "
        "cluster=c, dlq=d", "RabbitMQ queue q (r)", "DLQ d (kafka c)", "consumer pay (kafka c)",
        "consumer slow (kafka c)", "alert x", "Kafka group w (c)"]
    assert list(got["rank"]) == list(range(1, 10))
    row = got.set_index("what").loc["Kafka group g (c)"]
    assert row["status"] == "STOP" and row["severity"] == "● critical" and "1 h" in row["detail"]
    assert row["view"].startswith("/kafka?") and "kafka_group=g" in row["view"]
    assert got.set_index("what").loc["DLQ d (kafka c)", "detail"] == "inflow 0.4/s, 430 messages"
    assert got.set_index("what").loc["consumer slow (kafka c)", "status"] == "SLOW"


def test_severity_colour():
    assert "#e5484d" in attention.colour_of("● critical") and attention.colour_of("x") == ""


def test_nothing_wrong_is_empty():
    assert build(group_status=frame([{"cluster": "c", "group": "ok", "value": 0.0}])).empty
