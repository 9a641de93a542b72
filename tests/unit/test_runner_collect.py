"""The job runner's contract (runner.collect) with a fake collector on a real temporary store."""
from __future__ import annotations

import logging

import pytest

from runner.collect import (DEGRADED_METRIC, CollectJob, Cycle, Degraded, degraded_samples, degraded_text,
                            grid_slot, reason_of)
from store import queries, status
from store.db import connect_reader, open_migrated
from store.types import Sample

T0 = 1_800_000_000_000


class Fake:
    """A collector whose next cycle can be told to raise any exception."""

    target = "kafka:fake"

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.resets = self.closes = self.acks = 0
        self.ack_error: Exception | None = None
        self.degraded: list[Degraded] = []

    def collect(self, now_ms: int) -> Cycle:
        if self.error is not None:
            raise self.error
        return Cycle([Sample("kafka_fake_value", {"cluster": "fake"}, now_ms, 1.0)], after_store=self.ack,
                     degraded=list(self.degraded))

    def ack(self) -> None:
        if self.ack_error is not None:
            raise self.ack_error
        self.acks += 1

    def reset(self) -> None:
        self.resets += 1

    def close(self) -> None:
        self.closes += 1

    def redact(self, text: str) -> str:
        return text.replace("hunter2", "***")


def _row(path):
    conn = connect_reader(path)
    try:
        st = status.read_status(conn)
        up = queries.latest(conn, "collector_up", {"target": Fake.target})
        duration = queries.latest(conn, "collector_duration_seconds", {"target": Fake.target})
    finally:
        conn.close()
    row = st[st["target"] == Fake.target].iloc[0]
    return bool(row["up"]), row["reason"], float(up["value"].iloc[0]), len(duration)


@pytest.fixture
def job(store_location):
    conn = open_migrated(store_location)
    j = CollectJob(Fake(), conn, 10, clock=lambda: T0)
    yield j
    j.close()


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyError("k"), ZeroDivisionError("x"), OSError("disk"),
                                 ValueError("bad value")])
def test_any_exception_marks_down_with_its_class_then_recovers(job, store_location, exc, caplog):
    job.collector.error = exc
    with caplog.at_level(logging.WARNING, logger="eventdeck.runner"):
        assert job.run(T0) is False
        up, reason, sample, durations = _row(store_location)
        assert (up, sample, durations) == (False, 0.0, 1)
        assert reason.startswith(type(exc).__name__)
        assert job.collector.resets == 1 and job.collector.acks == 0
        assert job.run(T0 + 10_000) is False  # the back-off's first wait is one interval
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1  # one traceback per outage, not per attempt
    job.collector.error = None
    results = [job.run(T0 + i * 10_000) for i in range(2, 6)]
    assert True in results
    up, reason, sample, _ = _row(store_location)
    assert (up, reason, sample) == (True, None, 1.0)
    assert job.backoff.failures == 0 and job.last_reason is None


def test_acknowledges_only_after_the_write_and_a_failed_ack_resets(job):
    assert job.run(T0) is True and job.collector.acks == 1
    job.collector.ack_error = ConnectionError("channel closed")
    assert job.run(T0 + 10_000) is True  # stored: the cycle counts; what was read is read again
    assert job.collector.resets == 1


def test_a_failed_ack_or_failed_parts_show_as_degraded_and_recover_to_zero(job, store_location):
    """Up, but not whole: collector_degraded{target,reason} counts the failed parts and the status reason
    names them; the first whole cycle writes 0 and clears the reason; a target never degraded writes nothing."""
    assert job.run(T0) is True
    up, reason, _, _ = _row(store_location)
    assert (up, reason) == (True, None) and _latest_degraded(store_location) == {}
    job.collector.ack_error = ConnectionError("channel closed hunter2")
    job.collector.degraded = [Degraded("group", "g1", "GroupAuthorizationFailedError"),
                              Degraded("group", "g2", "CoordinatorNotAvailableError")]
    assert job.run(T0 + 10_000) is True
    up, reason, sample, _ = _row(store_location)
    assert (up, sample) == (True, 1.0)  # the target is up: it answered
    assert reason.startswith("degraded, 3 part(s) failed: group g1: GroupAuthorizationFailedError")
    assert "ack acknowledgement: ConnectionError: channel closed ***" in reason and "hunter2" not in reason
    assert _latest_degraded(store_location) == {"group": 2.0, "ack": 1.0}
    job.collector.ack_error, job.collector.degraded = None, []
    assert job.run(T0 + 20_000) is True
    up, reason, _, _ = _row(store_location)
    assert (up, reason) == (True, None) and _latest_degraded(store_location) == {"group": 0.0, "ack": 0.0}


def _latest_degraded(path) -> dict[str, float]:
    conn = connect_reader(path)
    try:
        df = queries.latest(conn, DEGRADED_METRIC, {"target": Fake.target})
    finally:
        conn.close()
    return {} if df.empty else dict(zip(df["reason"], df["value"].astype(float)))


@pytest.mark.parametrize("before, parts, want", [
    (set(), [], []),  # never degraded: nothing written
    (set(), [Degraded("group", "a", "x"), Degraded("group", "b", "y"), Degraded("topic", "t", "z")],
     [("group", 2.0), ("topic", 1.0)]),
    ({"group"}, [Degraded("ack", "acknowledgement", "e")], [("ack", 1.0), ("group", 0.0)]),  # group recovered
    ({"group", "ack"}, [], [("ack", 0.0), ("group", 0.0)]),
])
def test_degraded_samples(before, parts, want):
    got = degraded_samples("kafka:c", before, parts, T0)
    assert [(s.labels["reason"], s.value) for s in got] == want
    assert all(s.metric == DEGRADED_METRIC and s.labels["target"] == "kafka:c" and s.ts_ms == T0 for s in got)


@pytest.mark.parametrize("parts, want", [
    ([], None),
    ([Degraded("topic", "t", "E")], "degraded, 1 part(s) failed: topic t: E"),
    ([Degraded("group", f"g{i}", "E") for i in range(5)],
     "degraded, 5 part(s) failed: group g0: E; group g1: E; group g2: E; 2 more"),
])
def test_degraded_text(parts, want):
    assert degraded_text(parts) == want


def test_reason_is_redacted_and_bounded():
    exc = RuntimeError("login hunter2 refused\nsecond line " + "x" * 1000)
    text = reason_of(exc, Fake().redact)
    assert text == "RuntimeError: login *** refused" and len(reason_of(RuntimeError("y" * 999))) == 300


@pytest.mark.parametrize("wall, interval, slot", [
    (T0 + 10_001, 10_000, T0 + 10_000),   # a cycle that started 1 ms late is stamped on its slot
    (T0 + 29_999, 15_000, T0 + 15_000),
    (T0, 10_000, T0),
])
def test_grid_slot(wall, interval, slot):
    assert grid_slot(wall, interval) == slot


def test_stamps_cycles_on_the_interval_grid_and_never_twice_the_same(tmp_path):
    times = iter([T0 + 37, T0 + 10_012, T0 + 10_900, T0 + 20_001])
    conn = open_migrated(tmp_path / "s.db")
    j = CollectJob(Fake(), conn, 10, clock=lambda: next(times))
    stamps = []
    try:
        for _ in range(4):
            assert j.run() is True
            stamps.append(j.last_cycle.samples[0].ts_ms)
    finally:
        j.close()
    # on the grid; a second run inside one slot (a late tick) gets its wall time instead of a duplicate
    assert stamps == [T0, T0 + 10_000, T0 + 10_900, T0 + 20_000]
