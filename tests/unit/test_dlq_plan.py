"""Replay planning: request validation, selection, replay ids, loop guard, pacing (pure)."""
from __future__ import annotations

import pytest

from dlq.headers import decode
from dlq.plan import (Message, RequestError, kafka_coord, plan_item, rabbit_coord, replay_headers, replay_id,
                      selected, send_at, validate_request)
from dlq.targets import NoTarget, Target

SPRING_EXC = [("kafka_dlt-exception-fqcn", b"com.acme.InvalidOrderException"),
              ("kafka_dlt-exception-message", b"price < 0")]
TARGET = Target("kafka", "spring", topic="orders", partition=1)
PARKING = Target("kafka", "parking", topic="orders.DLT.parking")


def _msg(key=b"order-17", ts=1_000, headers=(), coord="0:5"):
    return Message(coord=coord, key=key, value=b"{}", ts_ms=ts, headers=list(headers), decoded=decode(list(headers)))


@pytest.mark.parametrize("sel, msg, want", [
    ({"mode": "all"}, _msg(), True),
    ({"mode": "picked", "coords": ["0:5"]}, _msg(), True),
    ({"mode": "picked", "coords": ["0:6"]}, _msg(), False),
    # time window is [from, to)
    ({"mode": "filter", "from_ms": 1_000, "to_ms": 2_000}, _msg(ts=1_000), True),
    ({"mode": "filter", "from_ms": 1_000, "to_ms": 2_000}, _msg(ts=2_000), False),
    # a message without timestamp never matches a time filter
    ({"mode": "filter", "from_ms": 0}, _msg(ts=None), False),
    ({"mode": "filter", "key": "order-1"}, _msg(), True),  # key is a substring match
    ({"mode": "filter", "key": "order-2"}, _msg(), False),
    ({"mode": "filter", "reason": "PRICE"}, _msg(headers=SPRING_EXC), True),  # reason: case-insensitive
    # exception class by simple or fully qualified name, never by a mere suffix of a word
    ({"mode": "filter", "exception_class": "InvalidOrderException"}, _msg(headers=SPRING_EXC), True),
    ({"mode": "filter", "exception_class": "com.acme.InvalidOrderException"}, _msg(headers=SPRING_EXC), True),
    ({"mode": "filter", "exception_class": "OrderException"}, _msg(headers=SPRING_EXC), False),
])
def test_selected(sel, msg, want):
    assert selected(sel, msg) is want


@pytest.mark.parametrize("count, ledger, force, target, action", [
    (0, None, False, TARGET, "replay"),  # fresh message
    (0, "replayed", False, TARGET, "skip"),  # the ledger refuses a second replay...
    (0, "replayed", True, TARGET, "replay"),  # ...unless forced
    (3, None, False, TARGET, "park"),  # at the limit (3): parked, not looped
    (2, None, False, TARGET, "replay"),  # below the limit
    (5, "replayed", True, TARGET, "park"),  # force never bypasses the loop guard
    (0, None, False, NoTarget("no target for x"), "error"),  # no target: error, message stays
    (9, None, False, NoTarget("no target"), "park"),  # parking needs no target
])
def test_plan_item(count, ledger, force, target, action):
    headers = [("eventdeck-replay-count", str(count).encode())] if count else []
    item = plan_item(_msg(headers=headers), "rid", target, ledger, force, 3, PARKING)
    assert item.action == action
    if action == "park":
        assert item.target == PARKING
    if action == "error":
        assert "no target" in item.reason


def test_replay_ids_are_deterministic_and_distinct():
    a = replay_id("kafka", "c1", "orders.DLT", kafka_coord(0, 5))
    assert a == replay_id("kafka", "c1", "orders.DLT", "0:5")
    others = {replay_id("kafka", "c2", "orders.DLT", "0:5"), replay_id("kafka", "c1", "orders.DLT", "0:6"),
              replay_id("kafka", "c1", "orders.DLT", "1:5"), replay_id("rabbitmq", "c1", "orders.DLT", "0:5")}
    assert a not in others and len(others) == 4


@pytest.mark.parametrize("b1, p1, h1, b2, p2, h2, same", [
    # same content and x-death: same coordinates (a redelivered copy keeps its id)
    (b"m", {"message_id": "1"}, {"x-death": [{"count": 1}]}, b"m", {"message_id": "1"}, {"x-death": [{"count": 1}]}, True),
    (b"m", {}, {}, b"n", {}, {}, False),  # different body
    # died once more: a new DLQ arrival, new coordinates
    (b"m", {}, {"x-death": [{"count": 1}]}, b"m", {}, {"x-death": [{"count": 2}]}, False),
    (b"m", {"message_id": "1"}, {}, b"m", {"message_id": "2"}, {}, False),
    # a quorum queue counts redeliveries in x-delivery-count: not part of the coordinates
    (b"m", {}, {"x-delivery-count": 1}, b"m", {}, {"x-delivery-count": 4}, True),
])
def test_rabbit_coord(b1, p1, h1, b2, p2, h2, same):
    assert (rabbit_coord(b1, p1, h1) == rabbit_coord(b2, p2, h2)) is same


@pytest.mark.parametrize("headers", [
    [("a", b"1"), ("eventdeck-replay-count", b"1")],  # Kafka list form: old value replaced, others kept
    {"a": "1", "eventdeck-replay-count": "1"},  # RabbitMQ dict form
])
def test_replay_headers(headers):
    out = replay_headers(headers, "rid", 2, TARGET)
    d = decode(out)
    assert (d.replay_id, d.replay_count) == ("rid", 2)
    assert d.origins[0].source == "eventdeck" and d.origins[0].topic == "orders"
    pairs = list(out.items()) if isinstance(out, dict) else out
    assert [k for k, _ in pairs].count("eventdeck-replay-count") == 1
    assert ("a", b"1") in pairs or ("a", "1") in pairs


@pytest.mark.parametrize("sent, rate, want", [
    (0, 100.0, 10.0),  # the first message goes at once
    (299, 100.0, 12.99),  # 300 messages at 100/s: the last no earlier than 2.99 s after the start
    (1000, None, 10.0),  # unthrottled
])
def test_send_at(sent, rate, want):
    assert send_at(10.0, sent, rate) == pytest.approx(want)


@pytest.mark.parametrize("req, match", [
    ({"broker": "nats", "cluster": "c", "dlq": "d"}, "broker"),
    ({"broker": "kafka", "cluster": "", "dlq": "d"}, "cluster"),
    ({"broker": "kafka", "cluster": "c"}, "dlq"),
    ({"broker": "kafka", "cluster": "c", "dlq": "d", "selection": {"mode": "some"}}, "selection.mode"),
    ({"broker": "kafka", "cluster": "c", "dlq": "d", "selection": {"mode": "picked"}}, "selection.coords"),
    ({"broker": "kafka", "cluster": "c", "dlq": "d", "selection": {"mode": "filter", "from_ms": "yesterday"}},
     "selection.from_ms"),
    ({"broker": "kafka", "cluster": "c", "dlq": "d", "rate_per_s": 0}, "rate_per_s"),
    ({"broker": "rabbitmq", "cluster": "c", "dlq": "d", "rabbit_mode": "fanout"}, "rabbit_mode"),
    ({"broker": "rabbitmq", "cluster": "c", "dlq": "d", "target": "q"}, "target"),
])
def test_validate_request_names_the_key(req, match):
    with pytest.raises(RequestError, match=match):
        validate_request(req, 100.0)


def test_validate_request_defaults():
    r = validate_request({"broker": "kafka", "cluster": "c", "dlq": "d"}, 50.0)
    assert r["selection"] == {"mode": "all"} and r["rate_per_s"] == 50.0 and r["force"] is False
    assert validate_request({"broker": "kafka", "cluster": "c", "dlq": "d", "rate_per_s": None}, 50.0)["rate_per_s"] is None
    # without defaults, omitted keys stay omitted: the runner applies the configured dlq defaults
    bare = validate_request({"broker": "rabbitmq", "cluster": "c", "dlq": "d"})
    assert "rate_per_s" not in bare and "rabbit_mode" not in bare


def test_loop_limit_is_off_in_a_parking_lot():
    from config.dlq import DlqConfig
    from dlq.plan import loop_limit
    cfg = DlqConfig(max_replay_count=3, parking_suffix=".parking")
    assert loop_limit("orders.dlq", cfg) == 3
    assert loop_limit("orders.dlq.parking", cfg) > 10**9
