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

# OWASP: N >= 2^17 with r = 8 and p >= 1 (about 0.3 s and 128 MiB per hash). Weaker hashes are refused.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**17, 8, 1
MIN_N, MAX_N, MAX_P = 2**17, 2**20, 16
_MAXMEM = 2**31 - 1  # scrypt needs 128 * r * N bytes (and a little more)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password`` in the format ``verify_password`` reads."""
    if not password:
        raise ValueError("password must not be empty")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32,
                           maxmem=_MAXMEM)
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
    if n < MIN_N or n > MAX_N or n & (n - 1) or r != 8 or not 1 <= p <= MAX_P or len(salt) < 16 \
            or len(digest) < 32:
        raise ValueError(f"scrypt parameters too weak or out of range (need N a power of two in "
                         f"[2^17, 2^20], r = 8, 1 <= p <= {MAX_P}, 16-byte salt); make a new hash with "
                         f"`python -m config hash-password`")
    return n, r, p, salt, digest


def hash_cost(stored: str) -> int:
    """The work of checking ``stored`` (scrypt N x p; memory and time grow with it); 0 when it is malformed."""
    try:
        n, _r, p, _salt, _digest = _parse_hash(stored)
    except ValueError:
        return 0
    return n * p


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time comparison)."""
    n, r, p, salt, digest = _parse_hash(stored)
    got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=_MAXMEM)
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


class OidcConfig(Section):
    """Who may sign in at all through OIDC (viewers included): an identity is the verified e-mail
    (``email_verified`` true) or else the subject ``sub``; a display name never is."""

    allowed_emails: list[str] = Field(default_factory=list, description="verified e-mail addresses")
    allowed_domains: list[str] = Field(default_factory=list, description="domains of verified e-mail addresses")
    allowed_subjects: list[str] = Field(default_factory=list, description="OIDC 'sub' values (no verified e-mail)")


class DashboardConfig(Section):
    address: str = "127.0.0.1"
    port: int = Field(8501, gt=0, lt=65536)
    auth: Literal["none", "password", "oidc"] = "none"
    users: list[UserConfig] = []
    refresh_s: float = Field(5.0, gt=0)
    page_refresh_s: float = Field(15.0, ge=0, description="every page reruns this often (0: never)")
    # Role of the local user when auth is 'none' (only allowed on loopback).
    anonymous_role: Literal["viewer", "operator"] = "viewer"
    # OIDC: provider name of an [auth.<provider>] block in .streamlit/secrets.toml (None: the default [auth]).
    oidc_provider: str | None = None
    # OIDC: identities (verified e-mail addresses or 'sub' values) that get the operator role; every other
    # allowed identity is a viewer.
    oidc_operators: list[str] = []
    oidc: OidcConfig = OidcConfig()
    login_max_failures: int = Field(5, ge=1, description="failed sign-ins per user (and per address) before a lockout")
    lockout_s: float = Field(900.0, gt=0, description="failed sign-ins count this long; the lockout lasts as long")
    session_ttl_s: float = Field(12 * 3600.0, gt=0, le=30 * 86400, description="a sign-in lasts this long")
    idle_timeout_s: float = Field(3600.0, gt=0, le=30 * 86400,
                                  description="a sign-in unused this long ends (page reruns count as use)")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host header values accepted besides address:port and loopback "
                                          "names (e.g. the DNS name a reverse proxy serves the dashboard at)")
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
