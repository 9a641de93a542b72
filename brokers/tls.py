"""TLS contexts built from a cluster's ``TlsConfig``: the one place a CA, client certificate and key
(password from the environment or the secrets file) become an ``ssl.SSLContext``.

A context made here never consults REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE: a configured CA is the only
trust anchor; without one, the system trust store.
"""
from __future__ import annotations

import ssl

from config import ConfigError, secret
from config.connection import TlsConfig


def key_password(tls: TlsConfig, where: str) -> str | None:
    """The client key's password, or None when the key has none; ConfigError naming the variable."""
    if not tls.key_password_env:
        return None
    pw = secret(tls.key_password_env)
    if pw is None:
        raise ConfigError(f"{where}.key_password_env: secret {tls.key_password_env} is not set "
                          "(environment or secrets file)")
    return pw


def ssl_context(tls: TlsConfig, where: str) -> ssl.SSLContext:
    """A client TLS context (TLS 1.2+) of the profile; ConfigError naming the key of a missing or
    unreadable file or a wrong key password (never the password)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.verify:
        ctx.check_hostname = tls.check_hostname
        if tls.ca_file:
            try:
                ctx.load_verify_locations(cafile=tls.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"{where}.ca_file: cannot load {tls.ca_file}: {_why(exc)}") from None
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        password = key_password(tls, where)
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file, password=password)
        except (OSError, ssl.SSLError) as exc:
            key = "key_password_env" if password is not None and "bad decrypt" in str(exc).lower() else "cert_file"
            raise ConfigError(f"{where}.{key}: cannot load the client certificate/key "
                              f"{tls.cert_file}{' + ' + tls.key_file if tls.key_file else ''}: {_why(exc)}") from None
    return ctx


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return (getattr(exc, "reason", None) or str(exc) or type(exc).__name__)[:200]
