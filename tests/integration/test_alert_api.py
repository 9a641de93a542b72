"""The dashboard's alerts API on a real store: validation, audit, YAML seed/export, silences, the hook."""
from __future__ import annotations

import time

import pytest
import yaml

from alerts import api
from alerts.evaluator import hook
from alerts.rules import RuleError
from config import load_settings
from store import audit
from store.db import open_migrated
from store.types import Sample
from store.writes import SampleWriter


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


T0 = 1_800_000_000_000
GOOD = {"name": "orders-lag", "metric": "kafka_group_lag_messages", "threshold": 100, "for_s": 60,
        "selector": {"topic": {"glob": "orders.*"}}}


@pytest.fixture
def conn(tmp_store):
    c = open_migrated(tmp_store)
    SampleWriter(c).write([Sample("kafka_group_lag_messages", {"cluster": "c", "group": "g", "topic": "orders.x"},
                                  T0, 5.0)])
    yield c
    c.close()


@pytest.mark.parametrize("change,field", [
    ({"metric": "kafka_group_lag_bananas"}, "metric"),        # well-formed but not in the store
    ({"selector": {"topic": {"regex": "("}}}, "selector.topic"),
    ({"for_s": -1}, "for_s"),
])
def test_bad_rule_refused_naming_field_and_audited(conn, change, field):
    with pytest.raises(RuleError) as err:
        api.save_rule(conn, {**GOOD, **change}, "ann", T0)
    assert err.value.field == field
    assert api.list_rules(conn) == []
    entry = audit.read(conn, 1).iloc[0]
    assert (entry["actor"], entry["action"], entry["outcome"]) == ("ann", "alert_rule.save", "refused")
    assert field in entry["detail"]["error"]


def test_save_list_delete_audited(conn):
    api.save_rule(conn, GOOD, "ann", T0)
    api.save_rule(conn, {**GOOD, "threshold": 200}, "bob", T0 + 1)
    (rule,) = api.list_rules(conn)
    assert rule["threshold"] == 200 and rule["updated_by"] == "bob" and rule["builtin"] is False
    assert rule["selector"] == {"topic": {"glob": "orders.*"}}
    assert api.delete_rule(conn, "orders-lag", "ann", T0 + 2)
    assert not api.delete_rule(conn, "orders-lag", "ann", T0 + 3)
    log = audit.read(conn, 10)
    assert list(log["outcome"]) == ["not found", "ok", "ok", "ok"]
    assert log.iloc[2]["detail"]["created"] is False and log.iloc[3]["detail"]["created"] is True


def test_builtin_rules_can_be_disabled_not_deleted(conn):
    api.seed_builtin(conn, T0)
    with pytest.raises(RuleError, match="^name: 'collector-down' is a built-in rule"):
        api.delete_rule(conn, "collector-down", "ann", T0)
    down = next(r for r in api.list_rules(conn) if r["name"] == "collector-down")
    spec = {k: v for k, v in down.items() if k not in ("builtin", "updated_ms", "updated_by")}
    api.save_rule(conn, {**spec, "enabled": False}, "ann", T0 + 1)
    down = next(r for r in api.list_rules(conn) if r["name"] == "collector-down")
    assert down["enabled"] is False and down["builtin"] is True


def test_yaml_seed_export_round_trip(conn, tmp_path):
    src = tmp_path / "rules.yaml"
    src.write_text(yaml.safe_dump({"rules": [GOOD, {"name": "dlq", "metric": "dlq_messages", "threshold": 0,
                                                    "for": 30, "severity": "critical"}]}))
    assert api.seed_from_yaml(conn, src, T0) == 2
    assert api.seed_from_yaml(conn, src, T0) == 0         # existing (maybe edited) rules win
    exported = api.export_yaml(conn)
    again = tmp_path / "exported.yaml"
    again.write_text(exported)
    fresh = open_migrated(tmp_path / "other.db")
    try:
        assert api.seed_from_yaml(fresh, again, T0) == 2
        strip = lambda rules: [{k: v for k, v in r.items() if k != "updated_by"} for r in rules]  # noqa: E731
        assert strip(api.list_rules(fresh)) == strip(api.list_rules(conn))
    finally:
        fresh.close()
    assert next(r for r in api.list_rules(conn) if r["name"] == "dlq")["for_s"] == 30


def test_yaml_errors_name_file_index_and_field(conn, tmp_path):
    src = tmp_path / "bad.yaml"
    src.write_text(yaml.safe_dump({"rules": [GOOD, {**GOOD, "name": "x", "for_s": -5}]}))
    with pytest.raises(RuleError, match=r"bad\.yaml: rules\[1\]\.for_s: .*greater than or equal to 0"):
        api.seed_from_yaml(conn, src, T0)
    assert api.list_rules(conn) == []                        # all or nothing
    src.write_text(yaml.safe_dump({"rules": [GOOD, GOOD]}))
    with pytest.raises(RuleError, match="appears more than once"):
        api.seed_from_yaml(conn, src, T0)


def test_silences_listed_and_expired(conn):
    sid = api.add_silence(conn, {"group": "g"}, T0, T0 + 60_000, "ann", "deploy", T0)
    with pytest.raises(RuleError, match="^reason:"):
        api.add_silence(conn, {"group": "g"}, T0, T0 + 60_000, "ann", " ", T0)
    df = api.list_silences(conn, T0 + 1)
    assert list(df["id"]) == [sid] and bool(df.iloc[0]["active"])
    assert df.iloc[0]["matchers"] == [{"label": "group", "op": "exact", "value": "g", "negate": False}]
    assert api.expire_silence(conn, sid, "bob", T0 + 2)
    assert not api.expire_silence(conn, sid, "bob", T0 + 3)
    assert not bool(api.list_silences(conn, T0 + 4).iloc[0]["active"])
    assert api.list_silences(conn, T0 + 4, include_ended=False).empty


def test_scheduler_hook_seeds_and_evaluates(tmp_store, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"rules": [{"name": "any-lag", "metric": "kafka_group_lag_messages",
                                                "threshold": 10}]}))
    settings = load_settings(environ={"EVENTDECK_ALERTS__RULES_FILE": str(rules),
                                      "EVENTDECK_ALERTS__EVALUATION_INTERVAL_S": "3600"})
    run = hook(settings, tmp_store)
    conn = open_migrated(tmp_store)
    try:
        names = {r["name"] for r in api.list_rules(conn)}
        assert names == {"any-lag", "kafka-group-stalled", "rabbitmq-queue-stalled", "dlq-growing",
                         "collector-down", "rabbitmq-delivery-limit-no-dlx", "rabbitmq-stream-consumer-stalled"}
        now = int(time.time() * 1000)
        SampleWriter(conn).write([Sample("kafka_group_lag_messages", {"cluster": "c", "group": "g"}, now, 50.0)])
        run()
        run()   # within evaluation_interval_s: skipped, nothing recorded twice
        df = api.alerts(conn, states=["firing"])
        assert list(df["rule"]) == ["any-lag"]
        assert list(api.history(conn)["event"]) == ["firing"]
    finally:
        conn.close()


def test_rule_on_a_catalogued_metric_before_its_first_sample(conn):
    """Every metric Eventdeck writes (core.metrics) can carry a rule before any of it is stored."""
    from core import metrics

    assert metrics.RABBITMQ_STREAM_CONSUMER_LAG_SECONDS in api.known_metrics(conn)
    api.save_rule(conn, {**GOOD, "name": "stream-lag", "metric": metrics.RABBITMQ_STREAM_CONSUMER_LAG_SECONDS,
                         "selector": {}}, "ann", T0)
    assert [r["metric"] for r in api.list_rules(conn)] == [metrics.RABBITMQ_STREAM_CONSUMER_LAG_SECONDS]
