"""Settings of a Kafka cluster's schema registry (``kafka.clusters[].schema_registry``).

Kept in its own model so it can move into the cluster's connection profile unchanged. Secrets are
named, never written here: ``password_env`` / ``token_env`` name a variable of the environment or the
secrets file (``$EVENTDECK_SECRETS_FILE``)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from config.base import Section


class SchemaRegistryConfig(Section):
    url: str = Field(..., min_length=1, description="base URL, e.g. http://127.0.0.1:8081 "
                     "(Apicurio: the server root; the client adds /apis/registry/v2 or v3)")
    api: Literal["confluent", "apicurio2", "apicurio3"] = Field(
        "confluent", description="registry API; also which id a magic-0 prefix holds: confluent 4-byte "
                                 "schema id, apicurio2 8-byte global id, apicurio3 4-byte content id")
    auth: Literal["none", "basic", "bearer"] = "none"
    username: str | None = Field(None, description="basic auth user")
    password_env: str | None = Field(None, description="basic auth: variable holding the password")
    token_env: str | None = Field(None, description="bearer auth: variable holding the token")
    ca_file: str | None = Field(None, description="PEM CA bundle for an https registry (passed per request)")
    connect_timeout_s: float = Field(3.0, gt=0, le=60)
    read_timeout_s: float = Field(5.0, gt=0, le=120)
    cache_size: int = Field(1000, ge=1, le=100_000, description="schemas kept per registry (LRU, by id)")
    negative_ttl_s: float = Field(30.0, ge=0, le=3600, description="how long an unknown id / unreachable "
                                  "registry answer is remembered")
    max_schema_bytes: int = Field(1 << 20, ge=1024, le=64 << 20, description="a larger schema is refused")
    max_decoded_bytes: int = Field(1 << 20, ge=1024, le=64 << 20, description="a larger decoded value is "
                                   "shown raw")

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"{v!r} must start with http:// or https://")
        return v.rstrip("/")
