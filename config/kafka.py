"""Settings of the Kafka collector: any number of clusters."""
from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from config.base import Section
from config.connection import SaslConfig, SecurityProtocol, TlsConfig, check_kafka_profile
from config.schema_registry import SchemaRegistryConfig

DEFAULT_DLQ_PATTERNS = ["*.dlq", "*-dlq", "*.DLT", "*-dlt", "*_dlq", "dlq.*"]


class DlqTarget(Section):
    """Explicit DLQ mapping entry: where a DLQ's messages came from."""

    source_topic: str = Field(..., min_length=1)
    group: str | None = None


class KafkaClusterConfig(Section):
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    bootstrap_servers: list[str] = Field(..., min_length=1)
    client_id: str = "eventdeck"
    interval_s: float = Field(15.0, gt=0)
    request_timeout_ms: int = Field(10_000, gt=0)
    topics_allow: list[str] = ["*"]
    topics_deny: list[str] = ["__*", "_schemas", "eventdeck.telemetry"]
    groups_allow: list[str] = ["*"]
    groups_deny: list[str] = ["eventdeck-*"]  # Eventdeck's own telemetry consumer
    dlq_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_DLQ_PATTERNS))
    dlq_exclude: list[str] = []
    dlq_map: dict[str, DlqTarget] = {}
    status_window_s: float = Field(600.0, gt=0, description="Burrow evaluation window")
    timelag_points: int = Field(60, ge=2, description="sliding table size per partition")
    exact_timelag: bool = Field(True, description="read the timestamp of the record at the committed offset")
    exact_timelag_max_partitions: int = Field(500, ge=1, le=100_000, description="new offsets to read per cycle")
    exact_timelag_partition_bytes: int = Field(16_384, ge=64, le=1_048_576, description="Fetch bytes per partition")
    # The connection profile (brokers/ builds every client from it): PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL.
    security_protocol: SecurityProtocol = "PLAINTEXT"
    tls: TlsConfig | None = Field(None, description="TLS settings (SSL, SASL_SSL); None: system trust store")
    sasl: SaslConfig | None = None
    # Escape hatch for rare kafka-python settings, validated against the keys kafka-python accepts;
    # never the keys the profile above sets. Secret values as "env:VARNAME".
    client_options: dict[str, Any] = {}
    read_only: bool = Field(False, description="refuse every mutating action (replay, edit, skip, reset)")
    dlq_export: bool = Field(True, description="allow exporting DLQ messages (JSON Lines, CSV)")
    schema_registry: SchemaRegistryConfig | None = None  # decode Avro/Protobuf/JSON Schema DLQ messages

    @field_validator("bootstrap_servers")
    @classmethod
    def _hostport(cls, v: list[str]) -> list[str]:
        for hp in v:
            host, _, port = hp.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{hp!r} is not host:port")
        return v

    @model_validator(mode="after")
    def _profile(self) -> "KafkaClusterConfig":
        check_kafka_profile(self.security_protocol, self.tls, self.sasl)
        return self


class KafkaConfig(Section):
    clusters: list[KafkaClusterConfig] = []
