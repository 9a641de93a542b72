"""Inhibition through the evaluator on a real store: while a cluster's collector is down its other
firing alerts are marked inhibited and send nothing; after recovery they notify normally."""
from __future__ import annotations

import pytest

from alerts import api
from alerts.evaluator import Options, evaluate
from store import alerts as store_alerts
from store.db import open_migrated
from store.types import Sample
from store.writes import SampleWriter

T0 = 1_800_000_000_000
S = 1_000
OPTS = Options(repeat_interval_s=3600, targets={"warning": ["ALERT_TEST_URL"], "critical": ["ALERT_TEST_URL"]})


@pytest.fixture
def conn(tmp_store):
    c = open_migrated(tmp_store)
    api.seed_builtin(c, T0)
    SampleWriter(c).write([Sample("kafka_group_total_lag_messages", {"cluster": "c0", "group": "x"}, T0 - 3_600 * S, 0.0)])
    api.save_rule(c, {"name": "orders-lag", "metric": "kafka_group_total_lag_messages", "comparison": ">",
                      "threshold": 100, "for_s": 0}, "ann", T0)
    yield c
    c.close()


def tick(conn, ts, up: float, lag_c1: float, lag_c2: float):
    SampleWriter(conn).write([
        Sample("collector_up", {"target": "kafka:c1"}, ts, up),
        Sample("collector_up", {"target": "kafka:c2"}, ts, 1.0),
        Sample("kafka_group_total_lag_messages", {"cluster": "c1", "group": "orders"}, ts, lag_c1),
        Sample("kafka_group_total_lag_messages", {"cluster": "c2", "group": "orders"}, ts, lag_c2),
    ])
    evaluate(conn, ts, OPTS)


def states(conn):
    return {(r["rule"], r["labels"].get("cluster") or r["labels"].get("target")): (r["state"], r["inhibited_by"])
            for r in store_alerts.read_states(conn)}


def sent(conn):
    return sorted(r["title"].split(" (")[0] + " " + r["title"].split(") ")[1] for r in store_alerts.read_outbox(conn))


def test_collector_down_inhibits_its_cluster_then_notifies_after_recovery(conn):
    for i in range(5):  # c1's collector is down for a minute: collector-down fires at T0+60 s
        tick(conn, T0 + i * 15 * S, up=0.0, lag_c1=10, lag_c2=10)
    assert states(conn)[("collector-down", "kafka:c1")] == ("firing", None)
    tick(conn, T0 + 75 * S, up=0.0, lag_c1=500, lag_c2=500)  # both clusters' lag alerts fire
    st = states(conn)
    assert st[("orders-lag", "c1")] == ("firing", ["collector-down-inhibits-its-cluster"])  # shown, inhibited
    assert st[("orders-lag", "c2")] == ("firing", None)
    assert sent(conn) == ["[FIRING] collector-down target=kafka:c1", "[FIRING] orders-lag cluster=c2, group=orders"]
    tick(conn, T0 + 90 * S, up=0.0, lag_c1=500, lag_c2=500)  # still inhibited: still nothing for c1
    assert len(sent(conn)) == 2
    tick(conn, T0 + 105 * S, up=1.0, lag_c1=500, lag_c2=500)  # the collector recovers
    st = states(conn)
    assert st[("collector-down", "kafka:c1")][0] == "resolved"
    assert st[("orders-lag", "c1")] == ("firing", None)
    assert sent(conn) == ["[FIRING] collector-down target=kafka:c1", "[FIRING] orders-lag cluster=c1, group=orders",
                          "[FIRING] orders-lag cluster=c2, group=orders", "[RESOLVED] collector-down target=kafka:c1"]
    tick(conn, T0 + 120 * S, up=1.0, lag_c1=500, lag_c2=500)  # announced once, not every evaluation
    assert len(sent(conn)) == 4
    tick(conn, T0 + 135 * S, up=1.0, lag_c1=0, lag_c2=500)  # and its resolution is sent normally
    assert "[RESOLVED] orders-lag cluster=c1, group=orders" in sent(conn)


def test_stopped_group_inhibits_dlq_growing_of_its_dlq(conn):
    grp = {"cluster": "c1", "group": "payments"}
    for i in range(25):  # 6 minutes: STOP fires after 30 s, dlq-growing (growing) would fire after 60 s
        ts = T0 + i * 15 * S
        SampleWriter(conn).write([
            Sample("kafka_group_status", grp, ts, 4.0),
            Sample("kafka_group_topic_lag_messages", {**grp, "topic": "orders"}, ts, 50.0),
            Sample("dlq_source_info", {"broker": "kafka", "cluster": "c1", "dlq": "orders.dlq", "source": "orders",
                                       "via": "pattern"}, ts, 1.0),
            Sample("dlq_messages", {"broker": "kafka", "cluster": "c1", "dlq": "orders.dlq"}, ts, 30.0 * i),
            Sample("dlq_messages", {"broker": "kafka", "cluster": "c1", "dlq": "other.dlq"}, ts, 30.0 * i),
        ])
        evaluate(conn, ts, OPTS)
    st = {(r["rule"], r["labels"].get("dlq", "")): (r["state"], r["inhibited_by"]) for r in store_alerts.read_states(conn)}
    assert st[("kafka-group-stalled", "")] == ("firing", None)
    assert st[("dlq-growing", "orders.dlq")] == ("firing", ["stopped-consumer-inhibits-its-dlq"])
    assert st[("dlq-growing", "other.dlq")] == ("firing", None)
    titles = [r["title"] for r in store_alerts.read_outbox(conn)]
    assert not any("orders.dlq" in t for t in titles) and any("other.dlq" in t for t in titles)
