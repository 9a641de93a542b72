"""Pure resolution of where a DLQ message is replayed to, in DESIGN.md's order.

1. an explicit target chosen by the operator; 2. Eventdeck's own ``eventdeck-replay-target``;
3. Spring Kafka ``kafka_dlt-original-*``; 4. Kafka Connect ``__connect.errors.*``;
5. RabbitMQ ``x-death`` entry of ``x-first-death-queue``; 6. the config map; 7. the name convention.
For RabbitMQ the default is the original queue through the default exchange (a fan-out exchange
would otherwise deliver the message to every bound queue again); ``mode='exchange'`` republishes
to the original exchange with the original routing key instead.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from brokers.naming import convention_source
from dlq.headers import Decoded


class NoTarget(ValueError):
    """No rule gives a target for a message; the message says what was tried."""


@dataclass(frozen=True)
class Target:
    broker: str  # 'kafka' | 'rabbitmq'
    source: str  # explicit | eventdeck | spring | connect | x-death | map | convention
    topic: str | None = None
    partition: int | None = None
    exchange: str | None = None  # rabbitmq: '' is the default exchange
    routing_key: str | None = None

    @property
    def queue(self) -> str | None:
        """The queue a default-exchange publish goes to (None for exchange mode)."""
        return self.routing_key if self.broker == "rabbitmq" and self.exchange == "" else None

    def describe(self) -> str:
        if self.broker == "kafka":
            where = f"topic {self.topic}" + ("" if self.partition is None else f" partition {self.partition}")
        elif self.exchange == "":
            where = f"queue {self.routing_key}"
        else:
            where = f"exchange {self.exchange!r} routing key {self.routing_key!r}"
        return f"{where} (from {self.source})"

    def header(self) -> str:
        """The JSON written into ``eventdeck-replay-target``."""
        return _header(self)


@functools.lru_cache(maxsize=1024)  # a replay writes it into every message, mostly for a few targets
def _header(t: Target) -> str:
    if t.broker == "kafka":
        d: dict[str, Any] = {"topic": t.topic, "partition": t.partition}
    elif t.exchange == "":
        d = {"queue": t.routing_key}
    else:
        d = {"exchange": t.exchange, "routing_key": t.routing_key}
    return json.dumps(d, sort_keys=True)


MAX_PARTITION = 2 ** 31 - 1
MAX_NAME = 255  # AMQP short strings (queue, exchange, routing key); Kafka topics are at most 249


def _target_name(key: str, v: Any, limit: int = MAX_NAME) -> str:
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise NoTarget(f"target.{key}: must be a name, got {type(v).__name__}")
    v = str(v)
    if len(v) > limit:
        raise NoTarget(f"target.{key}: longer than {limit} characters")
    return v


def explicit_target(broker: str, spec: Mapping[str, Any]) -> Target:
    """An operator's target: kafka ``{topic, partition?}``; rabbitmq ``{queue}`` or ``{exchange, routing_key}``."""
    if not isinstance(spec, Mapping):
        raise NoTarget("target: must be a mapping")
    if broker == "kafka":
        topic = spec.get("topic")
        if not topic or not isinstance(topic, str) or len(topic) > 249:
            raise NoTarget("target.topic: a topic name (at most 249 characters) is required for a Kafka target")
        part = spec.get("partition")
        if part is not None and (isinstance(part, bool) or not isinstance(part, int) or not 0 <= part <= MAX_PARTITION):
            raise NoTarget(f"target.partition: must be a non-negative integer, got {str(part)[:40]!r}")
        return Target("kafka", "explicit", topic=topic, partition=part)
    if spec.get("queue"):
        return Target("rabbitmq", "explicit", exchange="", routing_key=_target_name("queue", spec["queue"]))
    if "exchange" in spec and spec.get("routing_key") is not None:
        return Target("rabbitmq", "explicit", exchange=_target_name("exchange", spec["exchange"]),
                      routing_key=_target_name("routing_key", spec["routing_key"]))
    raise NoTarget("target: a RabbitMQ target needs 'queue', or 'exchange' and 'routing_key'")


def resolve_kafka(decoded: Decoded, dlq: str, explicit: Mapping[str, Any] | None = None,
                  dlq_map: Mapping[str, str] | None = None, patterns: Sequence[str] = ()) -> Target:
    """Target topic (and partition when the headers name it) of a Kafka DLQ record."""
    if explicit:
        return explicit_target("kafka", explicit)
    for o in decoded.origins:
        if o.topic:
            return Target("kafka", o.source, topic=o.topic, partition=o.partition)
    if dlq_map and dlq in dlq_map:
        return Target("kafka", "map", topic=dlq_map[dlq])
    src = convention_source(dlq, patterns)
    if src:
        return Target("kafka", "convention", topic=src)
    raise NoTarget(f"no target for a record of {dlq}: no eventdeck/Spring/Connect headers, "
                   f"no dlq_map entry and the name matches no DLQ pattern; choose a target topic")


def resolve_rabbit(decoded: Decoded, dlq: str, explicit: Mapping[str, Any] | None = None,
                   dlq_map: Mapping[str, str] | None = None, patterns: Sequence[str] = (),
                   mode: str = "queue") -> Target:
    """Target of a RabbitMQ DLQ message: its original queue (default) or exchange + routing key."""
    if mode not in ("queue", "exchange"):
        raise NoTarget(f"rabbit_mode: must be 'queue' or 'exchange', got {mode!r}")
    if explicit:
        return explicit_target("rabbitmq", explicit)
    for o in decoded.origins:
        if o.source == "eventdeck" and (o.queue or o.exchange is not None):
            if o.queue:
                return Target("rabbitmq", "eventdeck", exchange="", routing_key=o.queue)
            return Target("rabbitmq", "eventdeck", exchange=o.exchange, routing_key=(o.routing_keys or ("",))[0])
        if o.source == "x-death" and o.queue:
            if mode == "exchange" and o.exchange is not None:
                rk = o.routing_keys[0] if o.routing_keys else o.queue
                return Target("rabbitmq", "x-death", exchange=o.exchange, routing_key=rk)
            return Target("rabbitmq", "x-death", exchange="", routing_key=o.queue)
    if dlq_map and dlq in dlq_map:
        return Target("rabbitmq", "map", exchange="", routing_key=dlq_map[dlq])
    src = convention_source(dlq, patterns)
    if src:
        return Target("rabbitmq", "convention", exchange="", routing_key=src)
    raise NoTarget(f"no target for a message of queue {dlq}: no x-death/eventdeck headers, "
                   f"no dlq_map entry and the name matches no DLQ pattern; choose a target queue")
