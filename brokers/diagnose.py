"""Which step of reaching a broker failed, and which setting to change: a pure classifier of the
exceptions the connection steps raise (DNS, TCP connect, TLS, authentication, authorisation).

``classify(exc, prefix, stage=...)`` maps one exception to a ``Diagnosis``; ``stage`` says which
step was being tried when it is known (the probe in ``brokers.probe`` tries them one by one). The
same words are used by ``config check --connect``, the System page and ``collector_up``'s reason.
"""
from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

DNS, TCP, TLS, AUTHN, AUTHZ, PROTOCOL, CONFIG = (
    "DNS", "TCP connect", "TLS", "authentication", "authorisation", "protocol", "configuration")
STEPS = (CONFIG, DNS, TCP, TLS, PROTOCOL, AUTHN, AUTHZ)


@dataclass(frozen=True)
class Diagnosis:
    step: str       # one of STEPS
    what: str       # what went wrong, in an operator's words (no secrets)
    setting: str    # the key to change, e.g. kafka.clusters[prod].tls.ca_file

    def text(self) -> str:
        return f"{self.step} failed: {self.what} (check {self.setting})"


def _chain(exc: BaseException) -> list[BaseException]:
    out, seen = [], set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _names(excs: list[BaseException]) -> set[str]:
    return {c.__name__ for e in excs for c in type(e).__mro__}


def classify_tls(exc: BaseException, prefix: str, host: str = "", has_cert: bool = False,
                 endpoint: str = "bootstrap_servers") -> Diagnosis | None:
    """A TLS failure as a Diagnosis, or None when ``exc`` is not about TLS."""
    text = " ".join(str(e) for e in _chain(exc)).lower()
    for e in _chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError) or "certificate_verify_failed" in text:
            msg = (getattr(e, "verify_message", "") or text).lower()
            if "mismatch" in msg or "hostname" in msg:
                return Diagnosis(TLS, f"host name mismatch: the server certificate does not name {host or 'the host'}",
                                 f"{prefix}.{endpoint} (a name the certificate carries) or {prefix}.tls.check_hostname")
            if "expired" in msg:
                return Diagnosis(TLS, "server certificate expired", f"{prefix}.tls.ca_file (the server's certificate)")
            return Diagnosis(TLS, "server certificate not trusted (not signed by the configured CA)",
                             f"{prefix}.tls.ca_file")
    if "closed the connection after the tls handshake" in text:
        return Diagnosis(TLS, "the server closed the connection after the TLS handshake: client certificate "
                         + ("refused" if has_cert else "required and none configured")
                         + " (or the service behind the TLS port is down)",
                         f"{prefix}.tls.cert_file / {prefix}.tls.key_file")
    if any(k in text for k in ("certificate_required", "certificate required", "alert_bad_certificate",
                               "bad certificate", "alert_unknown_ca", "unknown ca", "handshake failure")):
        what = ("client certificate refused by the server" if has_cert
                else "the server requires a client certificate and none is configured")
        return Diagnosis(TLS, what, f"{prefix}.tls.cert_file / {prefix}.tls.key_file")
    if any(k in text for k in ("wrong version number", "unknown protocol", "record layer failure",
                               "packet length too long", "http request")):
        return Diagnosis(PROTOCOL, "the port does not speak TLS", _protocol_key(prefix, endpoint))
    if any(isinstance(e, ssl.SSLError) for e in _chain(exc)):
        return Diagnosis(TLS, f"TLS handshake failed: {_short(exc)}", f"{prefix}.tls")
    return None


def classify(exc: BaseException, prefix: str, *, stage: str | None = None, host: str = "",
             has_cert: bool = False, endpoint: str = "bootstrap_servers",
             login: str = "sasl.username / sasl.password_env") -> Diagnosis:
    """The step that ``exc`` shows failed, and the setting to change. ``prefix`` is the cluster's key
    (``kafka.clusters[prod]``); ``endpoint`` the key naming where it connects; ``login`` the keys of
    its credentials. Pure: looks only at exception types and texts."""
    chain = _chain(exc)
    names = _names(chain)
    text = " ".join(str(e) for e in chain)
    low = text.lower()
    if "ConfigError" in names:
        return Diagnosis(CONFIG, _short(exc), str(exc).split(":", 1)[0])
    if "TokenError" in names:
        if any(getattr(e, "unreachable", False) for e in chain):
            return Diagnosis(AUTHN, f"token endpoint unreachable: {_short(exc)}", f"{prefix}.sasl.oauth.token_url")
        return Diagnosis(AUTHN, f"token request refused: {_short(exc)}",
                         f"{prefix}.sasl.oauth.client_id / client_secret_env")
    if isinstance(exc, socket.gaierror) or stage == DNS:
        return Diagnosis(DNS, f"cannot resolve {host or 'the host'}", f"{prefix}.{endpoint}")
    tls = classify_tls(exc, prefix, host, has_cert, endpoint)
    if tls is not None and stage in (None, TLS, PROTOCOL):
        return tls
    if isinstance(exc, ConnectionRefusedError) or "connection refused" in low:
        return Diagnosis(TCP, f"connection refused by {host or 'the host'} (broker down or wrong port)",
                         f"{prefix}.{endpoint}")
    if stage == TCP or isinstance(exc, (socket.timeout, TimeoutError)) and stage in (None, TCP):
        return Diagnosis(TCP, f"no connection to {host or 'the host'}: {_short(exc)}", f"{prefix}.{endpoint}")
    if "UnsupportedSaslMechanismError" in names or "unsupportedsaslmechanism" in low or "nosharedmechanism" in low \
            or ("mechanism" in low and "not" in low and "support" in low):
        return Diagnosis(AUTHN, f"SASL mechanism not enabled on the broker: {_short(exc)}", f"{prefix}.sasl.mechanism")
    if names & {"SaslAuthenticationFailedError", "ProbableAuthenticationError", "AuthenticationError"} \
            or "access_refused - login was refused" in low or "authentication failed" in low:
        return Diagnosis(AUTHN, "bad credentials (the broker refused the login)", f"{prefix}.{login}")
    if names & {"ProbableAccessDeniedError"} or "not_allowed" in low or "access to vhost" in low:
        return Diagnosis(AUTHZ, f"no access to the virtual host: {_short(exc)}",
                         "the user's permissions on the broker (rabbitmqctl set_permissions)")
    for n in sorted(names):
        if n.endswith("AuthorizationFailedError"):
            return Diagnosis(AUTHZ, f"{n.removesuffix('Error')}: the principal may not do this",
                             "the principal's ACLs on the broker (describe groups/topics, list offsets)")
    if stage == PROTOCOL:
        return Diagnosis(PROTOCOL, f"the broker did not answer the protocol (TLS port without TLS?): {_short(exc)}",
                         _protocol_key(prefix, endpoint))
    return Diagnosis(stage or TCP, _short(exc), f"{prefix}.{endpoint}")


def _protocol_key(prefix: str, endpoint: str) -> str:
    if endpoint == "bootstrap_servers":
        return f"{prefix}.security_protocol"
    return f"{prefix}.{endpoint} (scheme: amqps:// or https:// for TLS)"


def http_status(status: int, path: str, prefix: str) -> Diagnosis | None:
    """A management API answer's status as a Diagnosis (None when it is a success)."""
    if status == 401:
        return Diagnosis(AUTHN, "bad credentials (management API answered 401)",
                         f"{prefix}.username / {prefix}.password_env")
    if status == 403:
        return Diagnosis(AUTHZ, f"management API refused {path} (403): the user needs the 'monitoring' tag",
                         "the user's tags (rabbitmqctl set_user_tags USER monitoring)")
    if status >= 400:
        return Diagnosis(PROTOCOL, f"management API answered HTTP {status} for {path}", f"{prefix}.management_url")
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:240]
