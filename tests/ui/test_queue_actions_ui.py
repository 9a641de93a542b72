"""RabbitMQ page: move a rejected head message to the queue's DLQ through the confirmation dialog (operator,
real RabbitMQ); a viewer sees the action disabled."""
from __future__ import annotations

import time
import uuid

import pika

from dlq import rabbit_move as rm
from store import audit
from store.db import connect_reader, open_migrated
from store.types import Sample
from store.writes import SampleWriter
from tests import seed


def _stuck_queue(amqp_url: str, store_path) -> tuple[str, str]:
    q = f"eventdeck-ui-move-{uuid.uuid4().hex[:10]}"
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        ch = conn.channel()
        ch.queue_declare(q)
        ch.queue_declare(f"{q}.dlq")
        ch.confirm_delivery()
        ch.basic_publish("", q, b"poison", pika.BasicProperties(message_id="p1"))
        ch.basic_publish("", q, b"fine", pika.BasicProperties(message_id="p2"))
        m, _, _ = ch.basic_get(q)  # a consumer took it and rejected it with requeue
        ch.basic_nack(m.delivery_tag, requeue=True)
    finally:
        conn.close()
    store = open_migrated(store_path)
    try:
        SampleWriter(store).write([Sample("rabbitmq_queue_ready_messages",
                                          {"cluster": seed.RABBIT, "vhost": "/", "queue": q},
                                          int(time.time() * 1000), 2.0)])
    finally:
        store.close()
    return q, f"{q}.dlq"


def _rabbit_page(at, q: str):
    at = at.switch_page("views/rabbitmq.py").run()
    at.selectbox(key="move_queue").select(q).run()
    return at


def test_operator_moves_the_head_message(seeded, rabbitmq, monkeypatch):
    monkeypatch.setenv("EVENTDECK_DASHBOARD__ANONYMOUS_ROLE", "operator")
    at = seeded()
    q, dlq = _stuck_queue(rabbitmq.amqp_url, seeded.store)
    try:
        at = _rabbit_page(at, q)
        at.text_input(key="move_reason").input("poison order").run()
        at.button(key="move_open").click().run()
        assert not at.exception
        assert any(t.value.startswith(f"move message p1 (redelivered: True") for t in at.text), [t.value for t in at.text]
        at.button(key="queue_action_confirm").click().run()
        assert not at.exception
        assert any(s.value.startswith("Moved: move message p1") for s in at.success)
        conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
        try:
            ch = conn.channel()
            m, props, body = ch.basic_get(dlq, auto_ack=True)
            assert body == b"poison" and props.headers[rm.MOVE_REASON] == "poison order"
            assert ch.basic_get(dlq)[0] is None
            assert ch.queue_declare(q, passive=True).method.message_count == 1  # p2 stays
        finally:
            conn.close()
        r = connect_reader(seeded.store)
        try:
            rows = audit.find(r, rm.ACTION, f"rabbitmq:{seed.RABBIT}:/:{q}")
        finally:
            r.close()
        assert [(x["outcome"], x["actor"]) for x in rows] == [("moved", "local")]
    finally:
        seed.delete_queues(rabbitmq.amqp_url, q, dlq)


def test_viewer_cannot_move(seeded, rabbitmq, monkeypatch):
    monkeypatch.setenv("EVENTDECK_DASHBOARD__ANONYMOUS_ROLE", "viewer")
    at = seeded()
    q, dlq = _stuck_queue(rabbitmq.amqp_url, seeded.store)
    try:
        at = at.switch_page("views/rabbitmq.py").run()
        assert at.selectbox(key="move_queue").disabled and at.button(key="move_open").disabled
        assert any("needs the operator role" in c.value for c in at.caption)
    finally:
        seed.delete_queues(rabbitmq.amqp_url, q, dlq)
