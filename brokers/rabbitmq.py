"""RabbitMQ credentials and connection parameters of a configured cluster.

Password: ``secret(cluster.password_env)``. Only for the local demo, when that variable is unset
and the management URL is a loopback address, the password defaults to ``guest`` (RabbitMQ's
``guest`` user can only log in from loopback anyway).
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pika

from brokers import amqp_fields  # noqa: F401 - installs the lossless, non-raising field-table codec for pika
from config import secret
from config.rabbitmq import RabbitClusterConfig

DEMO_PASSWORD = "guest"


class RabbitError(Exception):
    """The cluster could not be reached or used; ``str(exc)`` is the operator-facing reason (no secrets)."""


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_password(cfg: RabbitClusterConfig) -> str:
    """The cluster's password from ``secret(password_env)``; ``guest`` only for a loopback demo node."""
    pw = secret(cfg.password_env)
    if pw is not None:
        return pw
    if is_loopback(cfg.management_url):
        return DEMO_PASSWORD
    raise RabbitError(f"no password for cluster {cfg.name!r}: set the environment variable "
                      f"{cfg.password_env} (or add it to the secrets file)")


def display_url(url: str) -> str:
    """The URL without any user:password@ part, for messages."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def amqp_parameters(cfg: RabbitClusterConfig, vhost: str | None = None) -> pika.URLParameters:
    """AMQP connection parameters of the cluster (``vhost`` overrides the URL's), with its credentials;
    one attempt, the cluster's timeout for the socket and for a blocked connection."""
    params = pika.URLParameters(cfg.amqp_url)
    if vhost is not None:
        params.virtual_host = vhost
    params.credentials = pika.PlainCredentials(cfg.username, resolve_password(cfg))
    params.connection_attempts = 1
    params.socket_timeout = cfg.timeout_s
    params.blocked_connection_timeout = cfg.timeout_s
    return params
