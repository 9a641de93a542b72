"""DLQ routing on real brokers: a message that exhausts its retries lands in the DLQ with headers
the DLQ helper reads back (Spring ``kafka_dlt-*`` on Kafka, ``x-death`` on RabbitMQ)."""
from __future__ import annotations

import time
import uuid

import pika
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from dlq import headers as dlq_headers
from instrument.dlq_route import KafkaDlqRouter, declare_queue_with_dlq, reject_to_dlx
from instrument.retry import RetryExhausted, RetryPolicy, retry_call


class Declined(Exception):
    pass


def _exhaust() -> RetryExhausted:
    sleeps: list[float] = []

    def charge() -> None:
        raise Declined("card declined")
    with pytest.raises(RetryExhausted) as gave_up:
        retry_call(charge, policy=RetryPolicy(max_attempts=3, base_s=0.5, jitter="none"), sleep=sleeps.append)
    assert sleeps == [0.5, 1.0]  # injected sleep: no waiting in the test
    return gave_up.value


def _consume_one(bootstrap: str, topic: str, deadline_s: float = 40):
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=6000, heartbeat_interval_ms=1000)
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            for records in consumer.poll(timeout_ms=500).values():
                if records:
                    return records[0]
        raise AssertionError(f"no record on {topic} within {deadline_s} s")
    finally:
        consumer.close()


def test_kafka_exhausted_message_goes_to_dlq_with_spring_headers(kafka):
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1},
                         f"{topic}.dlq": {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", batch_size=1, linger_ms=0)
    try:
        producer.send(topic, key=b"o-1", value=b'{"order_id":"o-1"}', partition=1,
                      headers=[("trace-id", b"t-77")]).get(timeout=20)
        record = _consume_one(kafka.bootstrap, topic)
        meta = KafkaDlqRouter(producer, group="payment").route(record, _exhaust().last)
        assert meta.topic == f"{topic}.dlq"
        dead = _consume_one(kafka.bootstrap, f"{topic}.dlq")
    finally:
        producer.close()
    assert (dead.key, dead.value) == (b"o-1", b'{"order_id":"o-1"}')
    decoded = dlq_headers.decode(dead.headers)
    spring = [o for o in decoded.origins if o.source == "spring"]
    assert [(o.topic, o.partition, o.offset) for o in spring] == [(topic, 1, record.offset)]
    assert decoded.exception_class == f"{__name__}.Declined"
    assert decoded.exception_message == "card declined"
    assert "Declined: card declined" in decoded.stacktrace
    assert ("trace-id", b"t-77") in dead.headers  # the record's own headers travel along


def test_rabbitmq_reject_dead_letters_into_the_dlq(rabbitmq):
    sfx = uuid.uuid4().hex[:8]
    queue, dlx = f"test.payment.{sfx}", f"test.dlx.{sfx}"
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    ch = conn.channel()
    try:
        dlq = declare_queue_with_dlq(ch, queue, dlx, durable=False)
        assert dlq == f"{queue}.dlq"
        ch.confirm_delivery()
        ch.basic_publish("", queue, b'{"order_id":"o-2"}')
        method, _props, _body = ch.basic_get(queue, auto_ack=False)
        assert method is not None
        reject_to_dlx(ch, method.delivery_tag)
        end = time.monotonic() + 20
        got = None
        while got is None and time.monotonic() < end:
            m, props, body = ch.basic_get(dlq, auto_ack=True)
            got = (props, body) if m else None
            if got is None:
                time.sleep(0.1)
        assert got is not None, "rejected message never reached the DLQ"
        props, body = got
        assert body == b'{"order_id":"o-2"}'
        decoded = dlq_headers.decode(props.headers)
        assert decoded.deaths[0].queue == queue and decoded.deaths[0].reason == "rejected"
        assert any(o.queue == queue for o in decoded.origins)
    finally:
        ch.queue_delete(queue)
        ch.queue_delete(f"{queue}.dlq")
        ch.exchange_delete(dlx)
        conn.close()
