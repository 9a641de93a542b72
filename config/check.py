"""``eventdeck config check FILE``: every problem of a configuration, each naming its key, without
starting or connecting to anything.

First the schema (pydantic reports every bad key at once), then what only the running service would
find: Kafka ``client_options`` that kafka-python does not take or whose ``env:`` secret is unset, and
RabbitMQ passwords that are unset for a non-loopback cluster. Secrets are looked up, never printed.
"""
from __future__ import annotations

import os
from typing import Mapping

from config.settings import ConfigError, Settings, load_settings


def _kafka_problems(settings: Settings) -> list[str]:
    from brokers.kafka import client_config  # brokers imports config, so not at module level

    out = []
    for cfg in settings.kafka.clusters:
        for key, value in cfg.client_options.items():  # one at a time, so each bad option is reported
            try:
                client_config(cfg.model_copy(update={"client_options": {key: value}}))
            except ConfigError as exc:
                out.append(str(exc))
    return out


def _rabbit_problems(settings: Settings) -> list[str]:
    from brokers.rabbitmq import RabbitError, resolve_password

    out = []
    for i, cfg in enumerate(settings.rabbitmq.clusters):
        try:
            resolve_password(cfg)
        except RabbitError as exc:
            out.append(f"rabbitmq.clusters[{i}].password_env: {exc}")
    return out


def problems(path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem found in the configuration at ``path`` (plus ``EVENTDECK_*`` overrides); [] if valid."""
    try:
        settings = load_settings(path, environ)
    except ConfigError as exc:
        return list(exc.problems)
    return _kafka_problems(settings) + _rabbit_problems(settings)
