"""Connection test of a cluster, one step at a time, so a failure names its step: DNS, TCP connect,
TLS handshake (server certificate, host name, client certificate), the broker protocol, then the
real clients Eventdeck uses (authentication, authorisation). Every client is the one ``brokers/``
builds from the cluster's profile. Each probe is bounded by the cluster's timeout.

``probe_kafka`` / ``probe_rabbit`` return a list of ``Check`` (one per client kind: ``kafka`` admin,
``amqp``, ``management``); ``Check.diagnosis`` is None when the client got through.
"""
from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from brokers.diagnose import AUTHN, DNS, PROTOCOL, TCP, TLS, Diagnosis, classify, http_status
from config import ConfigError
from config.kafka import KafkaClusterConfig
from config.rabbitmq import RabbitClusterConfig


@dataclass(frozen=True)
class Check:
    cluster: str
    client: str                    # kafka | amqp | management
    diagnosis: Diagnosis | None    # None: connected, authenticated and authorised
    detail: str = ""               # what was checked when it passed

    @property
    def ok(self) -> bool:
        return self.diagnosis is None

    def line(self) -> str:
        head = f"{self.cluster} {self.client}:"
        return f"{head} ok ({self.detail})" if self.ok else f"{head} {self.diagnosis.text()}"


def bounded(fn: Callable[[], Any], timeout_s: float) -> Any:
    """Run ``fn`` in a daemon thread, at most ``timeout_s``; TimeoutError past it."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["v"] = fn()
        except BaseException as exc:  # handed to the caller
            box["e"] = exc
    t = threading.Thread(target=run, daemon=True, name="eventdeck-probe")
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if "e" in box:
        raise box["e"]
    return box.get("v")


# ------------------------------------------------------------------ socket steps

def _api_versions_request() -> bytes:
    client = b"eventdeck-probe"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    return struct.pack(">i", len(body)) + body


def _recv_some(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < 8:
        chunk = sock.recv(8 - len(data))
        if not chunk:
            break
        data += chunk
    return data


def socket_steps(host: str, port: int, context: ssl.SSLContext | None, timeout_s: float,
                 hello: bytes | None, expect: Callable[[bytes], bool]) -> tuple[str, BaseException] | None:
    """DNS, TCP, TLS (when ``context``) and a first exchange (``hello`` → an answer ``expect`` accepts);
    None when all passed, else (step, exception)."""
    try:
        addrs = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return DNS, exc
    raw: socket.socket | None = None
    failure: OSError | None = None
    for family, _t, _p, _c, addr in addrs:  # every address of the name (localhost: ::1, then 127.0.0.1)
        raw = socket.socket(family, socket.SOCK_STREAM)
        raw.settimeout(timeout_s)
        try:
            raw.connect(addr)
            break
        except OSError as exc:
            raw.close()
            raw, failure = None, failure or exc
    if raw is None:
        return TCP, failure or OSError("no address")
    sock: socket.socket = raw
    try:
        if context is not None:
            try:
                sock = context.wrap_socket(raw, server_hostname=host)
            except (ssl.SSLError, OSError) as exc:
                return TLS, exc
        try:
            if hello is not None:
                sock.sendall(hello)
            answer = _recv_some(sock)
        except (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError) as exc:
            if context is None:
                return PROTOCOL, exc
            return TLS, ssl.SSLError(f"the server closed the connection after the TLS handshake ({exc})")
        except ssl.SSLError as exc:
            return TLS, exc
        except OSError as exc:
            return PROTOCOL, exc
        if context is not None and not answer and hello is not None:
            # TLS 1.3: a refused client certificate shows after the handshake, as the connection closing
            return TLS, ssl.SSLError("the server closed the connection after the TLS handshake")
        if not expect(answer):
            return PROTOCOL, ConnectionError(f"unexpected answer ({len(answer)} bytes)")
        return None
    finally:
        sock.close()


def _hostport(hp: str, default: int) -> tuple[str, int]:
    host, _, port = hp.rpartition(":")
    return (host.strip("[]"), int(port)) if host else (hp, default)


# ------------------------------------------------------------------ Kafka

class _LogCatcher(logging.Handler):
    """kafka-python logs why a connection failed and raises only a bootstrap timeout: keep the texts."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.texts) < 50:
            self.texts.append(record.getMessage()[:400])


def probe_kafka(cfg: KafkaClusterConfig, timeout_s: float | None = None) -> list[Check]:
    from brokers.kafka import client_config, open_admin, where

    prefix = where(cfg)
    timeout_s = timeout_s or max(3.0, cfg.request_timeout_ms / 1000)
    has_cert = bool(cfg.tls and cfg.tls.cert_file)

    def fail(diag: Diagnosis) -> list[Check]:
        return [Check(cfg.name, "kafka", diag)]
    try:
        conf = client_config(cfg)
    except ConfigError as exc:
        return fail(classify(exc, prefix))
    context = conf.get("ssl_context") if cfg.security_protocol in ("SSL", "SASL_SSL") else None
    first: tuple[str, str, BaseException] | None = None
    reached = False
    for hp in cfg.bootstrap_servers:  # steps per bootstrap server; one that gets through is enough
        host, port = _hostport(hp, 9092)
        got = socket_steps(host, port, context, timeout_s, _api_versions_request(), lambda b: len(b) >= 8)
        if got is None:
            reached = True
            break
        first = first or (host, got[0], got[1])
    if not reached and first is not None:
        host, stage, exc = first
        return fail(classify(exc, prefix, stage=stage, host=host, has_cert=has_cert))
    provider = conf.get("sasl_oauth_token_provider")
    if provider is not None:
        try:
            bounded(provider.token, timeout_s)
        except Exception as exc:
            return fail(classify(exc, prefix, stage=AUTHN))
    catcher = _LogCatcher()
    kafka_log = logging.getLogger("kafka")
    # kafka-python's warnings name the real cause; the service silences them (level CRITICAL), so
    # while probing they go to the catcher only, not to the process's log.
    saved = kafka_log.level, kafka_log.propagate
    kafka_log.setLevel(logging.WARNING)
    kafka_log.propagate = False
    kafka_log.addHandler(catcher)
    admin = None
    try:
        admin = bounded(lambda: open_admin(cfg, request_timeout_ms=int(timeout_s * 1000),
                                           bootstrap_timeout_ms=int(timeout_s * 1000)), timeout_s + 5)
        topics = bounded(admin.list_topics, timeout_s + 5)
        groups = bounded(admin.list_groups, timeout_s + 5)
    except Exception as exc:
        return fail(_kafka_failure(exc, catcher.texts, prefix, has_cert))
    finally:
        kafka_log.removeHandler(catcher)
        kafka_log.setLevel(saved[0])
        kafka_log.propagate = saved[1]
        if admin is not None:
            try:
                admin.close()
            except Exception:  # noqa: BLE001 - the probe's verdict is made; a failing close changes nothing
                pass
    return [Check(cfg.name, "kafka", None, f"{len(topics)} topics, {len(groups)} groups visible")]


def _kafka_failure(exc: BaseException, logged: list[str], prefix: str, has_cert: bool) -> Diagnosis:
    """The most telling reason: an exception naming auth/authorisation, else what kafka-python logged."""
    diag = classify(exc, prefix, has_cert=has_cert)
    if diag.step in (AUTHN, "authorisation"):
        return diag
    for text in logged:
        low = text.lower()
        if "sasl" in low or "authentic" in low or "authoriz" in low or "mechanism" in low:
            return classify(RuntimeError(text), prefix, has_cert=has_cert)
    if logged:
        again = classify(RuntimeError(logged[-1]), prefix, has_cert=has_cert)
        if again.step != TCP:
            return again
    return diag


# ------------------------------------------------------------------ RabbitMQ

def probe_rabbit(cfg: RabbitClusterConfig, timeout_s: float | None = None) -> list[Check]:
    return [_probe_amqp(cfg, timeout_s or cfg.timeout_s), _probe_management(cfg, timeout_s or cfg.timeout_s)]


def _probe_amqp(cfg: RabbitClusterConfig, timeout_s: float) -> Check:
    import pika

    from brokers.rabbitmq import RabbitError, amqp_parameters, tls_context, where

    prefix = where(cfg)
    login = "username / password_env" if cfg.login == "PLAIN" else "tls.cert_file (EXTERNAL login)"
    parts = urlsplit(cfg.amqp_url)
    tls = parts.scheme == "amqps"
    host, port = parts.hostname or "", parts.port or (5671 if tls else 5672)
    has_cert = bool(cfg.tls.cert_file)

    def fail(diag: Diagnosis) -> Check:
        return Check(cfg.name, "amqp", diag)
    try:
        context = tls_context(cfg) if tls else None
        params = amqp_parameters(cfg)
    except RabbitError as exc:
        return fail(classify(ConfigError(str(exc)), prefix))
    got = socket_steps(host, port, context, timeout_s, b"AMQP\x00\x00\x09\x01", lambda b: b.startswith(b"\x01"))
    if got is not None:
        return fail(classify(got[1], prefix, stage=got[0], host=host, has_cert=has_cert, endpoint="amqp_url", login=login))
    params.socket_timeout = params.blocked_connection_timeout = timeout_s
    try:
        conn = bounded(lambda: pika.BlockingConnection(params), timeout_s + 5)
    except Exception as exc:
        return fail(classify(exc, prefix, host=host, has_cert=has_cert, endpoint="amqp_url", login=login))
    try:
        vhost = params.virtual_host
        conn.close()
    except Exception:  # noqa: BLE001 - logged in is the verdict; a close the broker already did changes nothing
        pass
    return Check(cfg.name, "amqp", None, f"logged in with {cfg.login} to vhost {vhost!r}")


def _probe_management(cfg: RabbitClusterConfig, timeout_s: float) -> Check:
    import requests

    from brokers.rabbitmq import ManagementClient, RabbitError, resolve_password, tls_context, where

    prefix = where(cfg)
    parts = urlsplit(cfg.management_url)
    https = parts.scheme == "https"
    host, port = parts.hostname or "", parts.port or (443 if https else 80)

    def fail(diag: Diagnosis) -> Check:
        return Check(cfg.name, "management", diag)
    try:
        context = tls_context(cfg) if https else None
        password = resolve_password(cfg)
    except RabbitError as exc:
        return fail(classify(ConfigError(f"{prefix}.password_env: {exc}" if "password" in str(exc) else str(exc)),
                             prefix))
    hello = f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    got = socket_steps(host, port, context, timeout_s, hello, lambda b: b.startswith(b"HTTP/"))
    if got is not None:
        return fail(classify(got[1], prefix, stage=got[0], host=host, has_cert=bool(cfg.tls.cert_file),
                             endpoint="management_url", login="username / password_env"))
    client = ManagementClient(cfg)
    try:
        for path in ("/api/overview", "/api/queues?page=1&page_size=1&columns=name"):
            try:
                resp = client.get(path, password)
            except (requests.exceptions.RequestException, RabbitError) as exc:
                return fail(classify(exc, prefix, host=host, endpoint="management_url"))
            diag = http_status(resp.status_code, path.split("?")[0], prefix)
            if diag is not None:
                return fail(diag)
    finally:
        client.close()
    return Check(cfg.name, "management", None, f"{cfg.username} may read /api/overview and /api/queues")


class ConnectionFailed(Exception):
    """A client could not connect; ``str`` is the failed step and the setting to change (no secrets)."""


def connection_failure(cfg: KafkaClusterConfig, exc: BaseException) -> ConnectionFailed:
    """Why a Kafka client could not connect, named by the probe's steps (the collector's reason)."""
    try:
        checks = probe_kafka(cfg)
    except Exception:  # the probe itself failed: keep the client's own error
        return ConnectionFailed(str(exc) or type(exc).__name__)
    diag = checks[0].diagnosis
    return ConnectionFailed(diag.text() if diag is not None else f"{type(exc).__name__}: {exc}")


def probe_all(settings: Any, cluster: str | None = None) -> list[Check]:
    """Every configured cluster's checks (or only ``cluster``'s)."""
    out: list[Check] = []
    for kc in settings.kafka.clusters:
        if cluster in (None, kc.name):
            out.extend(probe_kafka(kc))
    for rc in settings.rabbitmq.clusters:
        if cluster in (None, rc.name):
            out.extend(probe_rabbit(rc))
    return out


def connection_rows(checks: list[Check]) -> list[dict[str, str]]:
    """Checks as table rows for the System page (plain text cells)."""
    return [{"cluster": c.cluster, "client": c.client, "result": "ok" if c.ok else "failed",
             "step": "" if c.ok else c.diagnosis.step, "detail": c.detail if c.ok else c.diagnosis.what,
             "change": "" if c.ok else c.diagnosis.setting} for c in checks]


def connection_warnings(settings: Any) -> list[tuple[str, str]]:
    """(cluster, warning) for every cluster whose TLS does not check the server's identity."""
    out = [(f"kafka {c.name}", w) for c in settings.kafka.clusters if c.tls is not None for w in c.tls.insecure]
    out += [(f"rabbitmq {c.name}", w) for c in settings.rabbitmq.clusters for w in c.tls.insecure]
    return out
