"""Built-in rules, seeded enabled into every store (an operator may disable or edit them).

``kafka_group_status`` carries ``core.codes.Status`` (Burrow's evaluation, worst partition of the
group), so ``>= STALL`` is STALL, STOP or ERR; ``rabbitmq_queue_status`` the same codes for queues
(``collectors.queue_status``), ``rabbitmq_stream_consumer_status`` per stream consumer name
(``collectors.rabbit_streams``). ``rabbitmq-delivery-limit-no-dlx`` fires for a quorum queue whose
messages are dropped silently past its delivery limit (``collectors.rabbit_quorum``). Built-in inhibit rules are in ``alerts.inhibit``.
"""
from __future__ import annotations

from typing import Any

from core.codes import Status

BUILTIN_RULES: list[dict[str, Any]] = [
    {
        "name": "kafka-group-stalled",
        "metric": "kafka_group_status",
        "comparison": ">=",
        "threshold": int(Status.STALL),
        "for_s": 30,  # Burrow's status already needs a whole window of offsets
        "severity": "critical",
        "summary": "Kafka consumer group {group} on {cluster} is STALL/STOP/ERR (status code {value})",
    },
    {
        "name": "rabbitmq-queue-stalled",
        "metric": "rabbitmq_queue_status",
        "comparison": ">=",
        "threshold": int(Status.STALL),
        "for_s": 30,  # the queue's status already needs a whole window
        "severity": "critical",
        "summary": "RabbitMQ queue {queue} (vhost {vhost}) on {cluster} is STALL/STOP (status code {value})",
    },
    {
        "name": "rabbitmq-delivery-limit-no-dlx",
        "metric": "rabbitmq_queue_delivery_limit_without_dlx",  # the limit when nothing dead-letters, else 0
        "comparison": ">",
        "threshold": 0,
        "for_s": 0,  # a configuration fact, not a fluctuation
        "severity": "warning",
        "summary": "Quorum queue {queue} (vhost {vhost}) on {cluster} has no dead-letter exchange: "
                   "messages will be dropped after {value} redeliveries",  # 3.10 measured: x-delivery-count 0..N, then gone
    },
    {
        "name": "rabbitmq-stream-consumer-stalled",
        "metric": "rabbitmq_stream_consumer_status",
        "comparison": ">=",
        "threshold": int(Status.STALL),
        "for_s": 30,  # the status already needs a whole window
        "severity": "critical",
        "summary": "RabbitMQ stream consumer {consumer} on stream {stream} (vhost {vhost}) on {cluster} is "
                   "STALL/STOP/ERR (status code {value})",
    },
    {
        # increase(dlq_messages[5m]) > 0 for 1m, keep_firing_for 5m: a DLQ that grows in bursts fires and
        # stays firing between bursts (a 5-second inflow rate > 0 "for 5m" was reset by every quiet slot)
        "name": "dlq-growing",
        "metric": "dlq_messages",
        "range_function": "increase",
        "range_s": 300,
        "comparison": ">",
        "threshold": 0,
        "for_s": 60,
        "keep_firing_for_s": 300,
        "severity": "warning",
        "summary": "DLQ {dlq} ({broker} {cluster}) grew by {value} messages over the last 5 min",
    },
    {
        "name": "collector-down",
        "metric": "collector_up",
        "comparison": "<",
        "threshold": 1,
        "for_s": 60,
        "severity": "critical",
        "summary": "Collector {target} cannot reach its broker",
    },
]
