"""Replay target resolution in DESIGN.md's order (pure)."""
from __future__ import annotations

import struct

import pytest

from config.kafka import DEFAULT_DLQ_PATTERNS
from dlq.headers import decode
from dlq.targets import NoTarget, convention_source, resolve_kafka, resolve_rabbit

SPRING = [("kafka_dlt-original-topic", b"orders"), ("kafka_dlt-original-partition", struct.pack(">i", 2)),
          ("kafka_dlt-original-offset", struct.pack(">q", 5))]
CONNECT = [("__connect.errors.topic", b"payments"), ("__connect.errors.partition", b"1"),
           ("__connect.errors.offset", b"9")]
OURS = [("eventdeck-replay-target", b'{"topic": "orders-v2", "partition": null}')]
RABBIT_PATTERNS = ["*.dlq", "*-dlq", "*_dlq", "dlq.*", "*.dlx"]


@pytest.mark.parametrize("headers, dlq, explicit, dmap, want", [
    # 1. the operator's explicit choice beats every header
    (SPRING, "orders.DLT", {"topic": "manual", "partition": 0}, {}, ("explicit", "manual", 0)),
    # 2. our own header beats Spring's
    (OURS + SPRING, "orders.DLT", None, {}, ("eventdeck", "orders-v2", None)),
    # 3. Spring keeps the original partition
    (SPRING, "x.DLT", None, {"x.DLT": "mapped"}, ("spring", "orders", 2)),
    # 4. Connect when there is no Spring header
    (CONNECT, "dlq.payments", None, {}, ("connect", "payments", 1)),
    # Spring beats Connect when both are present
    (CONNECT + SPRING, "x", None, {}, ("spring", "orders", 2)),
    # 6. the config map when headers say nothing; the producer picks the partition
    ([], "weird-name", None, {"weird-name": "billing"}, ("map", "billing", None)),
    # 7. the naming convention last
    ([], "orders.DLT", None, {}, ("convention", "orders", None)),
    ([], "dlq.shipping", None, {}, ("convention", "shipping", None)),
    ([], "a_b_dlq", None, {}, ("convention", "a_b", None)),
])
def test_resolve_kafka(headers, dlq, explicit, dmap, want):
    t = resolve_kafka(decode(headers), dlq, explicit, dmap, DEFAULT_DLQ_PATTERNS)
    assert (t.source, t.topic, t.partition) == want


def _xdeath(queue, exchange="shared", rk="order.created"):
    return {"x-death": [{"queue": queue, "reason": "rejected", "count": 1, "exchange": exchange,
                         "routing-keys": [rk]}], "x-first-death-queue": queue}


@pytest.mark.parametrize("headers, dlq, explicit, mode, want", [
    # default: the original queue through the default exchange (a fan-out must not duplicate)
    (_xdeath("billing"), "orders.dlq", None, "queue", ("x-death", "", "billing")),
    # option: the original exchange and routing key
    (_xdeath("billing"), "orders.dlq", None, "exchange", ("x-death", "shared", "order.created")),
    # explicit queue / explicit exchange
    (_xdeath("billing"), "orders.dlq", {"queue": "manual"}, "queue", ("explicit", "", "manual")),
    (_xdeath("billing"), "orders.dlq", {"exchange": "ex2", "routing_key": "k"}, "queue", ("explicit", "ex2", "k")),
    # our own header first
    ({**_xdeath("billing"), "eventdeck-replay-target": '{"queue": "billing-v2"}'}, "orders.dlq", None, "queue",
     ("eventdeck", "", "billing-v2")),
    # no headers: map, then convention
    ({}, "odd", None, "queue", ("map", "", "src-of-odd")),
    ({}, "payments.dlq", None, "queue", ("convention", "", "payments")),
])
def test_resolve_rabbit(headers, dlq, explicit, mode, want):
    t = resolve_rabbit(decode(headers), dlq, explicit, {"odd": "src-of-odd"}, RABBIT_PATTERNS, mode)
    assert (t.source, t.exchange, t.routing_key) == want


@pytest.mark.parametrize("call, match", [
    # nothing says where: the error names the DLQ and what was tried
    (lambda: resolve_kafka(decode([]), "mystery", None, {}, DEFAULT_DLQ_PATTERNS), "mystery"),
    (lambda: resolve_rabbit(decode({}), "mystery", None, {}, RABBIT_PATTERNS), "mystery"),
    # bad explicit targets name the key
    (lambda: resolve_kafka(decode([]), "x", {"partition": 1}, {}, ()), "target.topic"),
    (lambda: resolve_kafka(decode([]), "x", {"topic": "t", "partition": -1}, {}, ()), "target.partition"),
    (lambda: resolve_rabbit(decode({}), "x", {"exchange": "e"}, {}, ()), "routing_key"),
    (lambda: resolve_rabbit(decode({}), "x", None, {}, (), mode="fanout"), "rabbit_mode"),
])
def test_no_target(call, match):
    with pytest.raises(NoTarget, match=match):
        call()


@pytest.mark.parametrize("name, want", [
    ("orders.dlq", "orders"), ("orders-dlt", "orders"), ("orders.DLT", "orders"),
    ("dlq.orders", "orders"), ("orders", None),
    (".dlq", None),  # an empty source name is no source
])
def test_convention(name, want):
    assert convention_source(name, DEFAULT_DLQ_PATTERNS) == want


def test_describe_and_header():
    t = resolve_rabbit(decode(_xdeath("billing")), "o.dlq", None, {}, RABBIT_PATTERNS)
    assert t.describe() == "queue billing (from x-death)"
    assert t.header() == '{"queue": "billing"}'
    k = resolve_kafka(decode(SPRING), "o.DLT")
    assert k.describe() == "topic orders partition 2 (from spring)"
