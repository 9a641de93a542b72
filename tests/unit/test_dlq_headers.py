"""Decoding of Spring Kafka, Kafka Connect, RabbitMQ x-death and Eventdeck headers (pure)."""
from __future__ import annotations

import struct
from datetime import datetime, timezone

import pytest

from dlq.headers import HeaderError, decode, decode_lenient

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
SPRING = [("kafka_dlt-original-topic", b"orders"),
          ("kafka_dlt-original-partition", struct.pack(">i", 7)),
          ("kafka_dlt-original-offset", struct.pack(">q", 2 ** 40 + 3)),
          ("kafka_dlt-exception-fqcn", b"org.springframework.kafka.support.serializer.DeserializationException"),
          ("kafka_dlt-exception-message", b"bad json"),
          ("kafka_dlt-exception-stacktrace", b"at x.y(Z.java:1)")]
CONNECT = [("__connect.errors.topic", b"payments"), ("__connect.errors.partition", b"2"),
           ("__connect.errors.offset", b"99"),
           ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
           ("__connect.errors.exception.message", b"Converting byte[] failed")]


def _death(queue, count, exchange="ex", keys=("rk",), reason="rejected"):
    return {"queue": queue, "reason": reason, "count": count, "exchange": exchange,
            "routing-keys": list(keys), "time": T0}


@pytest.mark.parametrize("headers, source, topic, partition, offset", [
    # Spring: partition is a 4-byte and offset an 8-byte big-endian integer (offset above 2^32 on purpose)
    (SPRING, "spring", "orders", 7, 2 ** 40 + 3),
    # Connect writes the coordinates as decimal strings
    (CONNECT, "connect", "payments", 2, 99),
    # Spring written by a non-Java producer as decimal text is still understood
    ([("kafka_dlt-original-topic", b"t"), ("kafka_dlt-original-partition", b"3"),
      ("kafka_dlt-original-offset", b"12")], "spring", "t", 3, 12),
    # only the topic: partition and offset unknown, not zero
    ([("kafka_dlt-original-topic", b"t")], "spring", "t", None, None),
    # our own target header wins over Spring's (it names where we last replayed it)
    (SPRING + [("eventdeck-replay-target", b'{"topic": "orders-v2", "partition": 1}')], "eventdeck", "orders-v2", 1, None),
])
def test_kafka_origins(headers, source, topic, partition, offset):
    d = decode(headers)
    o = d.origins[0]
    assert (o.source, o.topic, o.partition, o.offset) == (source, topic, partition, offset)


def test_spring_failure_details_and_display():
    d = decode(SPRING)
    assert d.exception_class.endswith("DeserializationException")
    assert d.exception_message == "bad json"
    assert d.stacktrace == "at x.y(Z.java:1)"
    assert d.reason == "org.springframework.kafka.support.serializer.DeserializationException: bad json"
    # binary ints are shown as numbers, not mojibake
    assert d.display["kafka_dlt-original-partition"] == "7"
    assert d.display["kafka_dlt-original-offset"] == str(2 ** 40 + 3)


def test_connect_failure_details():
    d = decode(CONNECT)
    assert d.exception_class == "org.apache.kafka.connect.errors.DataException"
    assert d.reason.endswith("Converting byte[] failed")


@pytest.mark.parametrize("headers, queue, exchange, keys, counts", [
    # one death: the entry of x-first-death-queue is the origin
    ({"x-death": [_death("orders", 1)], "x-first-death-queue": "orders", "x-first-death-exchange": "ex",
      "x-first-death-reason": "rejected"}, "orders", "ex", ("rk",), [1]),
    # died twice in 'orders' then once in 'retry' (newest first): origin is still the first-death queue,
    # and the repeat count of each entry is kept
    ({"x-death": [_death("retry", 1, "rx"), _death("orders", 2)], "x-first-death-queue": "orders",
      "x-last-death-queue": "retry"}, "orders", "ex", ("rk",), [1, 2]),
    # no x-first-death-queue (older brokers): the oldest entry (last in the array)
    ({"x-death": [_death("b", 1), _death("a", 1, "ax")]}, "a", "ax", ("rk",), [1, 1]),
    # header values as bytes (pika can hand either) decode the same
    ({"x-death": [{"queue": b"q1", "reason": b"expired", "count": 3, "exchange": b"", "routing-keys": [b"q1"],
                   "time": T0}], "x-first-death-queue": b"q1"}, "q1", "", ("q1",), [3]),
])
def test_x_death(headers, queue, exchange, keys, counts):
    d = decode(headers)
    o = d.origins[-1]
    assert (o.source, o.queue, o.exchange, o.routing_keys) == ("x-death", queue, exchange, keys)
    assert [x.count for x in d.deaths] == counts
    assert d.deaths[0].time_ms == int(T0.timestamp() * 1000)
    assert d.reason.startswith(d.deaths[-1].reason if "x-first-death-reason" not in headers else "rejected")


@pytest.mark.parametrize("headers, rid, count", [
    ([], None, 0),  # never replayed
    ([("eventdeck-replay-id", b"abc"), ("eventdeck-replay-count", b"2")], "abc", 2),
    ({"eventdeck-replay-id": "abc", "eventdeck-replay-count": "5"}, "abc", 5),  # RabbitMQ dict form
    # repeated Kafka header: the last value wins, as Kafka's lastHeader does
    ([("eventdeck-replay-count", b"1"), ("eventdeck-replay-count", b"3")], None, 3),
])
def test_eventdeck_headers(headers, rid, count):
    d = decode(headers)
    assert (d.replay_id, d.replay_count) == (rid, count)


@pytest.mark.parametrize("headers, named", [
    # a 3-byte partition is neither an int32 nor text: the error names the header
    ([("kafka_dlt-original-topic", b"t"), ("kafka_dlt-original-partition", b"\x00\x01\xff")],
     "kafka_dlt-original-partition"),
    ([("__connect.errors.topic", b"t"), ("__connect.errors.offset", b"ten")], "__connect.errors.offset"),
    ([("eventdeck-replay-count", b"x")], "eventdeck-replay-count"),
    ({"x-death": "not-a-list"}, "x-death"),
    ([("eventdeck-replay-target", b"{oops")], "eventdeck-replay-target"),
])
def test_malformed_headers_name_the_header(headers, named):
    with pytest.raises(HeaderError, match=named):
        decode(headers)
    # browsing still shows the message: every header displayed, the error kept apart
    decoded, err = decode_lenient(headers)
    assert named in str(err)
    assert named in decoded.display and decoded.origins == ()


def test_lenient_decode_of_good_headers_has_no_error():
    decoded, err = decode_lenient([("kafka_dlt-original-topic", b"orders")])
    assert err is None and decoded == decode([("kafka_dlt-original-topic", b"orders")])


@pytest.mark.parametrize("headers", [
    {"x-first-death-reason": ""},  # an empty reason header and no x-death array: no reason, no crash
    {"x-first-death-reason": None},  # a void AMQP field value reads the same
])
def test_empty_first_death_reason_without_x_death(headers):
    decoded, err = decode_lenient(headers)
    assert err is None and decoded.reason is None and decoded.origins == ()


def test_no_headers():
    d = decode(None)
    assert d.origins == () and d.reason is None and d.replay_count == 0


def test_spring_amqp_exception_headers_and_x_death_reason_together():
    spring_amqp = {"x-exception-message": "Listener threw: amount < 0", "x-exception-stacktrace": "at Pay.handle"}
    d = decode(spring_amqp)
    assert d.exception_message == "Listener threw: amount < 0" and d.stacktrace == "at Pay.handle"
    assert d.reason == "Listener threw: amount < 0"
    both = decode({**spring_amqp, "x-first-death-reason": "rejected"})
    assert both.reason == "rejected — Listener threw: amount < 0"  # the x-death reason is not hidden
