"""The RabbitMQ stream protocol client (``rstream``) of a configured cluster.

Host from the cluster's ``amqp_url``, port ``stream_port`` (5552 by default), the cluster's user and
password (``brokers.rabbitmq.resolve_password``); TLS when the AMQP URL is ``amqps://``, from the
cluster's connection profile (``brokers.rabbitmq.tls_context``: CA, client certificate, host-name check).
One consumer per vhost: a stream connection is bound to one.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from rstream import Consumer

from brokers.rabbitmq import tls_context
from config.rabbitmq import RabbitClusterConfig


def stream_host(cfg: RabbitClusterConfig) -> str:
    return urlsplit(cfg.amqp_url).hostname or "127.0.0.1"


def stream_consumer(cfg: RabbitClusterConfig, password: str, vhost: str) -> Consumer:
    """An rstream ``Consumer`` (not yet connected: it connects on first use) for ``vhost``."""
    context = None
    if urlsplit(cfg.amqp_url).scheme == "amqps":
        context = tls_context(cfg)
    return Consumer(stream_host(cfg), cfg.stream_port, username=cfg.username, password=password,
                    ssl_context=context, vhost=vhost, max_retries=1,
                    connection_name="eventdeck-collector")
