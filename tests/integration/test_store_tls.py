"""The PostgreSQL store over TLS: ``store.ca_file`` makes it ``sslmode=verify-full`` against that CA (the
server's certificate must be signed by it and name the URL's host), the password comes from the environment
or the secrets file as without TLS. A private PostgreSQL instance with ``ssl = on`` and certificates made by
trustme at test time; it refuses connections without TLS."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trustme
import yaml

from config import Settings
from store.handle import StoreUnreachable
from tests.pg_private import PrivatePostgres

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "tls-test-Pw-7"


@pytest.fixture(scope="module")
def tls_pg(tmp_path_factory):
    ca = trustme.CA()
    server = ca.issue_cert("localhost")  # the name clients connect to; not 127.0.0.1
    pg = PrivatePostgres(conf={"ssl": "on", "ssl_cert_file": "'../server.crt'", "ssl_key_file": "'../server.key'"},
                         hba=["hostssl all all 127.0.0.1/32 scram-sha-256", "hostnossl all all 0.0.0.0/0 reject"],
                         files={"server.crt": b"".join(p.bytes() for p in server.cert_chain_pems),
                                "server.key": server.private_key_pem.bytes()})
    pg.admin(f"CREATE ROLE eventdeck LOGIN PASSWORD '{PASSWORD}'")
    pg.admin("CREATE DATABASE eventdeck OWNER eventdeck")
    tmp = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(tmp / "other-ca.pem"))
    yield pg, tmp
    pg.remove()


def _settings(pg, tmp, host: str = "localhost", **store) -> Settings:
    return Settings.model_validate({"store": {"url": pg.url("eventdeck", user="eventdeck", host=host),
                                              "ca_file": str(tmp / "ca.pem"), **store}})


def test_the_store_is_reached_over_verified_tls(tls_pg, monkeypatch):
    pg, tmp = tls_pg
    monkeypatch.setenv("EVENTDECK_STORE_PASSWORD", PASSWORD)
    store = _settings(pg, tmp).store.handle
    assert dict(store.options)["sslmode"] == "verify-full"
    assert store.migrate()
    with store.reading() as conn:
        ssl, version = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert ssl is True and version.startswith("TLS")
    with store.writing() as conn:
        conn.execute("INSERT INTO audit_log (ts_ms, actor, action, target, detail, outcome) "
                     "VALUES (1, 'a', 'tls', 'c', '{}', 'ok')")


@pytest.mark.parametrize("change, error", [
    ({"ca_file": "other-ca.pem"}, "certificate verify failed"),  # a server certificate this CA did not sign
    ({"host": "127.0.0.1"}, "does not match host name"),  # the certificate names localhost, not this address
    ({"sslmode": "disable"}, "no encryption"),  # the server refuses plain connections
])
def test_what_tls_refuses(tls_pg, monkeypatch, change, error):
    pg, tmp = tls_pg
    monkeypatch.setenv("EVENTDECK_STORE_PASSWORD", PASSWORD)
    store_over = {k: (str(tmp / v) if k == "ca_file" else v) for k, v in change.items() if k != "host"}
    store = _settings(pg, tmp, host=change.get("host", "localhost"), **store_over).store.handle
    with pytest.raises(StoreUnreachable, match=error) as err:
        store.reader()
    assert PASSWORD not in str(err.value)


def test_cli_processes_use_tls_with_the_password_from_the_secrets_file(tls_pg, tmp_path):
    pg, tmp = tls_pg
    cfg = tmp_path / "eventdeck.yaml"
    cfg.write_text(yaml.safe_dump(_settings(pg, tmp).model_dump(mode="json", exclude_none=True)))
    secrets = tmp_path / "secrets"
    secrets.write_text(f"EVENTDECK_STORE_PASSWORD={PASSWORD}\n")
    env = {"PATH": "/usr/bin:/bin", "EVENTDECK_SECRETS_FILE": str(secrets), "HOME": str(tmp_path)}
    for args in (["store", "migrate", "--config", str(cfg)], ["dlq", "--config", str(cfg), "jobs"]):
        r = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120, cwd=ROOT,
                           env=env)
        assert r.returncode == 0, (args, r.stderr)
        assert PASSWORD not in r.stdout + r.stderr
    env.pop("EVENTDECK_SECRETS_FILE")  # without the password: refused, and said so
    r = subprocess.run([sys.executable, "-m", "dlq", "--config", str(cfg), "jobs"], capture_output=True, text=True,
                       timeout=120, cwd=ROOT, env=env)
    assert r.returncode == 1 and "password" in r.stderr.lower()
