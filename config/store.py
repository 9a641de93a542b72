"""Settings of the SQLite time-series store."""
from __future__ import annotations

from pydantic import Field

from config.base import Section


class RetentionConfig(Section):
    raw_hours: float = Field(48.0, gt=0, description="keep raw samples this long")
    rollup_1m_days: float = Field(30.0, gt=0, description="keep 1-minute rollups this long")
    rollup_1h_days: float = Field(365.0, gt=0, description="keep 1-hour rollups this long")


class StoreConfig(Section):
    path: str = Field(".eventdeck/eventdeck.db", min_length=1, description="SQLite file")
    retention: RetentionConfig = RetentionConfig()
    checkpoint_interval_s: float = Field(300.0, gt=0, description="WAL checkpoint(TRUNCATE) period")
    retention_interval_s: float = Field(600.0, gt=0, description="how often old samples are pruned")
