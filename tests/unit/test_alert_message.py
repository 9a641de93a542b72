"""Notification text and retry backoff (pure parts of notification)."""
from __future__ import annotations

import pytest

from alerts.message import compose, distance
from alerts.notify import backoff_ms
from alerts.rules import rule_from_dict

RULE = rule_from_dict({"name": "lag", "metric": "kafka_group_lag_messages", "threshold": 1000, "for_s": 60,
                       "severity": "critical", "summary": "{group} is behind"})


@pytest.mark.parametrize("attempts,expected,why", [
    (0, 0, "nothing failed yet: no delay"),
    (1, 10_000, "first retry after the base delay"),
    (2, 20_000, "doubles"),
    (4, 80_000, "doubles again"),
    (7, 600_000, "640 s is capped at 600 s"),
    (200, 600_000, "huge attempt counts do not overflow"),
])
def test_backoff_table(attempts, expected, why):
    assert backoff_ms(attempts, 10_000, 600_000) == expected, why


@pytest.mark.parametrize("value,text,why", [
    (1350.0, "+350 over the threshold (+35%)", "how far over, absolute and relative"),
    (900.0, "-100 under the threshold (-10%)", "under, for < rules"),
    (1000.0, "at the threshold", "equal"),
    (None, "no data", "no value"),
])
def test_distance(value, text, why):
    assert distance(RULE, value) == text, why


def test_compose_firing_says_what_where_since_link():
    title, body, kind = compose(RULE, "firing", {"cluster": "a", "group": "orders"}, 1350.0,
                                1_700_000_000_000, 1_700_000_060_000, "http://deck:8501/")
    assert title == "[FIRING] lag (critical) cluster=a, group=orders" and kind == "failure"
    assert "orders is behind" in body
    assert "kafka_group_lag_messages{cluster=a, group=orders} = 1350" in body
    assert "+350 over the threshold" in body
    assert "Since: 2023-11-14 22:13:20Z" in body
    assert "http://deck:8501/alerts" in body
    # the deep link opens the group's view
    assert "View: http://deck:8501/kafka?time_range_pick=last+1+h&kafka_cluster=a&kafka_group=orders" in body


def test_compose_resolved_is_success():
    title, body, kind = compose(RULE, "resolved", {"group": "g"}, 10.0, 1_700_000_000_000, 1_700_000_060_000,
                                "http://x")
    assert title.startswith("[RESOLVED]") and kind == "success" and "resolved at" in body
