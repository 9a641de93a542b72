"""The evaluator over a real store filled through store.writes, with an injected clock."""
from __future__ import annotations

import pytest

from alerts import api
from alerts.builtin import BUILTIN_RULES
from alerts.evaluator import Options, evaluate
from store import alerts as store_alerts
from store.db import connect_reader, open_migrated
from store.types import Sample
from store.writes import SampleWriter


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


T0 = 1_800_000_000_000
S = 1_000
LAG = {"cluster": "c1", "group": "orders", "topic": "orders.in"}
OPTS = Options(repeat_interval_s=3600, targets={"warning": ["ALERT_TEST_URL"], "critical": ["ALERT_TEST_URL"]},
               dashboard_url="http://127.0.0.1:8501")


@pytest.fixture
def conn(tmp_store):
    c = open_migrated(tmp_store)
    yield c
    c.close()


def write(conn, metric, labels, ts, value):
    SampleWriter(conn).write([Sample(metric, labels, ts, value)])


def save(conn, **rule):
    spec = {"name": "orders-lag", "metric": "kafka_group_lag_messages", "comparison": ">", "threshold": 100,
            "for_s": 60, **rule}
    return api.save_rule(conn, spec, "ann", T0)


def events(conn):
    return [(r["event"], r["from_state"], r["to_state"]) for r in reversed(store_alerts.read_transitions(conn))]


def state(conn, rule="orders-lag"):
    rows = store_alerts.read_states(conn, rule)
    assert len(rows) == 1, rows
    return rows[0]


def test_fires_after_for_not_before_then_resolves_once(conn):
    write(conn, "kafka_group_lag_messages", LAG, T0, 10)
    save(conn)
    for ts, value in [(T0 + 15 * S, 150), (T0 + 45 * S, 160)]:
        write(conn, "kafka_group_lag_messages", LAG, ts, value)
        evaluate(conn, ts, OPTS)
    assert state(conn)["state"] == "pending"  # 30 s of breach < for 60 s
    assert store_alerts.read_outbox(conn) == []
    write(conn, "kafka_group_lag_messages", LAG, T0 + 75 * S, 170)
    res = evaluate(conn, T0 + 75 * S, OPTS)
    st = state(conn)
    assert st["state"] == "firing" and st["value"] == 170 and st["active_since_ms"] == T0 + 15 * S
    assert st["labels"] == LAG and res.queued == 1 and res.rules == 1 and res.errors == []
    assert res.events == [{"rule": "orders-lag", "group_key": st["group_key"], "event": "firing", "silenced": False}]
    outbox = store_alerts.read_outbox(conn)
    assert len(outbox) == 1 and outbox[0]["status"] == "pending" and outbox[0]["target"] == "ALERT_TEST_URL"
    assert "[FIRING] orders-lag" in outbox[0]["title"] and "+70 over the threshold" in outbox[0]["body"]
    for ts in (T0 + 90 * S, T0 + 105 * S):
        write(conn, "kafka_group_lag_messages", LAG, ts, 20)
        evaluate(conn, ts, OPTS)
    assert state(conn)["state"] == "resolved"
    assert events(conn) == [("pending", "inactive", "pending"), ("firing", "pending", "firing"),
                            ("resolved", "firing", "resolved")]
    titles = [r["title"] for r in reversed(store_alerts.read_outbox(conn))]
    assert len(titles) == 2 and titles[1].startswith("[RESOLVED]")


def test_repeat_interval_honoured(conn):
    write(conn, "kafka_group_lag_messages", LAG, T0, 500)
    save(conn, for_s=0, repeat_interval_s=120)
    for offset_s in (0, 60, 119, 120, 180, 240):
        write(conn, "kafka_group_lag_messages", LAG, T0 + offset_s * S + 1, 500)
        evaluate(conn, T0 + offset_s * S + 1, OPTS)
    assert [e[0] for e in events(conn)] == ["firing", "repeat", "repeat"]   # at 0 s, 120 s, 240 s
    assert len(store_alerts.read_outbox(conn)) == 3


def test_disappearing_series_is_no_data_not_resolved(conn):
    write(conn, "kafka_group_lag_messages", LAG, T0, 500)
    save(conn, for_s=0, stale_after_s=60)
    evaluate(conn, T0, OPTS)
    assert state(conn)["state"] == "firing"
    # no new sample: at +30 s the series is still fresh, at +61 s it has no data
    evaluate(conn, T0 + 30 * S, OPTS)
    assert state(conn)["nodata_since_ms"] is None
    evaluate(conn, T0 + 61 * S, OPTS)
    evaluate(conn, T0 + 120 * S, OPTS)
    st = state(conn)
    assert st["state"] == "firing" and st["nodata_since_ms"] == T0 + 61 * S and st["value"] is None
    assert [e[0] for e in events(conn)] == ["firing", "nodata"]
    assert len(store_alerts.read_outbox(conn)) == 1   # no resolved notification
    # the series comes back below the threshold: now it really resolves
    write(conn, "kafka_group_lag_messages", LAG, T0 + 130 * S, 0)
    evaluate(conn, T0 + 130 * S, OPTS)
    assert state(conn)["state"] == "resolved" and state(conn)["nodata_since_ms"] is None


def test_aggregation_groups_have_their_own_state(conn):
    for topic, lag in [("a", 80), ("b", 90), ("c", 5)]:
        write(conn, "kafka_group_lag_messages", {**LAG, "topic": topic}, T0, lag)
    write(conn, "kafka_group_lag_messages", {**LAG, "group": "billing", "topic": "a"}, T0, 30)
    save(conn, for_s=0, aggregation="sum", by=["cluster", "group"], selector={"topic": {"regex": "[a-c]"}})
    assert evaluate(conn, T0, OPTS).groups == 2
    got = {r["labels"]["group"]: (r["state"], r["value"]) for r in store_alerts.read_states(conn, "orders-lag")}
    assert got == {"orders": ("firing", 175.0)}   # billing (30) is inactive: no row kept


def test_no_data_alerting_fires_when_a_series_stops_reporting(conn):
    up = {"target": "telemetry:orders:c1"}
    write(conn, "collector_up", up, T0, 1.0)
    api.save_rule(conn, {"name": "silent-target", "metric": "collector_up", "comparison": "<", "threshold": 1,
                         "for_s": 60, "stale_after_s": 30, "no_data": "alerting"}, "ann", T0)
    evaluate(conn, T0, OPTS)
    assert state(conn, "silent-target")["state"] == "inactive"   # remembered: no_data alerting
    for offset_s in (20, 40, 100):   # no more samples: stale after 30 s, then 60 s of no data
        evaluate(conn, T0 + offset_s * S, OPTS)
    st = state(conn, "silent-target")
    assert st["state"] == "firing" and st["labels"] == up and st["nodata_since_ms"] == T0 + 40 * S
    assert [e[0] for e in events(conn)] == ["pending", "firing"]


def test_silence_suppresses_sending_not_recording(conn):
    write(conn, "kafka_group_lag_messages", LAG, T0, 500)
    save(conn, for_s=0)
    sid = api.add_silence(conn, {"group": "orders", "alertname": {"glob": "orders-*"}}, T0 - S, T0 + 600 * S,
                          "ann", "planned maintenance", T0)
    evaluate(conn, T0, OPTS)
    st = state(conn)
    assert st["state"] == "firing" and st["silenced_by"] == [sid]
    rows = store_alerts.read_transitions(conn)
    assert rows[0]["event"] == "firing" and rows[0]["silenced_by"] == [sid]
    assert store_alerts.read_outbox(conn) == []
    # silence expired early; the incident resolves: recorded, but no resolved notice for an
    # incident the receivers never heard of
    assert api.expire_silence(conn, sid, "ann", T0 + 10 * S)
    write(conn, "kafka_group_lag_messages", LAG, T0 + 20 * S, 1)
    evaluate(conn, T0 + 20 * S, OPTS)
    assert [e[0] for e in events(conn)] == ["firing", "resolved"]
    assert store_alerts.read_outbox(conn) == []
    # the next incident, not silenced, is announced and its resolution too
    for i, value in enumerate([500, 1], start=3):
        write(conn, "kafka_group_lag_messages", LAG, T0 + i * 10 * S, value)
        evaluate(conn, T0 + i * 10 * S, OPTS)
    assert [r["title"].split("]")[0] for r in reversed(store_alerts.read_outbox(conn))] == ["[FIRING", "[RESOLVED"]


def test_builtin_rules_fire_on_stopped_group_and_down_collector(conn):
    assert api.seed_builtin(conn, T0) == len(BUILTIN_RULES)
    assert api.seed_builtin(conn, T0) == 0   # idempotent
    grp = {"cluster": "c1", "group": "orders"}
    for i in range(5):  # every 15 s for one minute: STOP (4), collector down, DLQ receiving
        ts = T0 + i * 15 * S
        SampleWriter(conn).write([Sample("kafka_group_status", grp, ts, 4.0),
                                  Sample("kafka_group_status", {**grp, "group": "ok-group"}, ts, 0.0),
                                  Sample("collector_up", {"target": "rabbitmq:main"}, ts, 0.0),
                                  Sample("dlq_messages", {"broker": "kafka", "cluster": "c1",
                                                          "dlq": "orders.dlq"}, ts, 10.0 + i)])
        evaluate(conn, ts, OPTS)
    firing = api.alerts(conn, states=["firing"])
    assert sorted(firing["rule"]) == ["collector-down", "kafka-group-stalled"]
    assert firing.set_index("rule").loc["kafka-group-stalled", "labels"] == grp
    pending = api.alerts(conn, states=["pending"])
    assert list(pending["rule"]) == ["dlq-growing"]   # grew; its for 60 s not elapsed at the first growth + 45 s


def test_current_alerts_readable_on_reader_connection(conn, tmp_store):
    write(conn, "kafka_group_lag_messages", LAG, T0, 500)
    save(conn, for_s=0)
    evaluate(conn, T0, OPTS)
    reader = connect_reader(tmp_store)
    try:
        df = api.alerts(reader)
        hist = api.history(reader, limit=10)
    finally:
        reader.close()
    assert list(df["state"]) == ["firing"] and df.iloc[0]["summary"].startswith("kafka_group_lag_messages is 500")
    assert list(hist["event"]) == ["firing"]


def test_disabled_and_deleted_rules_stop_evaluating(conn):
    write(conn, "kafka_group_lag_messages", LAG, T0, 500)
    save(conn, for_s=0, enabled=False)
    assert evaluate(conn, T0, OPTS).rules == 0
    save(conn, for_s=0)
    evaluate(conn, T0 + S, OPTS)
    assert state(conn)["state"] == "firing"
    assert api.delete_rule(conn, "orders-lag", "ann", T0 + 2 * S)
    assert store_alerts.read_states(conn, "orders-lag") == []
    assert [e[0] for e in events(conn)] == ["firing"]   # history stays


def test_empty_exact_matcher_selects_series_without_the_label(conn):
    # Prometheus semantics: env="" matches series that have no env label; it must not be pushed
    # down to the store's match (which drops series lacking the label).
    write(conn, "kafka_group_lag_messages", LAG, T0, 500)
    write(conn, "kafka_group_lag_messages", {**LAG, "group": "tagged", "env": "prod"}, T0, 500)
    save(conn, for_s=0, selector={"env": ""})
    evaluate(conn, T0, OPTS)
    assert [r["labels"]["group"] for r in store_alerts.read_states(conn, "orders-lag")] == ["orders"]


def test_edited_rule_resolves_groups_it_no_longer_selects(conn):
    write(conn, "kafka_group_lag_messages", LAG, T0, 500)
    save(conn, for_s=0)
    evaluate(conn, T0, OPTS)
    assert state(conn)["state"] == "firing"
    save(conn, for_s=0, selector={"group": "billing"})   # the operator narrows the rule
    write(conn, "kafka_group_lag_messages", LAG, T0 + 15 * S, 500)
    evaluate(conn, T0 + 15 * S, OPTS)
    assert state(conn)["state"] == "resolved"             # not held as "no data"
    assert [e[0] for e in events(conn)] == ["firing", "resolved"]
    # an unchanged rule whose series vanishes still holds its alert (no data), as before
    save(conn, for_s=0, selector={"group": "billing"}, stale_after_s=10)
    write(conn, "kafka_group_lag_messages", {**LAG, "group": "billing"}, T0 + 20 * S, 900)
    evaluate(conn, T0 + 20 * S, OPTS)
    evaluate(conn, T0 + 60 * S, OPTS)
    billing = [r for r in store_alerts.read_states(conn, "orders-lag") if r["labels"]["group"] == "billing"]
    assert billing[0]["state"] == "firing" and billing[0]["nodata_since_ms"] == T0 + 60 * S
