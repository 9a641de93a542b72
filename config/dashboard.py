"""Settings of the dashboard: bind address, authentication, and the password hash format it uses.

Password hashes look like ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``; make one with
``python -m config hash-password``. Clear passwords never sit in the configuration.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.base import Section

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password`` in the format ``verify_password`` reads."""
    if not password:
        raise ValueError("password must not be empty")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a hash made by `python -m config hash-password` (scrypt$n$r$p$salt$hash)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        raise ValueError("malformed scrypt hash (numbers or base64 do not parse)") from None
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time comparison)."""
    n, r, p, salt, digest = _parse_hash(stored)
    got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=2**27)
    return hmac.compare_digest(got, digest)


class UserConfig(Section):
    name: str = Field(..., min_length=1)
    role: Literal["viewer", "operator"] = "viewer"
    # A hash (see `python -m config hash-password`), never a clear password.
    password_hash: str = Field(..., min_length=1)

    @field_validator("password_hash")
    @classmethod
    def _is_hash(cls, v: str) -> str:
        _parse_hash(v)
        return v


class DashboardConfig(Section):
    address: str = "127.0.0.1"
    port: int = Field(8501, gt=0, lt=65536)
    auth: Literal["none", "password", "oidc"] = "none"
    users: list[UserConfig] = []
    refresh_s: float = Field(5.0, gt=0)
    page_refresh_s: float = Field(15.0, ge=0, description="every page reruns this often (0: never)")
    # Role of the local user when auth is 'none' (only allowed on loopback).
    anonymous_role: Literal["viewer", "operator"] = "operator"
    # OIDC: provider name of an [auth.<provider>] block in .streamlit/secrets.toml (None: the default [auth]).
    oidc_provider: str | None = None
    # OIDC: e-mail addresses (or names) that get the operator role; everyone else is a viewer.
    oidc_operators: list[str] = []
    login_max_failures: int = Field(5, ge=1, description="failed logins per session before a lockout")
    # The address operators open the dashboard at (behind a proxy, say); links in alert
    # notifications point there. None: alerts.dashboard_url.
    public_url: str | None = Field(None, pattern=r"^https?://")

    @model_validator(mode="after")
    def _none_only_on_loopback(self) -> "DashboardConfig":
        if self.auth == "none" and self.address not in LOOPBACK:
            raise ValueError("auth 'none' is only allowed when address is a loopback address")
        if self.auth == "password" and not self.users:
            raise ValueError("auth 'password' needs at least one entry in users")
        return self
