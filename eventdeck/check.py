"""``eventdeck config check FILE`` (``python -m config check``): every problem of a configuration, each
naming its key, without starting or connecting to anything.

First the schema (pydantic reports every bad key at once), then what only the running service would
find: Kafka ``client_options`` that kafka-python does not take or whose ``env:`` secret is unset, and
RabbitMQ passwords that are unset for a non-loopback cluster. Secrets are looked up, never printed.
It asks ``brokers/`` for client configs and probes, so it sits above ``config`` and ``brokers``.
"""
from __future__ import annotations

import os
from typing import Mapping

from config.settings import ConfigError, Settings, load_settings


def _kafka_problems(settings: Settings) -> list[str]:
    from brokers.kafka import client_config

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


def crc32c_line() -> str:
    from brokers.kafka import crc32c_status
    return crc32c_status()[1]


def connect(path: str | os.PathLike[str] | None, cluster: str | None = None,
            environ: Mapping[str, str] | None = None) -> tuple[list[str], int]:
    """``--connect``: one line per cluster and client kind (ok, or the step that failed and the setting
    to change), and how many failed. Each probe is bounded by its cluster's timeout."""
    from brokers.probe import probe_all

    settings = load_settings(path, environ)
    known = [c.name for c in settings.kafka.clusters] + [c.name for c in settings.rabbitmq.clusters]
    if cluster is not None and cluster not in known:
        return [f"--connect: no cluster named {cluster!r} (configured: {', '.join(known) or 'none'})"], 1
    checks = probe_all(settings, cluster)
    lines = [c.line() for c in checks]
    for kc in settings.kafka.clusters:
        if cluster in (None, kc.name) and kc.tls is not None:
            lines += [f"{kc.name} kafka: warning: {w}" for w in kc.tls.insecure]
    for rc in settings.rabbitmq.clusters:
        if cluster in (None, rc.name):
            lines += [f"{rc.name} rabbitmq: warning: {w}" for w in rc.tls.insecure]
    return lines or ["no clusters configured"], sum(not c.ok for c in checks)
