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
