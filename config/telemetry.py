"""Settings of consumer telemetry collection (summaries published by `instrument`)."""
from __future__ import annotations

from pydantic import Field

from config.base import Section


class TelemetryConfig(Section):
    enabled: bool = True
    kafka_topic: str = Field("eventdeck.telemetry", min_length=1)
    rabbitmq_exchange: str = Field("eventdeck.telemetry", min_length=1)
    interval_s: float = Field(10.0, gt=0)
    relative_accuracy: float = Field(0.01, gt=0, lt=1)
    kafka_group: str = Field("eventdeck-telemetry", min_length=1,
                             description="consumer group whose committed offsets track what was stored")
    rabbitmq_queue: str = Field("eventdeck.telemetry.collector", min_length=1,
                                description="durable queue bound to the exchange, read by the collector")
    rabbitmq_queue_max_length: int = Field(100_000, gt=0, description="oldest summaries drop beyond this")
    max_age_s: float = Field(300.0, gt=0, description="older summaries (a backlog) are not stored")
    max_per_tick: int = Field(50_000, gt=0, description="summaries read per collection at most")
    max_consumers: int = Field(1000, gt=0, description="distinct consumers stored per telemetry target (cluster); "
                                                       "summaries of further new consumers are skipped and counted")
