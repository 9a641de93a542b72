"""Settings of the RabbitMQ collector: any number of clusters (management HTTP API + AMQP)."""
from __future__ import annotations

from pydantic import Field

from config.base import Section


class RabbitDlqTarget(Section):
    source_queue: str = Field(..., min_length=1)
    vhost: str = "/"


class RabbitClusterConfig(Section):
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    management_url: str = Field("http://127.0.0.1:15672", pattern=r"^https?://")
    amqp_url: str = Field("amqp://127.0.0.1:5672/%2F", pattern=r"^amqps?://")
    username: str = "guest"
    # Never the password itself: the name of the environment variable that holds it.
    password_env: str = "EVENTDECK_RABBITMQ_PASSWORD"
    verify_tls: bool = True
    ca_file: str | None = None
    interval_s: float = Field(15.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)
    vhosts: list[str] = ["*"]
    queues_allow: list[str] = ["*"]
    queues_deny: list[str] = ["amq.*", "eventdeck.*"]  # server-named queues, Eventdeck's own
    dlq_patterns: list[str] = ["*.dlq", "*-dlq", "*_dlq", "dlq.*", "*.dlx"]
    dlq_exclude: list[str] = []
    dlq_map: dict[str, RabbitDlqTarget] = {}
    page_size: int = Field(500, gt=0, le=500)
    # Policies, exchanges and bindings (for DLQ discovery) are re-read at most this often.
    topology_refresh_s: float = Field(60.0, ge=0)
    status_window_s: float = Field(600.0, gt=0, description="queue status and drain ETA window")
    read_only: bool = Field(False, description="refuse every mutating action (replay, edit, move head)")
    dlq_export: bool = Field(True, description="allow exporting DLQ messages (JSON Lines, CSV)")


class RabbitConfig(Section):
    clusters: list[RabbitClusterConfig] = []
