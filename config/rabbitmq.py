"""Settings of the RabbitMQ collector: any number of clusters (management HTTP API + AMQP)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from config.base import Section
from config.connection import TlsConfig


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
    # TLS of amqps:// and https:// (one CA and client certificate for both). verify_tls / ca_file are
    # the older spelling of tls.verify / tls.ca_file and are folded into tls.
    tls: TlsConfig = TlsConfig()
    verify_tls: bool = True
    ca_file: str | None = None
    # AMQP login: PLAIN (username + password_env) or EXTERNAL (the client certificate's subject; needs
    # amqps and tls.cert_file). The management API always logs in with username + password_env.
    login: Literal["PLAIN", "EXTERNAL"] = "PLAIN"
    interval_s: float = Field(15.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)
    vhosts: list[str] = ["*"]
    queues_allow: list[str] = ["*"]
    queues_deny: list[str] = ["amq.*", "eventdeck.*"]  # server-named queues, Eventdeck's own
    dlq_patterns: list[str] = ["*.dlq", "*-dlq", "*_dlq", "dlq.*", "*.dlx"]
    dlq_exclude: list[str] = []
    dlq_map: dict[str, RabbitDlqTarget] = {}
    # Queues per management API request in full cycles: 0 reads them in one unsorted request (the cheapest
    # for the broker: paging lists, formats and sorts every queue again for each page); 1..500 pages.
    page_size: int = Field(0, ge=0, le=500)
    # Policies, exchanges and bindings (for DLQ discovery) are re-read at most this often.
    topology_refresh_s: float = Field(60.0, ge=0)
    # At thousands of queues: read the management API's per-queue counters (rates, error ratios, status,
    # drain ETA, DLQ inflow, head age, utilisation, quorum audit, streams) only this often; the cycles
    # between write the depth and consumer gauges alone, read from the rabbitmq_prometheus plugin's
    # per-node endpoint (or the management API without stats). 0: everything every cycle.
    counters_interval_s: float = Field(0.0, ge=0)
    # The rabbitmq_prometheus endpoint of those cycles: auto (used when it answers, else the management
    # API), on (required), off. prometheus_urls: one per node (every node must be read); empty: the
    # management URL's host on port 15692, for a single-node cluster.
    prometheus: Literal["auto", "on", "off"] = "auto"
    prometheus_urls: list[str] = Field([], description="the rabbitmq_prometheus endpoint of every node")
    status_window_s: float = Field(600.0, gt=0, description="queue status and drain ETA window")
    # Streams: consumer lag per consumer name over the stream protocol (rabbitmq_stream plugin).
    streams: bool = True
    stream_port: int = Field(5552, gt=0, lt=65536)
    # Names whose stored offsets are read on every stream, besides the names seen on live subscriptions
    # (RabbitMQ cannot list stored names: a consumer that stopped before Eventdeck saw it is found
    # only if it is listed here).
    stream_consumers: list[str] = []
    stream_timeout_s: float = Field(3.0, gt=0, description="wait for one stream chunk")
    read_only: bool = Field(False, description="refuse every mutating action (replay, edit, move head)")
    dlq_export: bool = Field(True, description="allow exporting DLQ messages (JSON Lines, CSV)")

    @model_validator(mode="after")
    def _profile(self) -> "RabbitClusterConfig":
        if self.ca_file and not self.tls.ca_file:
            self.tls = self.tls.model_copy(update={"ca_file": self.ca_file})
        if not self.verify_tls and self.tls.verify:
            self.tls = self.tls.model_copy(update={"verify": False})
        if any(not u.startswith(("http://", "https://")) for u in self.prometheus_urls):
            raise ValueError("prometheus_urls must be http:// or https:// URLs")
        if self.login == "EXTERNAL" and not (self.amqp_url.startswith("amqps://") and self.tls.cert_file):
            raise ValueError("login EXTERNAL needs an amqps:// amqp_url and tls.cert_file (the client certificate)")
        return self


class RabbitConfig(Section):
    clusters: list[RabbitClusterConfig] = []
