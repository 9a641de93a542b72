"""The telemetry collection job against a fake summary source and a real (temporary) store."""
from __future__ import annotations

import pytest

from collectors.telemetry import jobs, telemetry_job
from config import load_settings
from config.telemetry import TelemetryConfig
from instrument.sketch import new_sketch
from instrument.summary import Summary, encode_summary
from runner.collect import CollectJob
from store import db, queries, status

NOW = 1_800_000_000_000


class Clock:
    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> int:
        return self.t


class FakeSource:
    """Stands in for the broker client; ``error`` makes fetch fail like a down broker."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.error: Exception | None = None
        self.fetches = self.commits = self.closes = 0

    def fetch(self) -> list[bytes]:
        self.fetches += 1
        if self.error:
            raise self.error
        return self.batches.pop(0) if self.batches else []

    def commit(self) -> None:
        self.commits += 1

    def close(self) -> None:
        self.closes += 1


def _payload(consumer="payment", end=NOW, errors=None, n=10, ra=0.01) -> bytes:
    sk = new_sketch(ra)
    for i in range(n):
        sk.add(0.01 * (i + 1))
    return encode_summary(Summary(consumer, "i1", "kafka", "", end - 10_000, end, sk, dict(errors or {})))


def _job(tmp_store, source, clock) -> CollectJob:
    return telemetry_job("kafka", "local", source, tmp_store, TelemetryConfig(interval_s=10, max_age_s=60),
                        clock=clock)


def _latest(path, metric):
    conn = db.connect_reader(path)
    try:
        return queries.latest(conn, metric)
    finally:
        conn.close()


def _status_row(path, target):
    conn = db.connect_reader(path)
    try:
        st = status.read_status(conn)
    finally:
        conn.close()
    return st[st["target"] == target].iloc[0]


def test_tick_stores_percentiles_rates_and_marks_up(tmp_store):
    src, clock = FakeSource(), Clock()
    src.batches = [[_payload(errors={"Declined": 2}), b"garbage", _payload("inventory", end=NOW - 120_000)]]
    job = _job(tmp_store, src, clock)
    job.run()
    p = _latest(tmp_store, "consumer_processing_seconds")
    assert sorted(p["quantile"]) == ["0.5", "0.95", "0.99", "max"]
    assert set(p["consumer"]) == {"payment"}  # inventory's summary was too old (a backlog), not stored
    assert set(p["cluster"]) == {"local"} and set(p["broker"]) == {"kafka"}
    assert _latest(tmp_store, "consumer_error_rate_ratio")["value"].tolist() == [pytest.approx(0.2)]
    assert _latest(tmp_store, "consumer_processed_rate_per_s")["value"].tolist() == [pytest.approx(1.0)]
    assert job.collector.bad_summaries == 1 and src.commits == 1
    row = _status_row(tmp_store, "telemetry:kafka:local")
    assert bool(row["up"])


def test_error_counter_resumes_after_a_collector_restart(tmp_store):
    clock = Clock()
    src = FakeSource()
    src.batches = [[_payload(errors={"Declined": 2})]]
    _job(tmp_store, src, clock).run()
    clock.t += 10_000
    src2 = FakeSource()
    src2.batches = [[_payload(end=clock.t, errors={"Declined": 3})]]
    _job(tmp_store, src2, clock).run()
    assert _latest(tmp_store, "consumer_errors_total")["value"].tolist() == [5.0]


def test_down_broker_marks_down_and_backs_off_up_to_five_intervals(tmp_store):
    src, clock = FakeSource(), Clock()
    src.error = ConnectionError("connection refused")
    job = _job(tmp_store, src, clock)
    attempts = []
    for i in range(30):  # the scheduler calls every 10 s
        before = src.fetches
        job.run()
        if src.fetches > before:
            attempts.append(i)
        clock.t += 10_000
    # waits of 1, 2, 4 intervals, then capped at 5
    assert attempts[:6] == [0, 1, 3, 7, 12, 17]
    row = _status_row(tmp_store, "telemetry:kafka:local")
    assert not bool(row["up"]) and "connection refused" in row["reason"]
    src.error = None
    results = []
    for _ in range(5):  # the back-off skips at most four ticks, then the next attempt succeeds
        clock.t += 10_000
        results.append(job.run())
    first = results.index(True)  # within the skipped ticks left, then every tick collects
    assert set(results[:first]) <= {None} and set(results[first:]) == {True}
    assert job.backoff.failures == 0 and bool(_status_row(tmp_store, "telemetry:kafka:local")["up"])


def test_jobs_one_per_cluster_and_none_when_disabled(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kafka: {clusters: [{name: k1, bootstrap_servers: ['127.0.0.1:9']}]}\n"
                   "rabbitmq: {clusters: [{name: r1}]}\ntelemetry: {interval_s: 7}\n")
    specs = jobs(load_settings(cfg, environ={}), tmp_path / "s.db")
    assert [(s.id, s.interval_s) for s in specs] == [("telemetry:kafka:k1", 7), ("telemetry:rabbitmq:r1", 7)]
    off = load_settings(cfg, environ={"EVENTDECK_TELEMETRY__ENABLED": "false"})
    assert jobs(off, tmp_path / "s.db") == []


def test_summary_with_another_sketch_accuracy_is_skipped_not_fatal(tmp_store):
    src, clock = FakeSource(), Clock()
    src.batches = [[_payload(), _payload(ra=0.02)]]
    job = _job(tmp_store, src, clock)
    job.run()
    assert job.collector.bad_summaries == 1 and src.commits == 1
    assert _latest(tmp_store, "consumer_instances_count")["value"].tolist() == [1.0]


def test_store_failure_leaves_summaries_unacknowledged(tmp_path):
    src, clock = FakeSource(), Clock()
    src.batches = [[_payload()]]
    # a store file without the schema: every write fails (like a full or broken disk)
    job = telemetry_job("kafka", "local", src, tmp_path / "unmigrated.db", TelemetryConfig(), clock=clock)
    assert job.run() is False  # recorded as a failed cycle, never raised into the scheduler
    assert src.commits == 0 and src.closes == 1  # re-read from the last acknowledged position
    job.close()
