"""Settings of alert evaluation and notification."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from config.base import Section


class AlertsConfig(Section):
    enabled: bool = True
    rules_file: str | None = Field(None, description="YAML of rules seeded into the store at start")
    evaluation_interval_s: float = Field(15.0, gt=0)
    repeat_interval_s: float = Field(4 * 3600.0, gt=0)
    # severity -> list of names of environment variables each holding an apprise URL
    # (URLs carry tokens, so they never sit in this file).
    notify_env: dict[str, list[str]] = {}
    dashboard_url: str = "http://127.0.0.1:8501"
    send_retries: int = Field(5, ge=0)
    retry_base_s: float = Field(10.0, gt=0, description="first retry delay of a failed send; doubles")
    retry_max_s: float = Field(600.0, gt=0, description="cap of the retry delay")
    # Alertmanager-style inhibit rules on top of the built-ins (alerts.inhibit): each a mapping of
    # name, source_matchers, target_matchers ({label: value | {glob|regex|not: ...}}) and equal (labels).
    inhibit_rules: list[dict[str, Any]] = []
