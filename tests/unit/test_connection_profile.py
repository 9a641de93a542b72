"""The typed connection profile (config.connection) and what brokers/ builds from it, without a network;
and the pure classifier of connection failures (brokers.diagnose), as a table of cases."""
from __future__ import annotations

import socket
import ssl

import pika
import pytest
from pydantic import ValidationError

from brokers.diagnose import classify, http_status
from brokers.kafka import client_config, crc32c_status
from brokers.oauth import ClientCredentialsTokenProvider, StaticTokenProvider, TokenError
from brokers.rabbitmq import amqp_parameters
from config import ConfigError
from config.kafka import KafkaClusterConfig
from config.rabbitmq import RabbitClusterConfig

P = "kafka.clusters[prod]"


def kafka(**kw) -> KafkaClusterConfig:
    return KafkaClusterConfig(name="prod", bootstrap_servers=["b1.example:9093"], **kw)


@pytest.mark.parametrize("kw, says", [
    ({"security_protocol": "SASL_SSL"}, "needs sasl"),
    ({"sasl": {"mechanism": "PLAIN", "username": "u", "password_env": "P"}}, "use SASL_SSL"),
    ({"tls": {"ca_file": "/ca.pem"}}, "use SSL or SASL_SSL"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl": {"mechanism": "AWS_MSK_IAM"}}, "AWS_MSK_IAM needs"),
    ({"security_protocol": "SASL_SSL", "sasl": {"mechanism": "SCRAM-SHA-512", "username": "u"}}, "password_env"),
    ({"security_protocol": "SASL_SSL", "sasl": {"mechanism": "OAUTHBEARER"}}, "needs oauth"),
    ({"security_protocol": "SASL_SSL", "sasl": {"mechanism": "OAUTHBEARER", "oauth": {
        "token_url": "https://idp/token", "token_env": "T"}}}, "exactly one"),
    ({"security_protocol": "SSL", "tls": {"key_file": "/k.pem"}}, "without cert_file"),
    ({"security_protocol": "SASL_SSL", "sasl": {"mechanism": "PLAIN", "username": "u", "password": "x"}},
     "extra"),  # the password itself is never a setting
])
def test_profile_refuses_what_does_not_fit(kw, says):
    with pytest.raises(ValidationError) as err:
        kafka(**kw)
    assert says.lower() in str(err.value).lower()


def test_scram_profile_resolves_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("ED_UNIT_SCRAM_PW", "s3cret")
    conf = client_config(kafka(security_protocol="SASL_SSL", sasl={
        "mechanism": "SCRAM-SHA-512", "username": "eventdeck", "password_env": "ED_UNIT_SCRAM_PW"}))
    assert (conf["security_protocol"], conf["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert conf["sasl_plain_username"] == "eventdeck" and conf["sasl_plain_password"] == "s3cret"
    ctx = conf["ssl_context"]
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED  # hostname verification on by default


def test_missing_secret_names_the_key_not_the_value(monkeypatch):
    monkeypatch.delenv("ED_UNIT_UNSET", raising=False)
    monkeypatch.delenv("EVENTDECK_SECRETS_FILE", raising=False)
    with pytest.raises(ConfigError, match=r"kafka\.clusters\[prod\]\.sasl\.password_env: secret ED_UNIT_UNSET"):
        client_config(kafka(security_protocol="SASL_PLAINTEXT", sasl={
            "mechanism": "PLAIN", "username": "u", "password_env": "ED_UNIT_UNSET"}))


def test_missing_ca_file_names_the_key():
    with pytest.raises(ConfigError, match=r"kafka\.clusters\[prod\]\.tls\.ca_file: cannot load /nonexistent/ca"):
        client_config(kafka(security_protocol="SSL", tls={"ca_file": "/nonexistent/ca.pem"}))


def test_client_options_cannot_override_the_profile():
    with pytest.raises(ConfigError, match=r"client_options\.ssl_cafile: set by the cluster's connection profile"):
        client_config(kafka(security_protocol="SSL", client_options={"ssl_cafile": "/x.pem"}))


def test_msk_iam_without_botocore_says_how_to_install(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "botocore" else real(n, *a))
    with pytest.raises(ConfigError, match=r"sasl\.mechanism: AWS_MSK_IAM needs the botocore package: pip install 'eventdeck\[msk\]'"):
        client_config(kafka(security_protocol="SASL_SSL", sasl={"mechanism": "AWS_MSK_IAM"}))


def test_static_oauth_token_and_provider_kind(monkeypatch):
    monkeypatch.setenv("ED_UNIT_TOKEN", "tok-1")
    conf = client_config(kafka(security_protocol="SASL_SSL", sasl={"mechanism": "OAUTHBEARER",
                                                                   "oauth": {"token_env": "ED_UNIT_TOKEN"}}))
    provider = conf["sasl_oauth_token_provider"]
    assert isinstance(provider, StaticTokenProvider) and provider.token() == "tok-1"
    monkeypatch.setenv("ED_UNIT_TOKEN", "tok-2")  # a rotated token is picked up
    assert provider.token() == "tok-2"


def test_client_credentials_provider_refreshes_before_expiry(monkeypatch):
    from config.connection import OAuthConfig
    monkeypatch.setenv("ED_UNIT_CS", "cs")
    now = [1000.0]
    p = ClientCredentialsTokenProvider(OAuthConfig(token_url="https://idp.example/token", client_id="c",
                                                   client_secret_env="ED_UNIT_CS", refresh_before_s=60),
                                       "x", clock=lambda: now[0])
    issued = iter([("t1", 300.0), ("t2", 300.0)])
    monkeypatch.setattr(p, "_fetch", lambda: next(issued))
    assert p.token() == "t1"
    now[0] += 239  # 300 s lifetime − 60 s margin: still the same token
    assert p.token() == "t1"
    now[0] += 1
    assert p.token() == "t2"


def test_rabbit_external_needs_amqps_and_a_certificate():
    with pytest.raises(ValidationError, match="EXTERNAL needs"):
        RabbitClusterConfig(name="r", login="EXTERNAL")


def test_rabbit_amqps_parameters_carry_the_context_and_external_login(tmp_path):
    import trustme
    ca = trustme.CA()
    leaf = ca.issue_cert("client")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "client.pem"))
    cfg = RabbitClusterConfig(name="r", amqp_url="amqps://rabbit.example:5671/%2F", login="EXTERNAL",
                              tls={"ca_file": str(tmp_path / "ca.pem"), "cert_file": str(tmp_path / "client.pem")})
    params = amqp_parameters(cfg)
    assert isinstance(params.credentials, pika.credentials.ExternalCredentials)
    assert params.ssl_options.server_hostname == "rabbit.example"
    assert params.ssl_options.context.check_hostname


def test_legacy_ca_file_and_verify_tls_fold_into_tls():
    cfg = RabbitClusterConfig(name="r", ca_file="/ca.pem", verify_tls=False)
    assert (cfg.tls.ca_file, cfg.tls.verify) == ("/ca.pem", False)
    assert cfg.tls.insecure == ["server certificate not verified (tls.verify: false)"]


def _verify_error(msg: str) -> ssl.SSLCertVerificationError:
    e = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {msg}")
    e.verify_message = msg
    return e


class SaslAuthenticationFailedError(Exception):
    pass


class GroupAuthorizationFailedError(Exception):
    pass


@pytest.mark.parametrize("exc, stage, step, what, setting", [
    (socket.gaierror(-2, "Name or service not known"), "DNS", "DNS", "cannot resolve", f"{P}.bootstrap_servers"),
    (ConnectionRefusedError(111, "Connection refused"), "TCP connect", "TCP connect", "refused", f"{P}.bootstrap_servers"),
    (TimeoutError("timed out"), "TCP connect", "TCP connect", "no connection", f"{P}.bootstrap_servers"),
    (_verify_error("unable to get local issuer certificate"), "TLS", "TLS", "not trusted", f"{P}.tls.ca_file"),
    (_verify_error("self-signed certificate in certificate chain"), "TLS", "TLS", "not trusted", f"{P}.tls.ca_file"),
    (_verify_error("Hostname mismatch, certificate is not valid for 'b1'."), "TLS", "TLS", "host name mismatch",
     f"{P}.bootstrap_servers (a name the certificate carries) or {P}.tls.check_hostname"),
    (_verify_error("IP address mismatch, certificate is not valid for '10.0.0.1'."), "TLS", "TLS", "host name mismatch",
     f"{P}.bootstrap_servers (a name the certificate carries) or {P}.tls.check_hostname"),
    (ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required"), "TLS", "TLS",
     "requires a client certificate", f"{P}.tls.cert_file / {P}.tls.key_file"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS", "protocol", "does not speak TLS",
     f"{P}.security_protocol"),
    (RuntimeError("SaslHandshake failed: UnsupportedSaslMechanismError"), None, "authentication", "not enabled",
     f"{P}.sasl.mechanism"),
    (SaslAuthenticationFailedError("Authentication failed: Invalid username or password"), None, "authentication",
     "bad credentials", f"{P}.sasl.username / sasl.password_env"),
    (TokenError("token endpoint http://idp/token unreachable: ConnectionError", unreachable=True), "authentication",
     "authentication", "token endpoint unreachable", f"{P}.sasl.oauth.token_url"),
    (TokenError("token endpoint refused the client credentials (HTTP 401)"), "authentication", "authentication",
     "token request refused", f"{P}.sasl.oauth.client_id / client_secret_env"),
    (GroupAuthorizationFailedError("[Error 30]"), None, "authorisation", "GroupAuthorizationFailed",
     "the principal's ACLs on the broker (describe groups/topics, list offsets)"),
    (ConfigError(f"{P}.tls.ca_file: cannot load /x: No such file"), None, "configuration", "cannot load",
     f"{P}.tls.ca_file"),
])
def test_classifier_names_the_step_and_the_setting(exc, stage, step, what, setting):
    d = classify(exc, P, stage=stage, host="b1")
    assert (d.step, d.setting) == (step, setting), d
    assert what in d.what
    assert d.text().startswith(f"{step} failed: ")


def test_classifier_sees_the_cause_chain():
    try:
        try:
            raise _verify_error("unable to get local issuer certificate")
        except ssl.SSLError as inner:
            raise OSError("connect failed") from inner
    except OSError as outer:
        assert classify(outer, P).what.startswith("server certificate not trusted")


@pytest.mark.parametrize("status, step", [(200, None), (401, "authentication"), (403, "authorisation"), (500, "protocol")])
def test_management_status(status, step):
    d = http_status(status, "/api/overview", "rabbitmq.clusters[r]")
    assert (d.step if d else None) == step


def test_crc32c_status_is_reported():
    ok, text = crc32c_status()
    assert ok is True and "crc32c" in text  # requirements.txt pins crc32c


def test_readme_profiles_are_valid_settings():
    import re
    from pathlib import Path

    import yaml

    from config import Settings
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"Profiles to copy.*?```yaml\n(.*?)```", text, re.S).group(1)
    st = Settings.model_validate(yaml.safe_load(block))
    assert [c.sasl.mechanism if c.sasl else c.security_protocol for c in st.kafka.clusters] == [
        "AWS_MSK_IAM", "PLAIN", "SSL", "SCRAM-SHA-512", "OAUTHBEARER"]
    assert st.rabbitmq.clusters[0].login == "EXTERNAL"
