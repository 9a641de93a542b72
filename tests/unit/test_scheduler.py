"""The collector service's scheduler: a failing job never stops the others; hooks run after ticks."""
from __future__ import annotations

import threading
import time

from runner.jobs import JobSpec
from eventdeck.service import Service
from config import Settings


def _wait_for(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_failing_job_does_not_stop_others_and_hooks_follow_ticks(tmp_path):
    counts = {"good": 0, "bad": 0, "hook": 0, "housekeeping": 0}
    lock = threading.Lock()

    def bump(key):
        with lock:
            counts[key] += 1

    def bad():
        bump("bad")
        raise ConnectionError("broker down")

    specs = [JobSpec("good", lambda: bump("good"), 0.2),
             JobSpec("bad", bad, 0.2),
             JobSpec("housekeeping", lambda: bump("housekeeping"), 0.2, after_tick=False)]
    svc = Service(settings=Settings(), store=tmp_path / "x.db", specs=specs, hooks=[lambda: bump("hook")])
    svc.start()
    try:
        assert _wait_for(lambda: counts["good"] >= 3 and counts["bad"] >= 3)
    finally:
        svc.stop()
    with lock:
        snap = dict(counts)
    # every good and bad tick is followed by a hook run; housekeeping ticks are not
    assert snap["hook"] == snap["good"] + snap["bad"]
    assert snap["housekeeping"] >= 1


def test_demo_settings_are_valid():
    from config.settings import Settings as S
    from eventdeck.run import demo_settings

    state = {"kafka": {"noida": {"bootstrap": "127.0.0.1:19092"}},
             "rabbitmq": {"mgmt_url": "http://127.0.0.1:15672", "host": "127.0.0.1", "amqp_port": 5672}}
    s = S.model_validate(demo_settings(state))
    assert [c.name for c in s.kafka.clusters] == ["demo-noida"]
    assert s.rabbitmq.clusters[0].management_url == "http://127.0.0.1:15672"
    assert s.has_brokers


def test_stop_closes_every_job_once_after_its_last_run(tmp_path):
    events: list[str] = []
    ran = threading.Event()

    def tick():
        events.append("tick")
        ran.set()

    def broken_close():
        raise OSError("socket already gone")

    specs = [JobSpec("a", tick, 0.2, close=lambda: events.append("close a")),
             JobSpec("b", lambda: None, 0.2, close=broken_close),  # a failing close does not stop the others
             JobSpec("c", lambda: None, 0.2, close=lambda: events.append("close c"))]
    svc = Service(settings=Settings(), store=tmp_path / "x.db", specs=specs)
    svc.start()
    assert ran.wait(20)
    svc.stop()
    assert events[-2:] == ["close a", "close c"]
    assert events.count("close a") == 1 and "close a" not in events[:-2]


def test_housekeeping_seal_job_seals_closed_windows_of_the_store(tmp_path):
    from core.clock import now_ms
    from eventdeck.service import _housekeeping
    from store.db import open_migrated
    from store.types import Sample
    from store.writes import SampleWriter

    path = tmp_path / "s.db"
    conn = open_migrated(path)
    start = now_ms() - 6 * 3_600_000  # six hours of history: at least two closed 2 h windows
    SampleWriter(conn).write([Sample("kafka_group_lag_messages", {"cluster": "a", "group": "g"},
                                     start + k * 15_000, float(k)) for k in range(6 * 240)])
    (seal,) = [s for s in _housekeeping(Settings(), path) if s.id == "store:seal"]
    assert seal.interval_s == Settings().store.seal_interval_s and not seal.after_tick
    seal.func()
    assert conn.execute("SELECT count(*) FROM sample_chunks").fetchone()[0] >= 2
    assert conn.execute("SELECT sum(n) FROM sample_chunks").fetchone()[0] + \
        conn.execute("SELECT count(*) FROM samples").fetchone()[0] + \
        conn.execute("SELECT count(*) FROM samples_recent").fetchone()[0] == 6 * 240
