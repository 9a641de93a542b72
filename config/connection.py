"""The typed connection profile of a cluster: TLS from PEM files and SASL, with secrets named by the
environment variable (or secrets-file key) that holds them, never the secret itself.

Only ``brokers/`` turns these settings into clients; nothing else reads them.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from config.base import Section

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class TlsConfig(Section):
    """TLS of every client of a cluster. A configured CA or client certificate always wins over the
    process environment (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE are not consulted for it)."""

    ca_file: str | None = Field(None, description="PEM CA bundle the server certificate must chain to; "
                                                  "None: the system trust store")
    cert_file: str | None = Field(None, description="PEM client certificate (mTLS, RabbitMQ EXTERNAL)")
    key_file: str | None = Field(None, description="PEM private key of cert_file (may be inside cert_file)")
    key_password_env: str | None = Field(None, pattern=ENV_NAME, description="variable holding the key's password")
    check_hostname: bool = Field(True, description="the server certificate must name the host connected to")
    verify: bool = Field(True, description="verify the server certificate at all (false: insecure, warned)")

    @model_validator(mode="after")
    def _consistent(self) -> "TlsConfig":
        if self.key_file and not self.cert_file:
            raise ValueError("key_file is set without cert_file")
        if self.key_password_env and not self.cert_file:
            raise ValueError("key_password_env is set without cert_file")
        return self

    @property
    def insecure(self) -> list[str]:
        """Warnings for an operator: what of the server's identity is not checked."""
        if not self.verify:
            return ["server certificate not verified (tls.verify: false)"]
        if not self.check_hostname:
            return ["server host name not checked (tls.check_hostname: false)"]
        return []


class OAuthConfig(Section):
    """OAUTHBEARER token: either fetched with the client-credentials grant from ``token_url``
    (refreshed before it expires), or a static token read from ``token_env``."""

    token_url: str | None = Field(None, pattern=r"^https?://")
    client_id: str | None = None
    client_secret_env: str | None = Field(None, pattern=ENV_NAME)
    scope: str | None = None
    audience: str | None = None
    ca_file: str | None = Field(None, description="PEM CA of the token endpoint (else the default trust)")
    token_env: str | None = Field(None, pattern=ENV_NAME, description="a static token (no refresh)")
    refresh_before_s: float = Field(60.0, ge=0, description="fetch a new token this long before expiry")
    timeout_s: float = Field(10.0, gt=0, description="token endpoint request timeout")
    extensions: dict[str, str] = Field(default_factory=dict, description="SASL extensions (KIP-342)")

    @model_validator(mode="after")
    def _one_source(self) -> "OAuthConfig":
        if bool(self.token_url) == bool(self.token_env):
            raise ValueError("set exactly one of token_url (client credentials) or token_env (static token)")
        if self.token_url and not (self.client_id and self.client_secret_env):
            raise ValueError("token_url needs client_id and client_secret_env")
        return self


SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "AWS_MSK_IAM", "GSSAPI"]


class SaslConfig(Section):
    mechanism: SaslMechanism
    username: str | None = Field(None, description="PLAIN / SCRAM user")
    password_env: str | None = Field(None, pattern=ENV_NAME, description="variable holding the PLAIN/SCRAM password")
    oauth: OAuthConfig | None = None
    kerberos_service_name: str = "kafka"
    kerberos_domain_name: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> "SaslConfig":
        if self.mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            if not self.username or not self.password_env:
                raise ValueError(f"{self.mechanism} needs username and password_env")
        elif self.username or self.password_env:
            raise ValueError(f"username/password_env are not used by {self.mechanism}")
        if self.mechanism == "OAUTHBEARER" and self.oauth is None:
            raise ValueError("OAUTHBEARER needs oauth (token_url + client_id + client_secret_env, or token_env)")
        if self.mechanism != "OAUTHBEARER" and self.oauth is not None:
            raise ValueError(f"oauth is only used by OAUTHBEARER, not {self.mechanism}")
        return self


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]


def check_kafka_profile(protocol: str, tls: TlsConfig | None, sasl: SaslConfig | None) -> None:
    """ValueError when the protocol, TLS and SASL settings of a Kafka cluster do not fit together."""
    uses_tls, uses_sasl = protocol in ("SSL", "SASL_SSL"), protocol.startswith("SASL_")
    if uses_sasl and sasl is None:
        raise ValueError(f"security_protocol {protocol} needs sasl (mechanism and its settings)")
    if sasl is not None and not uses_sasl:
        raise ValueError(f"sasl is set but security_protocol is {protocol} (use SASL_SSL or SASL_PLAINTEXT)")
    if tls is not None and not uses_tls:
        raise ValueError(f"tls is set but security_protocol is {protocol} (use SSL or SASL_SSL)")
    if sasl is not None and sasl.mechanism == "AWS_MSK_IAM" and protocol != "SASL_SSL":
        raise ValueError("AWS_MSK_IAM needs security_protocol SASL_SSL")
