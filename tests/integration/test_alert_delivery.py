"""Real delivery through apprise (json://) to a local HTTP receiver, with retry, backoff and silences."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts import api
from alerts.evaluator import Options, evaluate
from alerts.notify import deliver_due
from store import alerts as store_alerts
from store.db import open_migrated
from store.types import Sample
from store.writes import SampleWriter


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


T0 = 1_800_000_000_000
S = 1_000
LAG = {"cluster": "c1", "group": "orders", "topic": "orders.in"}
TARGET = "EVENTDECK_TEST_WEBHOOK"
OPTS = Options(repeat_interval_s=3600, targets={"critical": [TARGET]}, dashboard_url="http://127.0.0.1:8501")


class Receiver:
    """A webhook receiver on 127.0.0.1 answering the given status codes in turn (then 200)."""

    def __init__(self, codes: list[int]):
        self.codes = list(codes)
        self.requests: list[tuple[str, dict, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                code = receiver.codes.pop(0) if receiver.codes else 200
                receiver.requests.append((self.path, json.loads(body), code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hooks/eventdeck"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def conn(tmp_store):
    c = open_migrated(tmp_store)
    yield c
    c.close()


def fire(conn, **extra):
    SampleWriter(conn).write([Sample("kafka_group_lag_messages", LAG, T0, 1500)])
    api.save_rule(conn, {"name": "orders-lag", "metric": "kafka_group_lag_messages", "threshold": 1000,
                         "severity": "critical", "summary": "{group} is {value} behind", **extra}, "ann", T0)
    return evaluate(conn, T0, OPTS)


def test_500_twice_then_200_delivers_exactly_once(conn):
    rx = Receiver([500, 500])
    urls = {TARGET: rx.url}
    try:
        assert fire(conn).queued == 1
        kw = dict(resolve=urls.get, retries=5, base_ms=10_000, cap_ms=600_000)
        assert deliver_due(conn, T0, **kw) == {"sent": 0, "retry": 1, "failed": 0}
        assert deliver_due(conn, T0 + 5 * S, **kw) == {"sent": 0, "retry": 0, "failed": 0}  # backing off
        assert deliver_due(conn, T0 + 10 * S, **kw) == {"sent": 0, "retry": 1, "failed": 0}
        assert deliver_due(conn, T0 + 25 * S, **kw) == {"sent": 0, "retry": 0, "failed": 0}  # 20 s now
        assert deliver_due(conn, T0 + 30 * S, **kw) == {"sent": 1, "retry": 0, "failed": 0}
        assert deliver_due(conn, T0 + 3600 * S, **kw) == {"sent": 0, "retry": 0, "failed": 0}
    finally:
        rx.close()
    assert [code for _, _, code in rx.requests] == [500, 500, 200]
    path, body, _ = rx.requests[-1]
    assert path == "/hooks/eventdeck"
    assert body["title"] == "[FIRING] orders-lag (critical) cluster=c1, group=orders, topic=orders.in"
    assert body["type"] == "failure"
    assert "orders is 1500 behind" in body["message"] and "+500 over the threshold (+50%)" in body["message"]
    assert "http://127.0.0.1:8501/alerts" in body["message"]
    (row,) = store_alerts.read_outbox(conn)
    assert row["status"] == "sent" and row["attempts"] == 3 and row["sent_ms"] == T0 + 30 * S
    attempts = store_alerts.read_attempts(conn, row["id"])
    assert [a["ok"] for a in attempts] == [0, 0, 1]
    shown = api.notifications(conn).iloc[0]   # what the dashboard lists
    assert (shown["status"], shown["attempts"], shown["target"]) == ("sent", 3, TARGET)
    assert "error=500" in attempts[0]["error"] and rx.url not in attempts[0]["error"]


def test_failed_send_is_never_marked_sent(conn):
    rx = Receiver([503] * 10)
    try:
        fire(conn)
        kw = dict(resolve={TARGET: rx.url}.get, retries=1, base_ms=1_000, cap_ms=1_000)
        assert deliver_due(conn, T0, **kw)["retry"] == 1
        assert deliver_due(conn, T0 + 2 * S, **kw)["failed"] == 1
        assert deliver_due(conn, T0 + 60 * S, **kw) == {"sent": 0, "retry": 0, "failed": 0}
    finally:
        rx.close()
    (row,) = store_alerts.read_outbox(conn)
    assert row["status"] == "failed" and row["sent_ms"] is None and row["attempts"] == 2
    assert len(rx.requests) == 2


def test_missing_url_secret_is_a_failed_attempt_naming_it(conn):
    fire(conn)
    deliver_due(conn, T0, resolve=lambda name: None, retries=0)
    (row,) = store_alerts.read_outbox(conn)
    assert row["status"] == "failed" and TARGET in row["last_error"]


def test_invalid_apprise_url_is_a_failed_attempt_without_the_url(conn):
    fire(conn)
    deliver_due(conn, T0, resolve=lambda name: "nosuchscheme://secret-token@host", retries=0)
    (row,) = store_alerts.read_outbox(conn)
    assert row["status"] == "failed" and "not valid" in row["last_error"] and "secret-token" not in row["last_error"]


def test_silenced_alert_is_recorded_but_not_sent(conn):
    rx = Receiver([])
    try:
        api.add_silence(conn, {"alertname": "orders-lag"}, T0 - S, T0 + 3600 * S, "ann", "deploy", T0)
        fire(conn)
        assert deliver_due(conn, T0, resolve={TARGET: rx.url}.get) == {"sent": 0, "retry": 0, "failed": 0}
        hist = api.history(conn)
        assert list(hist["event"]) == ["firing"] and hist.iloc[0]["silenced_by"] == [1]
        # a rule without a silence on the same store is delivered: the receiver works
        SampleWriter(conn).write([Sample("collector_up", {"target": "kafka:c1"}, T0, 0.0)])
        api.save_rule(conn, {"name": "down", "metric": "collector_up", "comparison": "<", "threshold": 1,
                             "severity": "critical"}, "ann", T0)
        evaluate(conn, T0 + S, OPTS)
        assert deliver_due(conn, T0 + S, resolve={TARGET: rx.url}.get)["sent"] == 1
    finally:
        rx.close()
    assert [b["title"].split(" ")[1] for _, b, _ in rx.requests] == ["down"]
