"""Every registered page on the seeded store kept in PostgreSQL (store.url): no exception, the key numbers
equal the seeded values (the same expectations as on SQLite), and the System page lists the collector
processes sharing the store with their leases."""
from __future__ import annotations

import time

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from runner.leases import LeaseManager
from store import db
from tests import seed
from tests.ui.conftest import APP, RUN_TIMEOUT_S, metrics, table_with
from tests.ui.pages_helpers import EXPECTED
from views.registry import PAGES


@pytest.fixture(scope="module")
def pg_seeded(pg_database, tmp_path_factory):
    """The seeded store in a PostgreSQL schema of its own, written once for the module, and its settings."""
    from tests.conftest import _pg_schema

    url, drop = _pg_schema(pg_database)
    seed.seed_store(url, int(time.time() * 1000))
    directory = tmp_path_factory.mktemp("pgseed")
    cfg_path = seed.seed_config(directory, directory / "unused.db")
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["store"] = {"url": url}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    yield url, cfg_path
    drop()


@pytest.mark.parametrize("page", PAGES, ids=[p.title for p in PAGES])
def test_page_renders_seeded_values_on_postgresql(pg_seeded, monkeypatch, page):
    monkeypatch.setenv("EVENTDECK_CONFIG", str(pg_seeded[1]))
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run()
    at.switch_page(page.path).run()
    assert not at.exception, [e.value for e in at.exception]
    got = metrics(at)
    for label, value in EXPECTED.get(page.title, {}).items():
        assert got.get(label) == value, (page.title, label, got)


def test_system_page_lists_collector_processes_and_leases(pg_seeded, monkeypatch):
    url, cfg = pg_seeded
    m = LeaseManager(lambda: db.connect_writer(url), ["kafka:prod-kafka", "rabbitmq:prod-rabbit"], 30.0,
                     member="host-a:123:abcdef")
    m.beat()
    try:
        monkeypatch.setenv("EVENTDECK_CONFIG", str(cfg))
        at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run()
        at.switch_page("views/system.py").run()
        assert not at.exception, [e.value for e in at.exception]
        members, leases = table_with(at, "holds"), table_with(at, "lease age (s)")
        assert members["member"].tolist() == ["host-a:123:abcdef"]
        assert members["holds"].iloc[0] == "kafka:prod-kafka, rabbitmq:prod-rabbit, service:housekeeping"
        assert set(leases["owner"]) == {"host-a:123:abcdef"} and (leases["expires in (s)"] > 0).all()
    finally:
        m.leave()
