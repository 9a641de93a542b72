"""Alertmanager-style inhibition, pure (alerts.inhibit): matching, equal labels, derived labels, built-ins."""
import pytest

from alerts.inhibit import Alert, Links, alert_of, inhibited_by, may_be_source, parse_rule, rules_from
from alerts.rules import RuleError

BUILTIN = rules_from([])


def alert(rule, metric, labels, value=1.0, links=None):
    return alert_of((rule, str(sorted(labels.items()))), metric,
                    {**labels, "alertname": rule, "severity": "critical"}, value, links)


DOWN_K1 = alert("collector-down", "collector_up", {"target": "kafka:c1"}, 0.0)
DOWN_R1 = alert("collector-down", "collector_up", {"target": "rabbitmq:c1"}, 0.0)
LINKS = Links({("kafka", "c1", "", "orders"): {"orders.dlq"}, ("rabbitmq", "c1", "/", "work"): {"work.dlq"}},
              {("c1", "payments"): {"orders", "refunds"}})


@pytest.mark.parametrize(
    "target, firing, expected",
    [
        # the Kafka collector of c1 is down: c1's Kafka alerts are inhibited ...
        (alert("orders-lag", "kafka_group_lag_messages", {"cluster": "c1", "group": "g"}), [DOWN_K1],
         ["collector-down-inhibits-its-cluster"]),
        (alert("dlq-growing", "dlq_inflow_rate_per_s", {"broker": "kafka", "cluster": "c1", "dlq": "x"}), [DOWN_K1],
         ["collector-down-inhibits-its-cluster"]),
        # ... not another cluster's, nor a RabbitMQ cluster that happens to be named c1
        (alert("orders-lag", "kafka_group_lag_messages", {"cluster": "c2", "group": "g"}), [DOWN_K1], []),
        (alert("q", "rabbitmq_queue_ready_messages", {"cluster": "c1", "queue": "w"}), [DOWN_K1], []),
        (alert("q", "rabbitmq_queue_ready_messages", {"cluster": "c1", "queue": "w"}), [DOWN_R1],
         ["collector-down-inhibits-its-cluster"]),
        # collector-down never inhibits another collector-down
        (alert("collector-down", "collector_up", {"target": "kafka:c1"}, 0.0),
         [alert("collector-down", "collector_up", {"target": "kafka:c1", "x": "1"}, 0.0)], []),
        # a STOP group inhibits dlq-growing of the DLQ of a topic it consumes ...
        (alert("dlq-growing", "dlq_inflow_rate_per_s", {"broker": "kafka", "cluster": "c1", "dlq": "orders.dlq"}),
         [alert("kafka-group-stalled", "kafka_group_status", {"cluster": "c1", "group": "payments"}, 4.0, LINKS)],
         ["stopped-consumer-inhibits-its-dlq"]),
        # ... not when STALL (it is attached and may still dead-letter), nor another DLQ
        (alert("dlq-growing", "dlq_inflow_rate_per_s", {"broker": "kafka", "cluster": "c1", "dlq": "orders.dlq"}),
         [alert("kafka-group-stalled", "kafka_group_status", {"cluster": "c1", "group": "payments"}, 3.0, LINKS)], []),
        (alert("dlq-growing", "dlq_inflow_rate_per_s", {"broker": "kafka", "cluster": "c1", "dlq": "other.dlq"}),
         [alert("kafka-group-stalled", "kafka_group_status", {"cluster": "c1", "group": "payments"}, 4.0, LINKS)], []),
        # a STOP queue inhibits its DLQ's dlq-growing (same vhost)
        (alert("dlq-growing", "dlq_inflow_rate_per_s",
               {"broker": "rabbitmq", "cluster": "c1", "vhost": "/", "dlq": "work.dlq"}),
         [alert("rabbitmq-queue-stalled", "rabbitmq_queue_status", {"cluster": "c1", "vhost": "/", "queue": "work"},
                4.0, LINKS)], ["stopped-consumer-inhibits-its-dlq"]),
        (alert("dlq-growing", "dlq_inflow_rate_per_s",
               {"broker": "rabbitmq", "cluster": "c1", "vhost": "other", "dlq": "work.dlq"}),
         [alert("rabbitmq-queue-stalled", "rabbitmq_queue_status", {"cluster": "c1", "vhost": "/", "queue": "work"},
                4.0, LINKS)], []),
        # nothing firing, nothing inhibited
        (alert("orders-lag", "kafka_group_lag_messages", {"cluster": "c1"}), [], []),
    ],
)
def test_builtin_inhibitions(target, firing, expected):
    assert inhibited_by(target, firing, BUILTIN) == expected


def test_equal_treats_missing_as_empty_and_both_sides_do_not_inhibit_each_other():
    rule = parse_rule({"name": "crit-mutes-warn", "source_matchers": {"severity": {"regex": "critical|warning"}},
                       "target_matchers": {"severity": "warning"}, "equal": ["group"]}, "r")
    crit = Alert(("a", "1"), {"severity": "critical", "group": "g"})
    warn = Alert(("b", "1"), {"severity": "warning", "group": "g"})
    warn2 = Alert(("c", "1"), {"severity": "warning", "group": "g"})
    other = Alert(("d", "1"), {"severity": "warning"})
    assert inhibited_by(warn, [crit], [rule]) == ["crit-mutes-warn"]
    assert inhibited_by(warn, [warn2], [rule]) == []  # both match both sides
    assert inhibited_by(other, [crit], [rule]) == []  # group "" != "g"
    assert inhibited_by(other, [Alert(("e", "1"), {"severity": "critical"})], [rule]) == ["crit-mutes-warn"]


@pytest.mark.parametrize(
    "spec, field",
    [
        ("nope", "r"),
        ({"source_matchers": {"a": "b"}}, "r"),
        ({"source_matchers": {"a": "b"}, "target_matchers": {"c": "d"}, "equal": "cluster"}, "r.equal"),
        ({"source_matchers": {"a": "b"}, "target_matchers": {"c": "d"}, "equal": ["no-dash"]}, "r.equal"),
        ({"source_matchers": {"a": {"regex": "("}}, "target_matchers": {"c": "d"}}, "r.source_matchers.a"),
        ({"source_matchers": {"a": "b"}, "target_matchers": {"c": "d"}, "bogus": 1}, "r.bogus"),
    ],
)
def test_bad_inhibit_rules_name_the_key(spec, field):
    with pytest.raises(RuleError) as err:
        parse_rule(spec, "r")
    assert err.value.field == field


def test_may_be_source():
    assert may_be_source("collector-down", "critical", {}, BUILTIN)
    assert may_be_source("kafka-group-stalled", "critical", {}, BUILTIN)
    assert not may_be_source("dlq-growing", "warning", {}, BUILTIN)
