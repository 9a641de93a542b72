"""Fixtures of the RabbitMQ DLQ tests (a work queue with its DLQ, settings, replay)."""
from __future__ import annotations

import time
from typing import Any

import pytest

from config import Settings
from dlq import api
from dlq.jobs import run_pending
from store.db import open_migrated
from tests.integration.dlq_helpers import Topology
from tests.conftest import store_settings


PW_ENV = "DLQ_TEST_RABBIT_PASSWORD"  # not EVENTDECK_*: that prefix is for settings overrides


@pytest.fixture
def topo(rabbitmq):
    t = Topology(rabbitmq.amqp_url)
    yield t
    t.close()


@pytest.fixture
def settings(rabbitmq, tmp_store, monkeypatch):
    monkeypatch.setenv(PW_ENV, rabbitmq.password)

    def make(**dlq: Any) -> Settings:
        # These tests are about replay mechanics: every header-derived target is allowed here; the target
        # policy itself is exercised in test_dlq_replay_policy.py.
        dlq.setdefault("allowed_targets", {"r": ["*", "exchange:*"]})
        return Settings.model_validate({
            "store": store_settings(tmp_store), "dlq": dlq,
            "rabbitmq": {"clusters": [{"name": "r", "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F",
                                       "management_url": rabbitmq.mgmt_url, "username": rabbitmq.user,
                                       "password_env": PW_ENV}]}})
    return make


def replay(st: Settings, dlq: str, **req: Any) -> dict[str, Any]:
    conn = open_migrated(st.store.handle)
    try:
        jid = api.enqueue_replay(conn, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rate_per_s": None, **req},
                                 "tester", int(time.time() * 1000))
        assert run_pending(st, st.store.handle, jid) == jid
        return api.job(conn, jid)
    finally:
        conn.close()
