"""Kafka clients of a configured cluster: one place that turns a ``KafkaClusterConfig`` (its typed
connection profile: security protocol, TLS from PEM files, SASL with secrets from the environment or
the secrets file; plus the ``client_options`` escape hatch, ``"env:NAME"`` values resolved as secrets)
into kafka-python settings and opens every admin client, consumer and producer Eventdeck uses."""
from __future__ import annotations

import importlib.util
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from config import ConfigError, secret
from config.kafka import KafkaClusterConfig
from config.connection import TlsConfig

# Keys the typed profile owns: client_options may set them only when the profile leaves them alone.
PROFILE_KEYS = ("security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password",
                "sasl_oauth_token_provider", "sasl_kerberos_service_name", "sasl_kerberos_domain_name")


def where(cfg: KafkaClusterConfig) -> str:
    return f"kafka.clusters[{cfg.name}]"


def _secret(name: str, key: str) -> str:
    value = secret(name)
    if value is None:
        raise ConfigError(f"{key}: secret {name} is not set (environment or secrets file)")
    return value


def profile_config(cfg: KafkaClusterConfig) -> dict[str, Any]:
    """The kafka-python settings of the typed profile (security protocol, TLS context, SASL)."""
    conf: dict[str, Any] = {}
    if cfg.security_protocol == "PLAINTEXT" and cfg.tls is None and cfg.sasl is None:
        return conf
    conf["security_protocol"] = cfg.security_protocol
    if cfg.security_protocol in ("SSL", "SASL_SSL"):
        from brokers.tls import ssl_context
        conf["ssl_context"] = ssl_context(cfg.tls or TlsConfig(), f"{where(cfg)}.tls")
    sasl = cfg.sasl
    if sasl is None:
        return conf
    key = f"{where(cfg)}.sasl"
    conf["sasl_mechanism"] = sasl.mechanism
    if sasl.mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        conf["sasl_plain_username"] = sasl.username
        conf["sasl_plain_password"] = _secret(sasl.password_env, f"{key}.password_env")
    elif sasl.mechanism == "OAUTHBEARER":
        from brokers.oauth import token_provider
        conf["sasl_oauth_token_provider"] = token_provider(sasl.oauth, f"{key}.oauth")
    elif sasl.mechanism == "AWS_MSK_IAM":
        if importlib.util.find_spec("botocore") is None:
            raise ConfigError(f"{key}.mechanism: AWS_MSK_IAM needs the botocore package: "
                              "pip install 'eventdeck[msk]' (or pip install botocore)")
    elif sasl.mechanism == "GSSAPI":
        if importlib.util.find_spec("gssapi") is None:
            raise ConfigError(f"{key}.mechanism: GSSAPI needs the gssapi package (pip install gssapi; "
                              "it needs the system's Kerberos libraries)")
        conf["sasl_kerberos_service_name"] = sasl.kerberos_service_name
        if sasl.kerberos_domain_name:
            conf["sasl_kerberos_domain_name"] = sasl.kerberos_domain_name
    return conf


def client_config(cfg: KafkaClusterConfig) -> dict[str, Any]:
    """kafka-python settings of a cluster; ConfigError naming the key for a bad option or a missing secret."""
    conf: dict[str, Any] = {
        "bootstrap_servers": list(cfg.bootstrap_servers), "client_id": cfg.client_id,
        "request_timeout_ms": cfg.request_timeout_ms, "bootstrap_timeout_ms": cfg.request_timeout_ms,
    }
    profile = profile_config(cfg)
    for key, value in cfg.client_options.items():
        here = f"{where(cfg)}.client_options.{key}"
        if key not in KafkaAdminClient.DEFAULT_CONFIG or key in conf:
            raise ConfigError(f"{here}: not a kafka-python admin client setting that may be set here")
        if key in profile or (profile and (key in PROFILE_KEYS or key.startswith(("ssl_", "sasl_")))):
            raise ConfigError(f"{here}: set by the cluster's connection profile (security_protocol, tls, sasl); "
                              "not both")
        if isinstance(value, str) and value.startswith("env:"):
            value = _secret(value[4:], here)
        conf[key] = value
    conf.update(profile)
    return conf


def secret_values(cfg: KafkaClusterConfig, conf: dict[str, Any]) -> list[str]:
    """The resolved secret values in ``conf`` (to redact them from error texts)."""
    out = [conf[k] for k, raw in cfg.client_options.items()
           if isinstance(raw, str) and raw.startswith("env:") and isinstance(conf.get(k), str) and conf[k]]
    if cfg.sasl is not None and isinstance(conf.get("sasl_plain_password"), str) and conf["sasl_plain_password"]:
        out.append(conf["sasl_plain_password"])
    return out


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


def open_admin(cfg: KafkaClusterConfig, **options: Any) -> AdminClient:
    """An admin client of the cluster with the cluster's client settings plus ``options``."""
    return AdminClient(**{**client_config(cfg), **options})


def open_consumer(cfg: KafkaClusterConfig, **options: Any) -> KafkaConsumer:
    """A consumer of the cluster with the cluster's client settings plus ``options``."""
    return KafkaConsumer(**client_config(cfg), **options)


def open_producer(cfg: KafkaClusterConfig, **options: Any) -> KafkaProducer:
    """A producer of the cluster with the cluster's client settings plus ``options``."""
    return KafkaProducer(**client_config(cfg), **options)


def crc32c_status() -> tuple[bool, str]:
    """Whether kafka-python can use the ``crc32c`` C extension (else it checks CRCs in pure Python,
    ~7× slower DLQ reads); and a sentence for the System page and ``config check``."""
    try:
        import crc32c  # noqa: F401
    except ImportError as exc:
        return False, (f"crc32c extension not importable ({type(exc).__name__}): kafka-python checks record "
                       "CRCs in pure Python, DLQ reads ~7x slower; pip install crc32c")
    return True, "crc32c extension importable: record CRCs checked in C"
