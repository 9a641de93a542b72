"""The replay target policy (pure): header-derived targets only to linked sources or allowed patterns;
and the pin a Confirm freezes into a request."""
from __future__ import annotations

import pytest

from dlq.plan import RequestError, pinned_count, pinned_ranges, validate_request
from dlq.policy import BLOCKED, TargetPolicy, linked_sources
from dlq.targets import NoTarget, Target

K = lambda topic, source="spring": Target("kafka", source, topic=topic)  # noqa: E731
Q = lambda queue, source="x-death": Target("rabbitmq", source, exchange="", routing_key=queue)  # noqa: E731
X = lambda ex, rk="k", source="x-death": Target("rabbitmq", source, exchange=ex, routing_key=rk)  # noqa: E731

LINKED = linked_sources("orders.dlq", ["*.dlq", "dlq.*"], mapped=["billing"], topology=["orders-v2"])


@pytest.mark.parametrize("target, allowed, ok, why", [
    (K("orders"), (), True, "the convention links orders.dlq to orders"),
    (K("billing"), (), True, "the config map links it"),
    (K("orders-v2"), (), True, "the broker topology links it"),
    (K("payments"), (), False, "a Spring header naming any other topic"),
    (K("payments", "connect"), (), False, "Connect headers likewise"),
    (K("payments", "eventdeck"), (), False, "our own header is honoured only under the same policy"),
    (K("payments"), ("pay*",), True, "dlq.allowed_targets patterns allow more"),
    (K("payments"), ("exchange:pay*",), False, "an exchange pattern does not allow a topic"),
    (K("anything", "explicit"), (), True, "the operator's explicit target is theirs (shown and audited)"),
    (K("anything", "map"), (), True, "config-derived targets are not header-derived"),
    (K("anything", "convention"), (), True, "nor is the convention"),
    (K("orders.dlq.parking", "parking"), (), True, "parking is Eventdeck's own"),
    (Q("orders"), (), True, "x-death naming a linked queue"),
    (Q("secrets"), (), False, "x-death naming another queue"),
    (X("amq.topic"), (), False, "an exchange from headers (the review's finding)"),
    (X("orders", source="eventdeck"), (), False, "exchange named like a linked queue is still an exchange"),
    (X("amq.topic"), ("amq.*",), False, "a plain pattern never allows an exchange"),
    (X("orders-x"), ("exchange:orders-*",), True, "exchange targets need an exchange: pattern"),
    (Q(""), (), False, "an empty queue name is not linked"),
])
def test_policy(target, allowed, ok, why):
    policy = TargetPolicy("orders.dlq", "c1", LINKED, allowed)
    got = policy.check(target)
    assert (got is target) is ok, why
    if not ok:
        assert isinstance(got, NoTarget) and str(got).startswith(BLOCKED) and "c1" in str(got), why


def test_linked_sources_take_every_invertible_pattern():
    assert linked_sources("dlq.a.dlq", ["*.dlq", "dlq.*", "*-x-*"]) == {"dlq.a", "a.dlq"}


KREQ = {"broker": "kafka", "cluster": "c", "dlq": "d"}
RREQ = {"broker": "rabbitmq", "cluster": "c", "dlq": "d"}


@pytest.mark.parametrize("req, pin", [
    (KREQ, {"ranges": {"0": [0, 10], "3": [5, 5]}}),
    (RREQ, {"count": 0}),
    (RREQ, {"count": 2 ** 53}),
])
def test_pin_valid(req, pin):
    assert validate_request({**req, "pin": pin})["pin"] == pin


@pytest.mark.parametrize("req, pin", [
    (KREQ, {"count": 3}),  # a Kafka pin is offset ranges
    (RREQ, {"ranges": {"0": [0, 1]}}),
    (KREQ, {"ranges": {"0": [10, 5]}}),  # start after end
    (KREQ, {"ranges": {"-1": [0, 1]}}),
    (KREQ, {"ranges": {"0": [0, float("inf")]}}),
    (KREQ, {"ranges": {"0": [True, 1]}}),
    (KREQ, {"ranges": {"0": [0, 2 ** 64]}}),
    (KREQ, {"ranges": [[0, 1]]}),
    (RREQ, {"count": -1}),
    (RREQ, {"count": float("nan")}),
    (RREQ, {"count": 1, "extra": 2}),
    (RREQ, "3"),
])
def test_pin_refused(req, pin):
    with pytest.raises(RequestError, match="pin"):
        validate_request({**req, "pin": pin})


@pytest.mark.parametrize("pin, current, want", [
    (None, {0: (0, 10)}, {0: (0, 10)}),
    ({"ranges": {"0": [0, 4]}}, {0: (0, 10), 1: (0, 7)}, {0: (0, 4)}),  # later arrivals and partitions wait
    ({"ranges": {"0": [0, 4]}}, {0: (2, 10)}, {0: (2, 4)}),  # retention removed the first records
    ({"ranges": {"0": [0, 4]}}, {0: (6, 10)}, {0: (6, 6)}),  # all pinned records gone: nothing to read
    ({"ranges": {"5": [0, 4]}}, {0: (0, 10)}, {}),  # a partition that no longer exists
])
def test_pinned_ranges(pin, current, want):
    assert pinned_ranges({"pin": pin} if pin else {}, current) == want


@pytest.mark.parametrize("pin, depth, want", [(None, 7, 7), ({"count": 3}, 7, 3), ({"count": 9}, 7, 7),
                                              ({"count": 0}, 7, 0)])
def test_pinned_count(pin, depth, want):
    assert pinned_count({"pin": pin} if pin else {}, depth) == want


def test_a_parking_lot_has_the_sources_of_its_dlq():
    from config import Settings
    from dlq.context import target_policy

    st = Settings.model_validate({"rabbitmq": {"clusters": [{"name": "r", "dlq_map": {
        "odd": {"source_queue": "billing"}}}]}, "dlq": {"allowed_targets": {"r": ["extra-*"]}}})
    for dlq, linked in (("orders.dlq", {"orders"}), ("orders.dlq.parking", {"orders"}),
                        ("odd.parking", {"billing"}), ("odd", {"billing"})):
        policy = target_policy(st, "rabbitmq", "r", dlq, "/")  # no store: no topology links
        assert linked <= policy.linked and policy.allowed == ("extra-*",), dlq
        assert not policy.permits(Q(dlq + ".parking")), dlq  # never back into a parking lot from headers


def test_live_check_links_a_queue_only_when_asked_and_true():
    from dlq.policy import TargetPolicy
    from dlq.targets import Target
    asked = []
    live = TargetPolicy("dlq", "r", live=lambda q: asked.append(q) or q == "orders")
    assert live.permits(Target("rabbitmq", "x-death", exchange="", routing_key="orders"))
    assert not live.permits(Target("rabbitmq", "x-death", exchange="", routing_key="payroll"))
    assert not live.permits(Target("rabbitmq", "x-death", exchange="amq.direct", routing_key="orders"))  # exchange
    assert asked == ["orders", "payroll"]


@pytest.mark.parametrize("queue, exchange, bindings, fed", [
    ({"arguments": {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"}}, None, [], True),
    ({"arguments": {"x-dead-letter-exchange": ""}}, None, [], False),            # keeps its own key: "src"
    ({"arguments": {"x-dead-letter-exchange": "dlx"}}, {"type": "fanout"},
     [{"destination_type": "queue", "destination": "dlq", "routing_key": ""}], True),
    ({"effective_policy_definition": {"dead-letter-exchange": "dlx", "dead-letter-routing-key": "a.b"}},
     {"type": "topic"}, [{"destination_type": "queue", "destination": "dlq", "routing_key": "a.*"}], True),
    ({"arguments": {"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "k"}}, {"type": "direct"},
     [{"destination_type": "queue", "destination": "dlq", "routing_key": "other"}], False),
    ({"arguments": {}}, None, [], False),                                        # does not dead-letter
])
def test_feeds_table(queue, exchange, bindings, fed):
    from brokers.rabbit_links import feeds
    assert feeds("src", queue, exchange, bindings, "dlq") is fed


@pytest.mark.parametrize("pattern, key, ok", [("a.*", "a.b", True), ("a.*", "a.b.c", False), ("a.#", "a", True),
                                              ("#", "x.y", True), ("#.z", "x.y.z", True), ("a.#.c", "a.c", True)])
def test_topic_matches(pattern, key, ok):
    from brokers.rabbit_links import topic_matches
    assert topic_matches(pattern, key) is ok
