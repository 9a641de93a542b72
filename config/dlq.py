"""Settings of DLQ browse and replay."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from config.base import Section


class DlqConfig(Section):
    default_rate_per_s: float = Field(100.0, gt=0)
    max_replay_count: int = Field(3, ge=1, description="past this the message is parked")
    parking_suffix: str = Field(".parking", min_length=1)
    payload_preview_bytes: int = Field(4096, gt=0)
    job_poll_interval_s: float = Field(1.0, gt=0)
    default_rabbit_mode: Literal["queue", "exchange"] = Field(
        "queue", description="RabbitMQ replay target: the original queue, or original exchange + routing key")
    stale_job_s: float = Field(30.0, gt=0, description="a running job silent this long is taken over")
    default_window: int = Field(
        256, ge=1, le=10_000, description="RabbitMQ replay: publishes awaiting their confirm at most; a crash "
        "duplicates at most this many messages (same eventdeck-replay-id); 1 is the strict mode")
