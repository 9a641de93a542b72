"""Send a message that failed for good to its dead-letter queue.

* Kafka: :class:`KafkaDlqRouter` produces the record (key, value, headers) to its DLQ topic with
  the Spring ``kafka_dlt-*`` headers and waits for the ``acks=all`` acknowledgement.
* RabbitMQ: :func:`reject_to_dlx` rejects without requeue, so the queue's dead-letter exchange
  takes it (RabbitMQ adds the ``x-death`` header); :func:`declare_queue_with_dlq` sets that up.
"""
from __future__ import annotations

from typing import Any, Callable

from instrument.dlt_headers import dlt_headers, with_dlt_headers


def default_dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


class KafkaDlqRouter:
    """Routes failed ``ConsumerRecord``\\ s to ``dlq_topic(record.topic)`` through ``producer``.

    The producer should be created with ``acks="all"``; :meth:`route` blocks until the DLQ record
    is acknowledged, so the caller may commit the original offset afterwards.
    """

    def __init__(self, producer: Any, group: str | None = None,
                 dlq_topic: Callable[[str], str] = default_dlq_topic, timeout_s: float = 10.0) -> None:
        self.producer, self.group, self.dlq_topic, self.timeout_s = producer, group, dlq_topic, timeout_s

    def route(self, record: Any, exc: BaseException) -> Any:
        """Produce ``record`` to its DLQ; returns the DLQ record metadata (topic, partition, offset)."""
        added = dlt_headers(record.topic, record.partition, record.offset,
                            getattr(record, "timestamp", None), exc, group=self.group)
        future = self.producer.send(self.dlq_topic(record.topic), key=record.key, value=record.value,
                                    headers=with_dlt_headers(getattr(record, "headers", None), added))
        return future.get(timeout=self.timeout_s)


def reject_to_dlx(channel: Any, delivery_tag: int) -> None:
    """Reject one delivery without requeue: the queue's dead-letter exchange receives it."""
    channel.basic_reject(delivery_tag=delivery_tag, requeue=False)


def declare_queue_with_dlq(channel: Any, queue: str, dlx: str, dlq: str | None = None,
                           durable: bool = True) -> str:
    """Declare ``queue`` dead-lettering into exchange ``dlx`` (direct) with routing key ``dlq``, and
    the ``dlq`` queue bound to it (default ``<queue>.dlq``). Returns the DLQ name."""
    dlq = dlq or f"{queue}.dlq"
    channel.exchange_declare(dlx, exchange_type="direct", durable=durable)
    channel.queue_declare(dlq, durable=durable)
    channel.queue_bind(dlq, dlx, routing_key=dlq)
    channel.queue_declare(queue, durable=durable, arguments={"x-dead-letter-exchange": dlx,
                                                             "x-dead-letter-routing-key": dlq})
    return dlq
