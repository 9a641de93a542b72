"""A dead-lettered Kafka record seeded in a store, for the DLQ page tests (AppTest and browser)."""
from __future__ import annotations

import datetime

import pika


def dead_letter(amqp_url: str, dlq: str, n: int, start: int) -> None:
    """``n`` more dead letters of the DLQ's source, as the broker would add them."""
    source = dlq.removesuffix(".dlq")
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        died = datetime.datetime.now(tz=datetime.timezone.utc)
        for i in range(start, start + n):
            death = {"queue": source, "reason": "rejected", "count": 1, "exchange": "", "routing-keys": [source],
                     "time": died}
            ch.basic_publish("", dlq, f'{{"order": {i}}}'.encode(),
                             pika.BasicProperties(headers={"x-death": [death], "x-first-death-queue": source},
                                                  message_id=f"new{i}", content_type="application/json"))
    finally:
        conn.close()
