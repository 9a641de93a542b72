"""Settings of the demo traffic simulator."""
from __future__ import annotations

from pydantic import Field

from config.base import Section


class DemoConfig(Section):
    orders_per_s: float = Field(5.0, gt=0)
    failure_probability: float = Field(0.05, ge=0, le=1)
    latency_ms: float = Field(20.0, ge=0)
