"""The RabbitMQ stream protocol client (``rstream``) of a configured cluster.

Host from the cluster's ``amqp_url``, port ``stream_port`` (5552 by default), the cluster's user and
password (``brokers.rabbitmq.resolve_password``); TLS when the AMQP URL is ``amqps://`` (the cluster's
``ca_file``, or the system's trust store). One consumer per vhost: a stream connection is bound to one.
"""
from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from rstream import Consumer

from config.rabbitmq import RabbitClusterConfig


def stream_host(cfg: RabbitClusterConfig) -> str:
    return urlsplit(cfg.amqp_url).hostname or "127.0.0.1"


def stream_consumer(cfg: RabbitClusterConfig, password: str, vhost: str) -> Consumer:
    """An rstream ``Consumer`` (not yet connected: it connects on first use) for ``vhost``."""
    context = None
    if urlsplit(cfg.amqp_url).scheme == "amqps":
        context = ssl.create_default_context(cafile=cfg.ca_file)
        if not cfg.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return Consumer(stream_host(cfg), cfg.stream_port, username=cfg.username, password=password,
                    ssl_context=context, vhost=vhost, max_retries=1,
                    connection_name="eventdeck-collector")
