"""A PostgreSQL restart in the middle of collection loses nothing and hangs nothing: the collector service
keeps collecting while the database is down (samples held in memory), writes what it held when the database
returns, ``collector_up`` stays truthful (the broker was up all along), and a dashboard reader opened before
the restart answers again by itself. A private PostgreSQL instance (tests/pg_private.py) is stopped for 20 s:
the machine's shared cluster is never touched."""
from __future__ import annotations

import time
import uuid

import pika
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from config import Settings
from eventdeck.service import build_service
from store import queries
from tests.pg_private import PrivatePostgres

INTERVAL_MS = 1_000
DOWN_S = 20


@pytest.fixture
def private_pg():
    pg = PrivatePostgres()
    pg.admin("CREATE DATABASE eventdeck")
    yield pg
    pg.remove()


def _series_ts(store, metric: str, match: dict) -> list[int]:
    with store.reading() as conn:
        df = queries.range_query(conn, metric, match, int(time.time() * 1000) - 600_000, int(time.time() * 1000) + 60_000)
    return sorted(int(t) for t in df["ts_ms"]) if not df.empty else []


def _wait(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def test_a_restart_loses_no_sample_and_the_reader_reconnects(private_pg, rabbitmq, monkeypatch, tmp_path):
    queue = f"eventdeck-restart-{uuid.uuid4().hex[:8]}"
    amqp = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    amqp.channel().queue_declare(queue)
    monkeypatch.setenv("RESTART_TEST_RABBIT_PW", rabbitmq.password)
    settings = Settings.model_validate({
        "store": {"url": private_pg.url("eventdeck"), "seal_interval_s": 3600, "retention_interval_s": 3600,
                  "spool_max_samples": 10_000},
        "telemetry": {"enabled": False}, "alerts": {"enabled": False}, "prometheus": {"enabled": False},
        "rabbitmq": {"clusters": [{"name": "restart", "management_url": rabbitmq.mgmt_url,
                                   "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F",
                                   "username": rabbitmq.user, "password_env": "RESTART_TEST_RABBIT_PW",
                                   "interval_s": INTERVAL_MS / 1000, "queues_allow": [queue],
                                   "topology_refresh_s": 0}]}})
    store = settings.store.handle
    cfg = tmp_path / "eventdeck.yaml"
    cfg.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    monkeypatch.setenv("EVENTDECK_CONFIG", str(cfg))
    from tests.ui.conftest import APP, RUN_TIMEOUT_S
    target = {"target": "rabbitmq:restart"}
    service = build_service(settings).start()
    reader = None
    try:
        _wait(lambda: len(_series_ts(store, "collector_up", target)) >= 3, 60, "the first cycles")
        reader = store.reader()  # as the dashboard holds one
        page = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S)
        page.run()
        page.switch_page("views/system.py").run()
        assert not page.exception and not _errors(page), _errors(page)
        [job] = [s.func for s in service.specs if s.id == "rabbitmq:restart"]
        assert job.spool.max_samples == 10_000  # store.spool_max_samples reaches every collection job
        private_pg.stop()
        stopped = time.time() * 1000
        page.run()  # the dashboard says so, and does not hang
        assert any("Store unreachable" in e for e in _errors(page)), _errors(page)
        time.sleep(max(0.0, DOWN_S - (time.time() * 1000 - stopped) / 1000))
        held = len(job.spool)
        assert held >= DOWN_S * 0.8, f"only {held} cycles held while the store was down"  # collection went on
        private_pg.start()
        restarted = time.monotonic()
        # written by the next cycle after the database returned, oldest first
        _wait(lambda: len(job.spool) == 0 and _series_ts(store, "collector_up", target)[-1] > stopped + DOWN_S * 1000,
              30, "the held cycles to be written")
        flushed_s = time.monotonic() - restarted
        deadline = time.monotonic() + 10  # the dashboard's reader answers again by itself (no new handle)
        while True:
            try:
                assert reader.execute("SELECT count(*) FROM series").fetchone()[0] > 0
                break
            except Exception:  # noqa: BLE001 - the first statement on the dropped connection fails
                assert time.monotonic() < deadline, "the reader did not reconnect within 10 s"
                time.sleep(0.5)
        page.run()  # the dashboard's cached reader is replaced by itself
        assert not page.exception and not _errors(page), _errors(page)
        assert time.monotonic() - restarted < 10
        time.sleep(3 * INTERVAL_MS / 1000)
    finally:
        service.stop()
        if reader is not None:
            reader.close()
        amqp.channel().queue_delete(queue)
        amqp.close()
    up = _series_ts(store, "collector_up", target)
    grid = list(range(up[0], up[-1] + 1, INTERVAL_MS))
    missing = sorted(set(grid) - set(up))
    assert not missing, f"{len(missing)} of {len(grid)} slots lost, e.g. {missing[:5]} (stopped at {stopped:.0f})"
    assert any(stopped < t < stopped + DOWN_S * 1000 for t in up)  # the outage window is covered
    with store.reading() as conn:  # truthful: the broker was up all along, so was the target
        values = queries.range_query(conn, "collector_up", target, int(time.time() * 1000) - 600_000, int(time.time() * 1000) + 60_000)["value"]
    assert (values == 1.0).all()
    depth = _series_ts(store, "rabbitmq_queue_messages", {"queue": queue})
    assert not sorted(set(range(depth[0], depth[-1] + 1, INTERVAL_MS)) - set(depth))  # the queue's series too
    assert job.spool.dropped_samples_total == 0
    print(f"restart: {held} cycles held over {DOWN_S} s, written {flushed_s:.1f} s after the database returned")


def test_a_replay_job_pauses_while_the_store_is_away_and_resumes(private_pg, rabbitmq, monkeypatch):
    """A RabbitMQ replay running when PostgreSQL stops is not marked failed: it stays the runner's, and the
    next poll after the database returns finishes it; every message reaches its queue, none is lost (a duplicate
    of the one in-flight window at most, carrying the same replay id, as after a crash)."""
    import threading

    from dlq import api
    from dlq.jobs import run_pending
    from tests.integration.dlq_helpers import Topology, uid

    topo = Topology(rabbitmq.amqp_url)
    u = uid()
    dlq, dest = topo.queue(f"resume-{u}.dlq"), topo.queue(f"resume-{u}")
    total = 30
    for i in range(total):
        topo.ch.basic_publish("", dlq, f'{{"n": {i}}}'.encode())
    topo.wait_depth(dlq, total)
    monkeypatch.setenv("RESUME_TEST_RABBIT_PW", rabbitmq.password)
    settings = Settings.model_validate({
        "store": {"url": private_pg.url("eventdeck")},
        "dlq": {"allowed_targets": {"r": ["*"]}},
        "rabbitmq": {"clusters": [{"name": "r", "management_url": rabbitmq.mgmt_url,
                                   "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F",
                                   "username": rabbitmq.user, "password_env": "RESUME_TEST_RABBIT_PW"}]}})
    store = settings.store.handle
    try:
        with store.open_migrated() as conn:
            jid = api.enqueue_replay(conn, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rate_per_s": 10,
                                            "window": 1}, "tester", int(time.time() * 1000))
        outcome = {}

        def first_run():
            try:
                outcome["id"] = run_pending(settings, store, jid)
            except Exception as exc:  # noqa: BLE001 - what the collector service's poller would log
                outcome["error"] = exc

        runner = threading.Thread(target=first_run)
        runner.start()
        _wait(lambda: topo.depth(dest) >= 5, 30, "the replay to start")
        private_pg.stop()
        runner.join(60)
        assert not runner.is_alive(), "the replay hung on the stopped store"
        assert "error" in outcome, outcome  # paused: the job was not finished (nor marked failed)
        private_pg.start()
        assert run_pending(settings, store, jid) == jid  # the next poll: its own job, claimed again
        with store.reading() as conn:
            job = api.job(conn, jid)
        assert job["state"] == "done", job
        assert topo.depth(dlq) == 0
        got = topo.drain(dest)
        # nothing lost; at most one window (W = 1) replayed twice, the copy with the same replay id
        assert total <= len(got) <= total + 1
        assert len({b for _, b in got}) == total
        assert len({p.headers["eventdeck-replay-id"] for p, _ in got}) == total
    finally:
        topo.ch.queue_delete(dlq)
        topo.ch.queue_delete(dest)
        topo.conn.close()
