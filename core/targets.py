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


# Metric prefix -> the kind of target that writes it (``dlq_*`` come from the broker named by ``broker``).
_WRITER = {"kafka": "kafka", "rabbitmq": "rabbitmq", "consumer": "telemetry", "dlq": "broker"}


def series_target(metric: str, labels: dict[str, str]) -> str | None:
    """The collection target whose cycles write this series, or None when no single target does
    (``collector_*`` status series, ``eventdeck_*`` bookkeeping): such series are never gone."""
    kind = _WRITER.get(metric.split("_", 1)[0])
    cluster = labels.get("cluster")
    if kind is None or cluster is None:
        return None
    if kind in BROKERS:
        return f"{kind}:{cluster}"
    broker = labels.get("broker")
    if broker not in BROKERS:
        return None
    return telemetry_target(broker, cluster) if kind == "telemetry" else broker_target(broker, cluster)


# A target's series absent from this many of its latest successful cycles are gone. Brokers are read
# whole every cycle (absent once = gone); telemetry only carries the consumers that published since the
# last cycle, so a consumer publishing slightly slower than the collection is not gone after one miss.
GONE_AFTER_CYCLES = {"telemetry": 3}


def gone_grace_ms(target: str, interval_ms: int | None) -> int:
    """How far before the target's latest successful cycle a series' last sample may be and still be current."""
    cycles = GONE_AFTER_CYCLES.get(target.split(":", 1)[0], 1)
    return (cycles - 1) * int(interval_ms or 0)
