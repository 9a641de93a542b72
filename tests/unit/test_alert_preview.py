"""alerts.preview: metric unit/help, selector rows to and from the YAML shorthand, and the live preview."""
from __future__ import annotations

import pytest

from alerts.preview import Row, help_of, label_names, label_values, metric_label, preview, rows_of, selector_of, unit_of
from alerts.rules import RuleError, SeriesPoint, rule_from_dict

NOW = 1_700_000_000_000


@pytest.mark.parametrize("metric, unit", [
    ("kafka_group_lag_messages", "messages"),
    ("kafka_group_lag_seconds", "seconds"),
    ("kafka_group_lag_seconds_method", ""),  # a code: the help text says what each value means
    ("dlq_inflow_rate_per_s", "messages per second"),
    ("consumer_processed_rate_per_s", "calls per second"),
    ("consumer_error_rate_ratio", "ratio 0–1 (0.05 = 5 %)"),
    ("eventdeck_rejected_inputs_total", "inputs"),
    ("kafka_group_status", ""),
    ("rabbitmq_node_up", ""),
    ("kafka_group_members", "members"),
    ("shop_orders_custom", ""),  # not Eventdeck's: no unit claimed
])
def test_unit_from_the_catalogue(metric, unit):
    assert unit_of(metric) == unit


@pytest.mark.parametrize("metric, expect", [
    ("kafka_group_lag_messages", "Lag in messages: max(0, log-end offset - committed offset)."),
    ("kafka_group_partition_status", "Burrow status: 0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP, 5 ERR"),
    ("shop_orders_custom", "Shop: orders custom."),
])
def test_help_is_the_catalogues(metric, expect):
    assert help_of(metric).startswith(expect)


@pytest.mark.parametrize("metric, label", [
    ("kafka_group_lag_messages", "kafka_group_lag_messages (messages)"),
    ("kafka_group_status", "kafka_group_status"),
])
def test_metric_label(metric, label):
    assert metric_label(metric) == label


@pytest.mark.parametrize("rows, selector", [
    ([], {}),
    ([Row("group", "=", "orders")], {"group": "orders"}),
    ([Row("group", "!=", "orders")], {"group": {"not": "orders"}}),
    ([Row("topic", "glob", "shop.*"), Row("cluster", "regex", "prod-.+")],
     {"topic": {"glob": "shop.*"}, "cluster": {"regex": "prod-.+"}}),
    ([Row("topic", "not glob", "tmp*"), Row("queue", "not regex", "x|y")],
     {"topic": {"not_glob": "tmp*"}, "queue": {"not_regex": "x|y"}}),
    ([Row("", "=", "ignored"), Row("  ", "glob", "*")], {}),          # rows without a label are left out
    ([Row("group", "=", "a"), Row("group", "=", "b")], {"group": "b"}),  # one matcher per label: the last row
    ([Row(" group ", "=", "")], {"group": ""}),                       # empty value: the label is absent
])
def test_selector_of_rows(rows, selector):
    assert selector_of(rows) == selector


@pytest.mark.parametrize("selector", [
    {}, {"group": "orders"}, {"group": {"not": "x"}, "topic": {"glob": "a*"}},
    {"queue": {"regex": "q.+"}, "vhost": {"not_regex": "/tmp.*"}, "cluster": {"not_glob": "dev*"}},
])
def test_rows_round_trip(selector):
    assert selector_of(rows_of(selector)) == selector


def test_rows_of_a_bad_selector_names_the_label():
    with pytest.raises(RuleError, match="selector.group"):
        rows_of({"group": {"regex": "(unclosed"}})


def _p(value, age_s=0, **labels):
    return SeriesPoint(labels, NOW - age_s * 1000, float(value))


POINTS = [
    _p(900, group="orders", topic="a"), _p(100, group="orders", topic="b"), _p(2000, group="billing", topic="a"),
    _p(5000, age_s=3600, group="old", topic="a"),  # stale: no data
]


def _rule(**kw):
    return rule_from_dict({"name": "r", "metric": "kafka_group_lag_messages", "threshold": 500, **kw})


@pytest.mark.parametrize("kw, counts, text", [
    ({}, (4, 4, 3, 3, 2), "matches 4 of 4 series (1 stale: no data), 2 of 3 series over the threshold now."),
    ({"selector": {"group": "orders"}}, (4, 2, 2, 2, 1), "matches 2 of 4 series, 1 of 2 series over the threshold now."),
    ({"selector": {"group": "nobody"}}, (4, 0, 0, 0, 0), "matches 0 of 4 series."),
    ({"selector": {"topic": {"not": "b"}}, "comparison": "<", "threshold": 1000}, (4, 3, 2, 2, 1), None),
    ({"aggregation": "sum", "by": ["group"]}, (4, 4, 3, 2, 2),
     "matches 4 of 4 series (1 stale: no data), 2 of 2 groups over the threshold now."),
    ({"aggregation": "max", "threshold": 5000}, (4, 4, 3, 1, 0), None),
    ({"selector": {"group": {"glob": "o*"}}, "stale_after_s": 7200}, (4, 3, 3, 3, 2), None),
])
def test_preview_counts(kw, counts, text):
    p = preview(_rule(**kw), POINTS, NOW)
    assert (p.total, p.matched, p.fresh, p.groups, p.over) == counts
    if text:
        assert p.text() == text


def test_preview_examples_worst_first():
    p = preview(_rule(), POINTS, NOW, examples=1)
    assert p.examples == (({"group": "billing", "topic": "a"}, 2000.0),)
    low = preview(_rule(comparison="<", threshold=1000), POINTS, NOW)
    assert [v for _lab, v in low.examples] == [100.0, 900.0]


def test_preview_of_no_series():
    assert preview(_rule(), [], NOW).text() == "matches 0 of 0 series."


def test_label_names_and_values():
    assert label_names(POINTS) == ["group", "topic"]
    assert label_values(POINTS, "group") == ["billing", "old", "orders"]
    assert label_values(POINTS, "nope") == []
    assert label_values(POINTS, "group", limit=1) == ["billing"]
