"""Kafka clients of a configured cluster: one place that turns a ``KafkaClusterConfig`` into
kafka-python settings (secrets given as ``"env:NAME"`` resolved from the environment or the
secrets file) and opens the admin client and consumers the collectors and the DLQ code use."""
from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer

from config import ConfigError, secret
from config.kafka import KafkaClusterConfig


def client_config(cfg: KafkaClusterConfig) -> dict[str, Any]:
    """kafka-python settings of a cluster; ConfigError naming the key for a bad option or a missing secret."""
    conf: dict[str, Any] = {
        "bootstrap_servers": list(cfg.bootstrap_servers), "client_id": cfg.client_id,
        "request_timeout_ms": cfg.request_timeout_ms, "bootstrap_timeout_ms": cfg.request_timeout_ms,
    }
    for key, value in cfg.client_options.items():
        where = f"kafka.clusters[{cfg.name}].client_options.{key}"
        if key not in KafkaAdminClient.DEFAULT_CONFIG or key in conf:
            raise ConfigError(f"{where}: not a kafka-python admin client setting that may be set here")
        if isinstance(value, str) and value.startswith("env:"):
            value = secret(value[4:])
            if value is None:
                raise ConfigError(f"{where}: secret {cfg.client_options[key][4:]} is not set "
                                  "(environment or secrets file)")
        conf[key] = value
    return conf


def secret_values(cfg: KafkaClusterConfig, conf: dict[str, Any]) -> list[str]:
    """The resolved secret values in ``conf`` (to redact them from error texts)."""
    return [conf[k] for k, raw in cfg.client_options.items()
            if isinstance(raw, str) and raw.startswith("env:") and isinstance(conf.get(k), str) and conf[k]]


class AdminClient(KafkaAdminClient):
    """The admin client, minus a thread leak: a failed bootstrap stops the I/O thread it started."""

    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            if getattr(self, "_client", None) is not None:
                self._client.close()
            if getattr(self, "_net", None) is not None:
                self._net.stop()
            raise


def open_consumer(cfg: KafkaClusterConfig, **options: Any) -> KafkaConsumer:
    """A consumer of the cluster with the cluster's client settings plus ``options``."""
    return KafkaConsumer(**client_config(cfg), **options)
