"""RabbitMQ clients of a configured cluster, built from its connection profile: AMQP connection
parameters (amqps with the cluster's CA and client certificate, login PLAIN or EXTERNAL) and the
management HTTP client (https with the same CA and certificate, applied per request so
REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE cannot override them).

Password: ``secret(cluster.password_env)``. Only for the local demo, when that variable is unset
and the management URL is a loopback address, the password defaults to ``guest`` (RabbitMQ's
``guest`` user can only log in from loopback anyway).
"""
from __future__ import annotations

import ipaddress
import ssl
from typing import Any
from urllib.parse import urlsplit

import pika
import requests
from requests.adapters import HTTPAdapter

from brokers import amqp_fields  # noqa: F401 - installs the lossless, non-raising field-table codec for pika
from brokers.tls import ssl_context
from config import ConfigError, secret
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


def where(cfg: RabbitClusterConfig) -> str:
    return f"rabbitmq.clusters[{cfg.name}]"


def tls_context(cfg: RabbitClusterConfig) -> ssl.SSLContext:
    """The cluster's TLS context (CA, client certificate); RabbitError naming the key when it cannot be made."""
    try:
        return ssl_context(cfg.tls, f"{where(cfg)}.tls")
    except ConfigError as exc:
        raise RabbitError(str(exc)) from None


def amqp_parameters(cfg: RabbitClusterConfig, vhost: str | None = None) -> pika.URLParameters:
    """AMQP connection parameters of the cluster (``vhost`` overrides the URL's), with its credentials
    (PLAIN) or its client certificate (EXTERNAL) and, for amqps, its TLS context; one attempt, the
    cluster's timeout for the socket and for a blocked connection."""
    params = pika.URLParameters(cfg.amqp_url)
    if vhost is not None:
        params.virtual_host = vhost
    if cfg.amqp_url.startswith("amqps://"):
        params.ssl_options = pika.SSLOptions(tls_context(cfg), urlsplit(cfg.amqp_url).hostname)
    if cfg.login == "EXTERNAL":
        params.credentials = pika.credentials.ExternalCredentials()
    else:
        params.credentials = pika.PlainCredentials(cfg.username, resolve_password(cfg))
    params.connection_attempts = 1
    params.socket_timeout = cfg.timeout_s
    params.blocked_connection_timeout = cfg.timeout_s
    return params


def amqp_connect(cfg: RabbitClusterConfig, vhost: str | None = None,
                 params: pika.URLParameters | None = None) -> pika.BlockingConnection:
    """A blocking AMQP connection of the cluster; RabbitError naming the failed step (DNS, TCP, TLS,
    authentication, authorisation) and the setting to change when it cannot be opened."""
    params = params if params is not None else amqp_parameters(cfg, vhost)
    try:
        return pika.BlockingConnection(params)
    except pika.exceptions.AMQPError as exc:
        from brokers.diagnose import classify
        parts = urlsplit(cfg.amqp_url)
        login = "username / password_env" if cfg.login == "PLAIN" else "tls.cert_file (EXTERNAL login)"
        diag = classify(exc, where(cfg), host=parts.hostname or "", has_cert=bool(cfg.tls.cert_file),
                        endpoint="amqp_url", login=login)
        raise RabbitError(f"{diag.text()} [vhost {params.virtual_host!r}]") from None


class _ContextAdapter(HTTPAdapter):
    """An HTTPS adapter that connects with the cluster's own TLS context."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


class ManagementClient:
    """HTTP client of the management API: the cluster's TLS context for https, and ``verify`` passed
    with every request (the configured CA file, or False when verification is off) so the process
    environment (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) cannot replace the cluster's CA."""

    auth = True

    def __init__(self, cfg: RabbitClusterConfig, base: str | None = None) -> None:
        self.cfg = cfg
        self.base = (base or cfg.management_url).rstrip("/")
        self.session = requests.Session()
        self.verify: Any = (cfg.tls.ca_file or True) if cfg.tls.verify else False
        self._mounted = not self.base.startswith("https://")

    def get(self, path: str, password: str, **kwargs: Any) -> requests.Response:
        """GET ``path``; RabbitError naming the key when the TLS settings cannot be loaded."""
        if not self._mounted:  # built at first use: a bad CA file fails a cycle, not the service start
            self.session.mount("https://", _ContextAdapter(tls_context(self.cfg)))
            self._mounted = True
        kwargs.setdefault("timeout", self.cfg.timeout_s)
        return self.session.get(self.base + path, verify=self.verify,
                                auth=(self.cfg.username, password) if self.auth else None, **kwargs)

    def close(self) -> None:
        self.session.close()


PROMETHEUS_PORT = 15692


class PrometheusClient(ManagementClient):
    """HTTP client of one node's ``rabbitmq_prometheus`` endpoint: the same TLS profile (CA per request)
    as the management client; no credentials are sent (the endpoint takes none)."""

    auth = False


def prometheus_urls(cfg: RabbitClusterConfig) -> list[str]:
    """The configured per-node endpoints, else the management URL's host on port 15692 (same scheme)."""
    if cfg.prometheus_urls:
        return [u.rstrip("/") for u in cfg.prometheus_urls]
    parts = urlsplit(cfg.management_url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return [f"{parts.scheme}://{host}:{PROMETHEUS_PORT}"]
