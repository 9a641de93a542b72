"""Settings of DLQ browse and replay."""
from __future__ import annotations

from pydantic import Field

from config.base import Section


class DlqConfig(Section):
    default_rate_per_s: float = Field(100.0, gt=0)
    max_replay_count: int = Field(3, ge=1, description="past this the message is parked")
    parking_suffix: str = Field(".parking", min_length=1)
    payload_preview_bytes: int = Field(4096, gt=0)
    job_poll_interval_s: float = Field(1.0, gt=0)
