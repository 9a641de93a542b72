"""Gone entities: a series absent from its target's latest successful cycle leaves "now" reads (latest,
top-N, alert points, /metrics rows) and stays in history; on both store backends."""
from __future__ import annotations

import pytest

from core.targets import gone_grace_ms, series_target
from store import export, queries
from store.status import set_status
from store.types import Sample
from store.writes import SampleWriter

T0 = 1_780_000_000_000
IV = 15_000


@pytest.mark.parametrize("metric, labels, target", [
    ("kafka_group_lag_messages", {"cluster": "c", "group": "g"}, "kafka:c"),
    ("rabbitmq_queue_ready_messages", {"cluster": "r", "vhost": "/", "queue": "q"}, "rabbitmq:r"),
    ("dlq_messages", {"broker": "kafka", "cluster": "c", "dlq": "d"}, "kafka:c"),
    ("dlq_messages", {"broker": "rabbitmq", "cluster": "r", "dlq": "d"}, "rabbitmq:r"),
    ("consumer_error_rate_ratio", {"broker": "kafka", "cluster": "c", "consumer": "x"}, "telemetry:kafka:c"),
    ("collector_up", {"target": "kafka:c"}, None),
    ("eventdeck_rejected_inputs_total", {"source": "s", "reason": "r"}, None),
    ("kafka_group_lag_messages", {"group": "g"}, None),          # no cluster: no target
    ("dlq_messages", {"broker": "mqtt", "cluster": "c", "dlq": "d"}, None),
])
def test_series_target(metric, labels, target):
    assert series_target(metric, labels) == target


@pytest.mark.parametrize("target, interval, grace", [
    ("kafka:c", IV, 0), ("rabbitmq:r", IV, 0), ("telemetry:kafka:c", 10_000, 20_000), ("telemetry:kafka:c", None, 0)])
def test_gone_grace(target, interval, grace):
    assert gone_grace_ms(target, interval) == grace


def _cycle(w, ts, groups, ok=True):
    SampleWriter(w).write([Sample("kafka_group_total_lag_messages", {"cluster": "c", "group": g}, ts, v)
                           for g, v in groups.items()])
    set_status(w, "kafka:c", ok, None if ok else "down", ts, 5, IV)


def test_group_absent_from_latest_successful_cycle_is_gone(store):
    w, r = store
    _cycle(w, T0, {"old": 700.0, "live": 3.0})
    assert set(queries.latest(r, "kafka_group_total_lag_messages")["group"]) == {"old", "live"}
    _cycle(w, T0 + IV, {"live": 4.0})   # "old" was deleted
    now = queries.latest(r, "kafka_group_total_lag_messages")
    assert list(now["group"]) == ["live"] and now.value.sum() == 4.0
    both = queries.latest(r, "kafka_group_total_lag_messages", gone=True).set_index("group")
    assert both.loc["old", "gone"] and not both.loc["live", "gone"]
    assert both.loc["old", "ts_ms"] == T0  # last seen
    assert list(queries.top_n(r, "kafka_group_total_lag_messages", 1)["group"]) == ["live"]
    cur, gone = queries.latest_points_split(r, "kafka_group_total_lag_messages")
    assert [p[1] for p in cur] == [T0 + IV] and [p[1] for p in gone] == [T0]
    assert [json_group(p) for p in export.latest_rows(r, 0) if p[0] == "kafka_group_total_lag_messages"] == ["live"]
    # history keeps it
    hist = queries.range_query(r, "kafka_group_total_lag_messages", {"group": "old"}, T0, T0 + IV)
    assert list(hist.value) == [700.0]


def test_down_target_keeps_its_last_cycle_current(store):
    w, r = store
    _cycle(w, T0, {"a": 1.0, "b": 2.0})
    _cycle(w, T0 + IV, {}, ok=False)  # a failed cycle writes nothing: nothing is gone, only stale
    assert set(queries.latest(r, "kafka_group_total_lag_messages")["group"]) == {"a", "b"}


def test_comes_back_when_seen_again(store):
    w, r = store
    _cycle(w, T0, {"a": 1.0, "b": 2.0})
    _cycle(w, T0 + IV, {"a": 1.0})
    _cycle(w, T0 + 2 * IV, {"a": 1.0, "b": 5.0})
    assert set(queries.latest(r, "kafka_group_total_lag_messages")["group"]) == {"a", "b"}


def test_telemetry_consumer_gone_after_three_missed_cycles(store):
    w, r = store
    tgt, iv = "telemetry:kafka:c", 10_000
    for i in range(5):
        ts = T0 + i * iv
        if i == 0:
            SampleWriter(w).write([Sample("consumer_error_rate_ratio",
                                          {"broker": "kafka", "cluster": "c", "consumer": "x"}, ts, 0.5)])
        set_status(w, tgt, True, None, ts, 5, iv)
        shown = len(queries.latest(r, "consumer_error_rate_ratio"))
        assert shown == (1 if i <= 2 else 0), i


def json_group(row):
    import json
    return json.loads(row[1])["group"]


class Groups:
    """A collector whose cycles report the groups in ``self.groups`` (a deleted group stops appearing)."""

    target = "kafka:c"

    def __init__(self):
        self.groups = {"a": 1.0, "b": 2.0}

    def collect(self, now_ms):
        from runner.collect import Cycle
        return Cycle([Sample("kafka_group_total_lag_messages", {"cluster": "c", "group": g}, now_ms, v)
                      for g, v in self.groups.items()])

    def reset(self):
        pass

    def close(self):
        pass

    def redact(self, text):
        return text


def test_runner_records_what_makes_a_series_gone(store):
    from runner.collect import CollectJob
    w, r = store
    col = Groups()
    job = CollectJob(col, w, 15)
    assert job.run(T0) is True
    assert set(queries.latest(r, "kafka_group_total_lag_messages")["group"]) == {"a", "b"}
    del col.groups["b"]
    assert job.run(T0 + IV) is True
    assert set(queries.latest(r, "kafka_group_total_lag_messages")["group"]) == {"a"}
    assert r.execute("SELECT interval_ms FROM collector_status WHERE target = 'kafka:c'").fetchone()[0] == IV
