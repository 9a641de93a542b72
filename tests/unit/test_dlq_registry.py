"""dlq.registry: what each broker provides, as tables (the broker I/O itself is in the integration tests)."""
from __future__ import annotations

import pytest

from config import Settings
from dlq import registry
from dlq.context import ReplayError, target_policy
from dlq.targets import Target

SETTINGS = Settings.model_validate({
    "store": {"path": "/nonexistent/eventdeck.db"},
    "kafka": {"clusters": [{"name": "k", "bootstrap_servers": ["127.0.0.1:9"],
                            "dlq_map": {"orders-dlq": {"source_topic": "orders"}}}]},
    "rabbitmq": {"clusters": [{"name": "r", "amqp_url": "amqp://127.0.0.1:5672/%2F", "username": "u",
                               "dlq_map": {"q.dlq": {"source_queue": "q", "vhost": "/"},
                                           "v.dlq": {"source_queue": "v", "vhost": "other"}}}]}})


@pytest.mark.parametrize("broker, name, want", [
    ("kafka", "orders.DLT.parking", Target("kafka", "parking", topic="orders.DLT.parking")),
    ("rabbitmq", "q.dlq.parking", Target("rabbitmq", "parking", exchange="", routing_key="q.dlq.parking")),
])
def test_parking_lot(broker, name, want):
    assert registry.get(broker).parking(name) == want


@pytest.mark.parametrize("broker, vhosts, requeues, schema, live", [
    ("kafka", False, False, True, False),
    ("rabbitmq", True, True, False, True),
])
def test_traits(broker, vhosts, requeues, schema, live):
    kind = registry.get(broker)
    assert (kind.name, kind.vhosts, kind.browse_requeues, kind.schema_filters, kind.live_sources) == \
        (broker, vhosts, requeues, schema, live)
    assert (kind.dropped_headers is not None) is requeues  # only RabbitMQ's replay leaves headers out


@pytest.mark.parametrize("broker, dlq, vhost, mapped", [
    ("kafka", "orders-dlq", None, ["orders"]),
    ("kafka", "other-dlq", None, []),
    ("rabbitmq", "q.dlq", "/", ["q"]),
    ("rabbitmq", "q.dlq", None, ["q"]),  # no vhost: the default one
    ("rabbitmq", "v.dlq", "/", []),  # mapped in another vhost only
    ("rabbitmq", "v.dlq", "other", ["v"]),
])
def test_policy_sources_from_the_config_map(broker, dlq, vhost, mapped):
    kind = registry.get(broker)
    patterns, got = kind.policy_sources(kind.cluster(SETTINGS, broker[0]), [dlq], vhost)
    assert got == mapped and patterns == kind.cluster(SETTINGS, broker[0]).dlq_patterns
    assert set(mapped) <= target_policy(SETTINGS, broker, broker[0], dlq, vhost).linked


@pytest.mark.parametrize("broker, key", [("kafka", "kafka.clusters"), ("rabbitmq", "rabbitmq.clusters")])
def test_unknown_cluster_names_the_key(broker, key):
    with pytest.raises(ReplayError, match=rf"^{broker} cluster 'nope' is not in the configuration \({key}\)$"):
        registry.get(broker).cluster(SETTINGS, "nope")


@pytest.mark.parametrize("name", ["", "pulsar", "Kafka"])
def test_unknown_broker_refused(name):
    with pytest.raises(ValueError, match="^broker: must be 'kafka' or 'rabbitmq'"):
        registry.get(name)
