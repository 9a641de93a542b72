"""'No data yet', 'not configured' and sign-in lockout: the honest states before data arrives."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests import seed
from tests.ui.conftest import APP, RUN_TIMEOUT_S, sign_in
from views.registry import PAGES


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """Defaults plus a store path that does not exist yet (the collector service never ran)."""
    for name in ("EVENTDECK_CONFIG", "EVENTDECK_KAFKA__CLUSTERS", "EVENTDECK_RABBITMQ__CLUSTERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EVENTDECK_STORE__PATH", str(tmp_path / "missing" / "eventdeck.db"))
    return monkeypatch


def _texts(at: AppTest) -> list[str]:
    return [e.value for e in (*at.info, *at.warning, *at.error)]


@pytest.mark.parametrize("page", PAGES, ids=[p.title for p in PAGES])
def test_without_brokers_pages_say_not_configured_or_no_data(bare, page):
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run()
    at.switch_page(page.path).run()
    assert not at.exception, [e.value for e in at.exception]
    texts = _texts(at)
    # why: with nothing configured a page must say so (Kafka, RabbitMQ, DLQ) or that no data exists yet
    assert any(t.startswith(("Not configured", "No data yet")) for t in texts), texts
    assert not any(t.startswith("Broker down") for t in texts), texts


def test_configured_but_never_polled_is_no_data_not_down(bare):
    bare.setenv("EVENTDECK_KAFKA__CLUSTERS", '[{name: fresh, bootstrap_servers: ["127.0.0.1:9"]}]')
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run()
    at.switch_page("views/kafka.py").run()
    texts = _texts(at)
    assert any(t.startswith("No data yet") for t in texts) and not any("Not configured" in t for t in texts), texts


def test_an_unmigrated_store_is_refused_with_how_to_migrate(bare, tmp_path):
    from store.db import connect_writer, migrate

    path = tmp_path / "old.db"
    conn = connect_writer(path)  # a store left by an older version: only its first migration
    migrate(conn, upto=1)
    conn.close()
    bare.setenv("EVENTDECK_STORE__PATH", str(path))
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run()
    assert not at.exception, [e.value for e in at.exception]
    texts = [e.value for e in at.error]
    assert any("python -m store migrate" in t and "python -m collectors" in t for t in texts), texts
    conn = connect_writer(path)
    try:  # the dashboard changed nothing: only the collector service migrates
        assert [v for (v,) in conn.execute("SELECT version FROM schema_migrations")] == [1]
    finally:
        conn.close()


def test_sign_in_locks_after_repeated_failures(seeded):
    at = seeded(auth="password")
    for _ in range(5):  # dashboard.login_max_failures defaults to 5
        sign_in(at, "vera", "wrong")
    sign_in(at, "vera", seed.USERS["vera"][1])  # even the right password is refused while locked
    assert any("Too many failed sign-ins" in e.value for e in at.error)
    at = sign_in(seeded(auth="password"), "vera", seed.USERS["vera"][1])  # the lockout is in the store, not
    assert at.title[0].value == "Eventdeck — sign in"                    # in the browser session
