"""The RabbitMQ page tells queue types apart, flags a quorum queue whose messages are dropped past its
delivery limit, and lists stream consumers with lag, time lag and status (AppTest on a seeded store
plus the series the RabbitMQ collector writes for quorum queues and streams)."""
from __future__ import annotations

import time

import yaml
from streamlit.testing.v1 import AppTest

from store.db import open_migrated
from store.types import Sample
from store.writes import SampleWriter
from tests import seed
from tests.ui.conftest import APP, RUN_TIMEOUT_S, table_with


def _add_series(store) -> None:
    now = int(time.time() * 1000)
    q = {"cluster": seed.RABBIT, "vhost": "/"}
    rows = [Sample("rabbitmq_queue_info", {**q, "queue": "orders.in", "type": "classic"}, now, 1.0),
            Sample("rabbitmq_queue_info", {**q, "queue": "email.send", "type": "quorum"}, now, 1.0),
            Sample("rabbitmq_queue_info", {**q, "queue": "orders.dlq", "type": "classic"}, now, 1.0),
            Sample("rabbitmq_queue_delivery_limit", {**q, "queue": "email.send"}, now, 3.0),
            Sample("rabbitmq_queue_delivery_limit_without_dlx", {**q, "queue": "email.send"}, now, 3.0)]
    for name, (lag, secs, status, live) in {"billing": (13.0, 64.4, 4.0, 0.0), "audit": (0.0, 0.0, 0.0, 1.0)}.items():
        c = {**q, "stream": "events", "consumer": name}
        rows += [Sample("rabbitmq_stream_consumer_lag_messages", c, now, lag),
                 Sample("rabbitmq_stream_consumer_lag_seconds", c, now, secs),
                 Sample("rabbitmq_stream_consumer_status", c, now, status),
                 Sample("rabbitmq_stream_consumer_live", c, now, live),
                 Sample("rabbitmq_stream_consumer_offset", c, now, 19.0 - lag)]
    conn = open_migrated(store)
    try:
        SampleWriter(conn).write(rows)
    finally:
        conn.close()


def test_queue_types_delivery_limit_flag_and_stream_consumers(seeded):
    _add_series(seeded.store)
    _check(seeded())


def test_the_same_on_postgresql(pg_database, tmp_path, monkeypatch):
    from tests.conftest import _pg_schema

    url, drop = _pg_schema(pg_database)
    try:
        seed.seed_store(url, int(time.time() * 1000))
        _add_series(url)
        cfg_path = seed.seed_config(tmp_path, tmp_path / "unused.db")
        cfg = yaml.safe_load(cfg_path.read_text())
        cfg["store"] = {"url": url}
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        monkeypatch.setenv("EVENTDECK_CONFIG", str(cfg_path))
        monkeypatch.delenv("EVENTDECK_STORE__PATH", raising=False)
        _check(AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run())
    finally:
        drop()


def _check(at: AppTest) -> None:
    at.switch_page("views/rabbitmq.py").run()
    assert not at.exception
    queues = table_with(at, "unacked").set_index("queue")
    assert queues["type"].to_dict() == {"orders.in": "classic", "email.send": "quorum", "orders.dlq": "classic"}
    assert queues.loc["email.send", "delivery limit"] == "3"
    warnings = [w.value for w in at.warning]
    assert warnings == ["Quorum queue email.send (vhost /) has a delivery limit and no dead-letter exchange: "
                        "messages will be dropped after 3 redeliveries, without a trace."]
    consumers = table_with(at, "stored offset").set_index("consumer")
    assert consumers["status"].to_dict() == {"billing": "STOP", "audit": "OK"}
    assert consumers["lag (messages)"].to_dict() == {"billing": "13", "audit": "0"}
    assert consumers.loc["billing", "time lag"] == "1 min 4 s"
    at.multiselect(key="rabbit_types").select("quorum").run()
    assert list(table_with(at, "unacked")["queue"]) == ["email.send"]
