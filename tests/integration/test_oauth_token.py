"""OAUTHBEARER: the client-credentials token provider against a real local HTTP token endpoint, and
the Kafka client side up to the SASL exchange against the TLS Kafka test broker (Tansu offers no
OAUTHBEARER, so the exchange ends at "mechanism not enabled" — after the token was fetched)."""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from brokers.oauth import ClientCredentialsTokenProvider, TokenError
from brokers.probe import probe_kafka
from config.connection import OAuthConfig
from config.kafka import KafkaClusterConfig
from demo.brokers import free_port

SECRET_ENV = "ED_TEST_OAUTH_SECRET"


@pytest.fixture
def idp():
    """A token endpoint: client 'eventdeck' / secret 'cs-1' gets token-N (expires_in 3600), anyone else 401."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            user, _, pw = base64.b64decode(self.headers.get("Authorization", "Basic ")[6:]).decode().partition(":")
            seen.append({"form": body, "client": user})
            if (user, pw) != ("eventdeck", "cs-1") or body.get("grant_type") != ["client_credentials"]:
                self.send_response(401)
                self.end_headers()
                return
            out = json.dumps({"access_token": f"token-{len(seen)}", "token_type": "Bearer", "expires_in": 3600}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/token", seen
    srv.shutdown()
    srv.server_close()


def oauth(url: str, **kw) -> OAuthConfig:
    return OAuthConfig(token_url=url, client_id="eventdeck", client_secret_env=SECRET_ENV, scope="kafka", **kw)


def test_client_credentials_token_is_fetched_cached_and_refreshed(idp, monkeypatch):
    url, seen = idp
    monkeypatch.setenv(SECRET_ENV, "cs-1")
    now = [0.0]
    p = ClientCredentialsTokenProvider(oauth(url, refresh_before_s=600), "k", clock=lambda: now[0])
    assert p.token() == "token-1" and p.token() == "token-1"
    assert seen[0]["form"] == {"grant_type": ["client_credentials"], "scope": ["kafka"]}
    now[0] = 3000.0  # within 600 s of the 3600 s expiry: a new token
    assert p.token() == "token-2" and len(seen) == 2


def test_refused_and_unreachable_endpoints_say_which(idp, monkeypatch):
    url, _ = idp
    monkeypatch.setenv(SECRET_ENV, "wrong")
    with pytest.raises(TokenError) as err:
        ClientCredentialsTokenProvider(oauth(url), "k").token()
    assert "refused the client credentials" in str(err.value) and not err.value.unreachable
    assert "wrong" not in str(err.value)
    with pytest.raises(TokenError) as err:
        ClientCredentialsTokenProvider(oauth(f"http://127.0.0.1:{free_port()}/token"), "k").token()
    assert err.value.unreachable


def _cluster(broker, pki, url: str) -> KafkaClusterConfig:
    tls = {"ca_file": str(pki.ca)}
    if broker.mtls:
        tls.update(cert_file=str(pki.client_cert), key_file=str(pki.client_key))
    return KafkaClusterConfig(name="oauth", bootstrap_servers=[broker.bootstrap], security_protocol="SASL_SSL", tls=tls,
                              sasl={"mechanism": "OAUTHBEARER", "oauth": oauth(url).model_dump(exclude_none=True)},
                              request_timeout_ms=5_000)


def test_unreachable_token_endpoint_names_authentication(tls_kafka, tls_pki, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "cs-1")
    [check] = probe_kafka(_cluster(tls_kafka, tls_pki, f"http://127.0.0.1:{free_port()}/token"))
    d = check.diagnosis
    assert (d.step, d.setting) == ("authentication", "kafka.clusters[oauth].sasl.oauth.token_url"), check.line()
    assert "token endpoint unreachable" in d.what


def test_token_fetched_then_the_broker_has_no_oauthbearer(tls_kafka, tls_pki, idp, monkeypatch):
    url, seen = idp
    monkeypatch.setenv(SECRET_ENV, "cs-1")
    [check] = probe_kafka(_cluster(tls_kafka, tls_pki, url))
    assert seen, "the token endpoint was never asked"
    assert check.diagnosis.step == "authentication" and "mechanism not enabled" in check.diagnosis.what, check.line()
