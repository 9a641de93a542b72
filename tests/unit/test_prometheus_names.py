"""Prometheus exposition names: kafka-lag-exporter / rabbitmq_prometheus names for known series, store names
otherwise, counters for *_total, and the derived max lag per group (pure: rows in, families out)."""
from __future__ import annotations

import json

import pytest

from runner.prometheus import exposed, families


@pytest.mark.parametrize("metric, labels, name, out", [
    ("kafka_group_lag_messages", {"cluster": "p", "group": "g", "topic": "t", "partition": "0"},
     "eventdeck_kafka_consumergroup_group_lag", {"cluster_name": "p", "group": "g", "topic": "t", "partition": "0"}),
    ("kafka_group_lag_seconds", {"cluster": "p", "group": "g"}, "eventdeck_kafka_consumergroup_group_lag_seconds",
     {"cluster_name": "p", "group": "g"}),
    ("kafka_group_max_lag_seconds", {"cluster": "p", "group": "g"},
     "eventdeck_kafka_consumergroup_group_max_lag_seconds", {"cluster_name": "p", "group": "g"}),
    ("kafka_group_total_lag_messages", {"cluster": "p", "group": "g"}, "eventdeck_kafka_consumergroup_group_sum_lag",
     {"cluster_name": "p", "group": "g"}),
    ("rabbitmq_queue_ready_messages", {"cluster": "r", "vhost": "/", "queue": "q"},
     "eventdeck_rabbitmq_queue_messages_ready", {"cluster": "r", "vhost": "/", "queue": "q"}),
    ("rabbitmq_queue_unacked_messages", {"queue": "q"}, "eventdeck_rabbitmq_queue_messages_unacked", {"queue": "q"}),
    ("rabbitmq_queue_consumers", {"queue": "q"}, "eventdeck_rabbitmq_queue_consumers", {"queue": "q"}),
    ("kafka_group_status", {"cluster": "p", "group": "g"}, "eventdeck_kafka_group_status", {"cluster": "p", "group": "g"}),
    ("collector_up", {"target": "kafka:p"}, "eventdeck_collector_up", {"target": "kafka:p"}),
    ("rabbitmq_stream_max_lag_messages", {"cluster": "r", "vhost": "/", "stream": "s"},
     "eventdeck_rabbitmq_detailed_stream_consumer_max_offset_lag", {"cluster": "r", "vhost": "/", "queue": "s"}),
    ("rabbitmq_stream_consumer_lag_seconds", {"stream": "s", "consumer": "c"},
     "eventdeck_rabbitmq_stream_consumer_lag_seconds", {"stream": "s", "consumer": "c"}),
    ("rabbitmq_queue_delivery_limit_without_dlx", {"queue": "q"}, "eventdeck_rabbitmq_queue_delivery_limit_without_dlx",
     {"queue": "q"}),
    # a rename never hides a label the series already has
    ("kafka_group_lag_messages", {"cluster": "a", "cluster_name": "b"}, "eventdeck_kafka_consumergroup_group_lag",
     {"cluster": "a", "cluster_name": "b"}),
])
def test_exposed_names(metric, labels, name, out):
    assert exposed(metric, labels) == (name, out)


def _rows(*items):
    return [(m, json.dumps(lab, sort_keys=True), 1_000, v) for m, lab, v in items]


def test_families_types_values_and_max_lag():
    fams = {f.name: f for f in families(_rows(
        ("kafka_group_lag_messages", {"cluster": "p", "group": "g", "topic": "t", "partition": "0"}, 5.0),
        ("kafka_group_lag_messages", {"cluster": "p", "group": "g", "topic": "t", "partition": "1"}, 9.0),
        ("kafka_group_lag_messages", {"cluster": "p", "group": "h", "topic": "t", "partition": "0"}, 2.0),
        ("consumer_errors_total", {"consumer": "c", "exception": "E"}, 3.0),
        ("dlq_messages", {"broker": "kafka", "cluster": "p", "dlq": "d"}, 4.0),
        ("dlq_messages", {"broker": "rabbitmq", "cluster": "r", "vhost": "/", "dlq": "d"}, 6.0),
    ))}
    assert sorted(fams) == ["eventdeck_consumer_errors", "eventdeck_dlq_messages",
                            "eventdeck_kafka_consumergroup_group_lag", "eventdeck_kafka_consumergroup_group_max_lag"]
    assert fams["eventdeck_consumer_errors"].type == "counter"
    assert [s.name for s in fams["eventdeck_consumer_errors"].samples] == ["eventdeck_consumer_errors_total"]
    assert fams["eventdeck_dlq_messages"].type == "gauge"
    assert [s.value for s in fams["eventdeck_dlq_messages"].samples] == [4.0, 6.0]
    assert {(s.labels["group"], s.value) for s in fams["eventdeck_kafka_consumergroup_group_max_lag"].samples} == \
        {("g", 9.0), ("h", 2.0)}
    assert fams["eventdeck_kafka_consumergroup_group_max_lag"].samples[0].labels == {"cluster_name": "p", "group": "g"}


def test_no_rows_no_families():
    assert families([]) == []


def test_help_kind_and_names_come_from_the_catalogue():
    from core import metrics

    fams = {f.name: f for f in families(_rows(
        ("eventdeck_rejected_inputs_total", {"source": "store", "reason": "label_value"}, 2.0),
        ("collector_spool_dropped_samples_total", {"target": "kafka:p"}, 1.0),
        ("rabbitmq_queue_ready_messages", {"cluster": "r", "vhost": "/", "queue": "q"}, 3.0),
    ))}
    # the rejected-inputs counter keeps its own prefix once, with its help text rather than its name
    assert sorted(fams) == ["eventdeck_collector_spool_dropped_samples", "eventdeck_rabbitmq_queue_messages_ready",
                            "eventdeck_rejected_inputs"]
    assert [s.name for s in fams["eventdeck_rejected_inputs"].samples] == ["eventdeck_rejected_inputs_total"]
    for fam, metric in (("eventdeck_rejected_inputs", "eventdeck_rejected_inputs_total"),
                        ("eventdeck_collector_spool_dropped_samples", "collector_spool_dropped_samples_total"),
                        ("eventdeck_rabbitmq_queue_messages_ready", "rabbitmq_queue_ready_messages")):
        assert fams[fam].documentation == metrics.CATALOGUE[metric].help
        assert fams[fam].type == metrics.CATALOGUE[metric].kind
        assert fams[fam].documentation != metric


def test_a_metric_outside_the_catalogue_is_still_exposed():
    """Rows an older version wrote: eventdeck_<metric>, *_total a counter, its name as help."""
    fams = {f.name: f for f in families(_rows(("old_thing_total", {"cluster": "c"}, 1.0),
                                               ("eventdeck_old_gauge", {}, 2.0)))}
    assert fams["eventdeck_old_thing"].type == "counter"
    assert fams["eventdeck_old_gauge"].type == "gauge"
    assert exposed("eventdeck_old_gauge", {}) == ("eventdeck_old_gauge", {})


@pytest.mark.parametrize("metric", ["kafka_group_lag_messages", "rabbitmq_stream_max_lag_messages",
                                    "eventdeck_rejected_inputs_total", "dlq_messages"])
def test_exposed_name_is_the_catalogues(metric):
    from core import metrics

    m = metrics.CATALOGUE[metric]
    name, labels = exposed(metric, {lab: "x" for lab in m.labels})
    assert name == m.exposed
    assert set(labels) == {m.exposed_labels.get(lab, lab) for lab in m.labels}
