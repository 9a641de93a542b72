"""The Kafka producer and admin client of a configured cluster for operator actions (skip-to-DLQ,
offset reset), built from the same settings as every other client (``brokers.kafka.client_config``)."""
from __future__ import annotations

from typing import Any

from kafka import KafkaProducer

from brokers.kafka import AdminClient, client_config
from config.kafka import KafkaClusterConfig


def open_admin(cfg: KafkaClusterConfig) -> AdminClient:
    return AdminClient(**client_config(cfg))


def open_producer(cfg: KafkaClusterConfig, **options: Any) -> KafkaProducer:
    """A producer that waits for every in-sync replica (acks=all); one record per batch unless told."""
    return KafkaProducer(**client_config(cfg), **{"acks": "all", "linger_ms": 0, **options})
