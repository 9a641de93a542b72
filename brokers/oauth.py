"""OAUTHBEARER tokens for Kafka: a client-credentials token provider (RFC 6749 §4.4) that fetches a
token from the identity provider's token endpoint and fetches a new one ``refresh_before_s`` before
it expires, and a static-token provider. Both implement kafka-python's ``AbstractTokenProvider``.

Secrets (client secret, tokens) are never put in an error text.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import requests
from kafka.net.sasl.oauth import AbstractTokenProvider

from config import ConfigError, secret
from config.connection import OAuthConfig


class TokenError(Exception):
    """The token endpoint could not be reached or gave no token; ``str`` names which (no secrets)."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def _secret(name: str, where: str) -> str:
    value = secret(name)
    if value is None:
        raise ConfigError(f"{where}: secret {name} is not set (environment or secrets file)")
    return value


class StaticTokenProvider(AbstractTokenProvider):
    def __init__(self, cfg: OAuthConfig, where: str) -> None:
        super().__init__()
        self.cfg, self.where = cfg, where
        _secret(cfg.token_env, f"{where}.token_env")  # fail at start when unset

    def token(self) -> str:
        return _secret(self.cfg.token_env, f"{self.where}.token_env")  # re-read: a rotated token is used

    def extensions(self) -> dict[str, str]:
        return dict(self.cfg.extensions)


class ClientCredentialsTokenProvider(AbstractTokenProvider):
    """Token from ``token_url`` by the client-credentials grant, cached until ``refresh_before_s``
    before its ``expires_in``. TLS to the endpoint: ``ca_file`` when given, passed per request so
    REQUESTS_CA_BUNDLE cannot override it; else the default trust."""

    def __init__(self, cfg: OAuthConfig, where: str, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.cfg, self.where, self.clock = cfg, where, clock
        self.verify: Any = cfg.ca_file or True
        _secret(cfg.client_secret_env, f"{where}.client_secret_env")
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.fetches = 0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._refresh_at:
                self._token, lifetime = self._fetch()
                self._refresh_at = self.clock() + max(0.0, lifetime - self.cfg.refresh_before_s)
            return self._token

    def _fetch(self) -> tuple[str, float]:
        cfg = self.cfg
        form = {"grant_type": "client_credentials"}
        if cfg.scope:
            form["scope"] = cfg.scope
        if cfg.audience:
            form["audience"] = cfg.audience
        secret_value = _secret(cfg.client_secret_env, f"{self.where}.client_secret_env")
        try:
            resp = requests.post(cfg.token_url, data=form, auth=(cfg.client_id, secret_value),
                                 timeout=cfg.timeout_s, verify=self.verify,
                                 headers={"Accept": "application/json"})
        except requests.exceptions.SSLError:
            raise TokenError(f"token endpoint {cfg.token_url}: TLS error (certificate not trusted?)",
                             unreachable=True) from None
        except requests.exceptions.RequestException as exc:
            raise TokenError(f"token endpoint {cfg.token_url} unreachable: {type(exc).__name__}",
                             unreachable=True) from None
        self.fetches += 1
        if resp.status_code in (400, 401, 403):
            raise TokenError(f"token endpoint {cfg.token_url} refused the client credentials of "
                             f"{cfg.client_id!r} (HTTP {resp.status_code})")
        if resp.status_code >= 300:
            raise TokenError(f"token endpoint {cfg.token_url} answered HTTP {resp.status_code}", unreachable=True)
        try:
            body = resp.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise TokenError(f"token endpoint {cfg.token_url} gave no access_token") from None
        if not isinstance(token, str) or not token or not (0 < lifetime < 10 ** 9):
            raise TokenError(f"token endpoint {cfg.token_url} gave no usable access_token/expires_in")
        return token, lifetime

    def extensions(self) -> dict[str, str]:
        return dict(self.cfg.extensions)


def token_provider(cfg: OAuthConfig, where: str) -> AbstractTokenProvider:
    if cfg.token_env:
        return StaticTokenProvider(cfg, where)
    return ClientCredentialsTokenProvider(cfg, where)
