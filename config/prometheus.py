"""Settings of the Prometheus ``/metrics`` endpoint the collector service serves."""
from __future__ import annotations

from pydantic import Field

from config.base import Section


class PrometheusConfig(Section):
    enabled: bool = Field(True, description="serve /metrics from the collector service")
    host: str = Field("127.0.0.1", min_length=1, description="address to bind (0.0.0.0 exposes it to the network)")
    port: int = Field(9477, ge=0, le=65535, description="TCP port (0: any free port, logged at start)")
    max_age_s: float = Field(900.0, ge=0, description="series whose latest sample is older are not exported "
                                                      "(0: export every series of the latest table)")
