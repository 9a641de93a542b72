"""Collection target ids: the ``target`` label of ``collector_up`` and the key of the status table.

``kafka:<cluster>``, ``rabbitmq:<cluster>`` and ``telemetry:<broker>:<cluster>``.
"""
from __future__ import annotations

BROKERS = ("kafka", "rabbitmq")


def broker_target(broker: str, cluster: str) -> str:
    """The target collecting a broker cluster: ``kafka:<cluster>`` or ``rabbitmq:<cluster>``."""
    if broker not in BROKERS:
        raise ValueError(f"broker must be one of {BROKERS}, got {broker!r}")
    return f"{broker}:{cluster}"


def kafka_target(cluster: str) -> str:
    return broker_target("kafka", cluster)


def rabbitmq_target(cluster: str) -> str:
    return broker_target("rabbitmq", cluster)


def telemetry_target(broker: str, cluster: str) -> str:
    """The target reading consumer telemetry through a broker cluster."""
    return f"telemetry:{broker_target(broker, cluster)}"
