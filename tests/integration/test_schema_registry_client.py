"""brokers.schema_registry against a real HTTP(S) server (the registry stand-in): basic and bearer auth with
secrets from the environment or the secrets file, the cluster's CA passed per request (REQUESTS_CA_BUNDLE
set to another bundle cannot override it), and clear errors naming the setting to change."""
from __future__ import annotations

import base64
import json
import ssl

import pytest
import trustme

from brokers.schema_registry import RegistryClient, RegistryError, RegistryUnreachable, SchemaNotFound
from config import ConfigError
from config.schema_registry import SchemaRegistryConfig
from tests.registry_standin import RegistryStandIn

AVRO = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]})


@pytest.fixture
def tls(tmp_path, monkeypatch):
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    other = trustme.CA()  # what the environment points requests at: a bundle that does not trust the registry
    other_file = tmp_path / "other.pem"
    other.cert_pem.write_to_path(str(other_file))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_file))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other_file))
    reg = RegistryStandIn(ssl_context=server_ctx).start()
    reg.put(5, {"schema": AVRO}, subject="t-value")
    yield reg, ca_file
    reg.stop()


def test_ca_file_is_used_per_request_despite_requests_ca_bundle(tls):
    reg, ca_file = tls
    client = RegistryClient(SchemaRegistryConfig(url=reg.url, ca_file=str(ca_file)), "c")
    raw = client.get_by_id("id", 5)
    assert raw.schema_type == "AVRO" and raw.text == AVRO and (raw.subject, raw.version) == ("t-value", "1")
    with pytest.raises(SchemaNotFound):
        client.get_by_id("id", 2**31 - 1)


def test_without_the_ca_tls_fails_naming_ca_file(tls):
    reg, _ = tls
    client = RegistryClient(SchemaRegistryConfig(url=reg.url, connect_timeout_s=2), "c")
    with pytest.raises(RegistryUnreachable, match=r"kafka.clusters\[c\].schema_registry.ca_file"):
        client.get_by_id("id", 5)


def test_basic_auth_from_the_secrets_file(tmp_path, monkeypatch):
    reg = RegistryStandIn(authorization="Basic " + base64.b64encode(b"eventdeck:s3cret").decode()).start()
    try:
        reg.put(1, {"schema": AVRO})
        secrets = tmp_path / "secrets"
        secrets.write_text("REG_PW=s3cret\n")
        monkeypatch.delenv("REG_PW", raising=False)
        monkeypatch.setenv("EVENTDECK_SECRETS_FILE", str(secrets))
        cfg = SchemaRegistryConfig(url=reg.url, auth="basic", username="eventdeck", password_env="REG_PW")
        assert RegistryClient(cfg, "c").get_by_id("id", 1).text == AVRO
        secrets.write_text("REG_PW=wrong\n")
        with pytest.raises(RegistryError, match=r"401 \(check kafka.clusters\[c\].schema_registry.auth\)") as ei:
            RegistryClient(cfg, "c").get_by_id("id", 1)
        assert "wrong" not in str(ei.value)
    finally:
        reg.stop()


def test_bearer_auth_from_the_environment_and_missing_secret(monkeypatch):
    reg = RegistryStandIn(authorization="Bearer tok-123").start()
    try:
        reg.put(1, {"schema": AVRO})
        monkeypatch.setenv("REG_TOKEN", "tok-123")
        cfg = SchemaRegistryConfig(url=reg.url, auth="bearer", token_env="REG_TOKEN")
        assert RegistryClient(cfg, "c").get_by_id("id", 1).text == AVRO
        monkeypatch.delenv("REG_TOKEN")
        monkeypatch.delenv("EVENTDECK_SECRETS_FILE", raising=False)
        with pytest.raises(ConfigError, match=r"schema_registry.token_env: secret REG_TOKEN is not set"):
            RegistryClient(cfg, "c")
    finally:
        reg.stop()


def test_down_registry_is_unreachable():
    reg = RegistryStandIn().start()
    url = reg.url
    reg.stop()
    with pytest.raises(RegistryUnreachable, match="registry unreachable"):
        RegistryClient(SchemaRegistryConfig(url=url, connect_timeout_s=1), "c").get_by_id("id", 1)


JSON_SCHEMA = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                          "properties": {"n": {"type": "integer"}}})


@pytest.mark.parametrize("api", ["apicurio2", "apicurio3"])
def test_apicurio_framings_decode_through_the_http_client(api):
    """Apicurio framings written by the test per Apicurio's serdes (magic 0 + 8-byte global id for 2.x,
    magic 0 + 4-byte content id for 3.x, or apicurio.value.* headers of 8-byte longs), decoded through
    the real HTTP client; v3 does not name the artifact type, which is told from the content."""
    import io
    import struct

    import fastavro

    from dlq.schemas import Decoder, SchemaCache

    reg = RegistryStandIn().start()
    try:
        reg.put(11, {"schema": AVRO})
        reg.put(12, {"schema": JSON_SCHEMA, "schemaType": "JSON"})
        cfg = SchemaRegistryConfig(url=reg.url, api=api)
        dec = Decoder(SchemaCache(cfg, RegistryClient(cfg, "c")), wire=api)
        out = io.BytesIO()
        fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(AVRO)), {"a": "apicurio"})
        body = out.getvalue()
        prefix = b"\x00" + (struct.pack(">q", 11) if api == "apicurio2" else struct.pack(">I", 11))
        d = dec.decode(prefix + body, [])
        assert d["status"] == "decoded" and d["value"] == {"a": "apicurio"}, d
        assert d["id_kind"] == ("global" if api == "apicurio2" else "content")
        side = "globalId" if api == "apicurio2" else "contentId"
        d = dec.decode(b'{"n": 3}', [(f"apicurio.value.{side}", struct.pack(">q", 12))])
        assert d["status"] == "decoded" and d["format"] == "json" and d["value"] == {"n": 3}, d
        d = dec.decode(b"\x00" + b"\x00" * (8 if api == "apicurio2" else 4), [])
        assert d["reason"] == "unknown id"
    finally:
        reg.stop()
