"""Rule validation (errors name the field), label matching and aggregation of series."""
from __future__ import annotations

import pytest

from alerts.rules import Matcher, RuleError, SeriesPoint, breaches, group_values, render_summary, rule_from_dict

NOW = 1_700_000_000_000
BASE = {"name": "lag", "metric": "kafka_group_lag_messages", "threshold": 100}


@pytest.mark.parametrize("change,field,why", [
    ({"for_s": -5}, "for_s", "a negative duration is refused"),
    ({"for": -5}, "for_s", "the 'for' alias is validated the same way"),
    ({"selector": {"topic": {"regex": "orders(["}}}, "selector.topic", "a regex that does not compile"),
    ({"selector": {"topic": {"bogus": "x"}}}, "selector.topic", "an unknown matcher operator"),
    ({"metric": "Kafka Lag"}, "metric", "not a <source>_<thing>_<unit> metric name"),
    ({"name": ""}, "name", "a rule needs a name"),
    ({"comparison": "=>"}, "comparison", "only > >= < <= == != compare"),
    ({"threshold": float("nan")}, "threshold", "NaN never compares: refused"),
    ({"severity": "urgent"}, "severity", "severity is info, warning or critical"),
    ({"aggregation": "median"}, "aggregation", "unsupported aggregation"),
    ({"by": ["cluster"]}, "rule", "by needs an aggregation other than per-series (model-level check)"),
    ({"summary": "lag {value"}, "summary", "an unbalanced template brace"),
    ({"summary": "{value.__class__}"}, "summary", "no attribute access through a template"),
    ({"notify": ["json://user:token@host/x"]}, "notify", "a URL (with its token) is never stored in a rule"),
    ({"no_data": "zero"}, "no_data", "no data policy is keep, ok or alerting"),
    ({"repeat_interval_s": 0}, "repeat_interval_s", "a zero repeat interval would spam"),
    ({"colour": "red"}, "colour", "unknown keys are refused, not ignored"),
])
def test_bad_rule_names_the_field(change, field, why):
    with pytest.raises(RuleError) as err:
        rule_from_dict({**BASE, **change})
    assert err.value.field == field, why
    assert str(err.value).startswith(f"{field}:"), why


def test_missing_threshold_named():
    with pytest.raises(RuleError, match="^threshold: Field required"):
        rule_from_dict({"name": "x", "metric": "collector_up"})


def test_round_trip_through_dict():
    rule = rule_from_dict({**BASE, "selector": {"group": "g1", "topic": {"glob": "orders.*"},
                                                "cluster": {"not_regex": "test-.*"}}, "for": 30})
    assert rule.for_s == 30
    assert rule_from_dict(rule.to_dict()) == rule


@pytest.mark.parametrize("matcher,labels,hit,why", [
    (Matcher(label="topic", value="orders"), {"topic": "orders"}, True, "exact equal"),
    (Matcher(label="topic", value="orders"), {"topic": "orders.dlq"}, False, "exact is not a prefix match"),
    (Matcher(label="topic", op="glob", value="orders.*"), {"topic": "orders.eu"}, True, "glob wildcard"),
    (Matcher(label="topic", op="glob", value="Orders.*"), {"topic": "orders.eu"}, False, "glob is case-sensitive"),
    (Matcher(label="topic", op="regex", value="ord.rs"), {"topic": "orders-x"}, False, "regex is a full match"),
    (Matcher(label="topic", op="regex", value="ord.rs.*"), {"topic": "orders-x"}, True, "anchored regex with tail"),
    (Matcher(label="env", value=""), {"topic": "x"}, True, "a missing label matches the empty string"),
    (Matcher(label="env", value="prod", negate=True), {"env": "dev"}, True, "negated exact"),
    (Matcher(label="env", op="glob", value="pr*", negate=True), {"env": "prod"}, False, "negated glob"),
])
def test_matcher_table(matcher, labels, hit, why):
    assert matcher.matches(labels) is hit, why


def pts(*items):
    return [SeriesPoint(labels, ts, value) for labels, ts, value in items]


SERIES = pts(
    ({"cluster": "a", "group": "g1", "topic": "t1"}, NOW - 1_000, 10.0),
    ({"cluster": "a", "group": "g1", "topic": "t2"}, NOW - 1_000, 30.0),
    ({"cluster": "a", "group": "g2", "topic": "t1"}, NOW - 1_000, 5.0),
    ({"cluster": "b", "group": "g1", "topic": "t1"}, NOW - 600_000, 99.0),  # stale: 10 min old
)


@pytest.mark.parametrize("extra,expected,why", [
    ({}, {(("cluster", "a"), ("group", "g1"), ("topic", "t1")): 10.0,
          (("cluster", "a"), ("group", "g1"), ("topic", "t2")): 30.0,
          (("cluster", "a"), ("group", "g2"), ("topic", "t1")): 5.0}, "per series; the stale one is no data"),
    ({"aggregation": "max", "by": ["group"]}, {(("group", "g1"),): 30.0, (("group", "g2"),): 5.0}, "max by group"),
    ({"aggregation": "sum", "by": ["cluster"]}, {(("cluster", "a"),): 45.0}, "sum by cluster (b is stale)"),
    ({"aggregation": "avg"}, {(): 15.0}, "avg over everything: one group with no labels"),
    ({"aggregation": "count", "selector": {"group": "g1"}}, {(): 2.0}, "count of the fresh selected series"),
    ({"aggregation": "min", "selector": {"topic": {"regex": "t[0-9]"}}, "by": ["topic"]},
     {(("topic", "t1"),): 5.0, (("topic", "t2"),): 30.0}, "min by topic with a regex selector"),
    ({"selector": {"group": "nope"}}, {}, "nothing selected: no groups (no data)"),
])
def test_group_values_table(extra, expected, why):
    rule = rule_from_dict({**BASE, **extra})
    got = {tuple(sorted(labels.items())): value for labels, value in group_values(rule, SERIES, NOW).values()}
    assert got == expected, why


@pytest.mark.parametrize("comparison,value,hit", [
    (">", 100.0, False), (">", 100.5, True), (">=", 100.0, True), ("<", 99.0, True),
    ("<=", 101.0, False), ("==", 100.0, True), ("!=", 100.0, False),
])
def test_comparisons(comparison, value, hit):
    # the threshold is 100: each operator on and around it
    assert breaches(rule_from_dict({**BASE, "comparison": comparison}), value) is hit


def test_summary_template():
    rule = rule_from_dict({**BASE, "summary": "{group} on {cluster}: {value} > {threshold} ({missing})"})
    assert render_summary(rule, {"group": "g1", "cluster": "a"}, 150.0) == "g1 on a: 150 > 100 (?)"
    assert "no data" in render_summary(rule_from_dict(BASE), {}, None)


@pytest.mark.parametrize("named, severity, want", [
    (["SLACK"], "warning", ["SLACK"]),
    (["AWS_SECRET_ACCESS_KEY"], "warning", ["PAGER"]),  # not configured: never read, severity default instead
    (["SLACK", "HOME"], "critical", ["SLACK"]),
    ([], "critical", ["SLACK"]),
    ([], "info", []),
])
def test_notify_may_name_only_configured_variables(named, severity, want):
    from alerts.evaluator import notify_targets

    assert notify_targets(named, severity, {"warning": ["PAGER"], "critical": ["SLACK"]}) == want
