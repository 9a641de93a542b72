"""Settings of DLQ browse and replay."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from config.base import Section


class DlqConfig(Section):
    default_rate_per_s: float = Field(100.0, ge=1 / 60, description="at least one message a minute")
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
    allowed_targets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per cluster: globs of topics/queues (and 'exchange:<glob>') a header-derived replay "
                    "target may name besides the sources linked to the DLQ")
    scan_max_messages: int = Field(50_000, ge=1, le=1_000_000,
                                   description="messages a dry run or a filtered browse reads at most")
    scan_max_bytes: int = Field(16 * 1024 * 1024, ge=1024, le=1024 ** 3,
                                description="bytes (keys, values, headers) a dry run or browse reads at most")
    browse_max_page: int = Field(200, ge=0, le=10_000, description="highest page number a browse may ask for")
    rabbit_browse_role: Literal["viewer", "operator"] = Field(
        "operator", description="who may browse RabbitMQ DLQs (browsing gets and requeues: it marks messages "
                                "redelivered and counts toward a quorum queue's delivery limit)")
