"""The replay job, outcome and ledger tables (on each store backend, no broker)."""
from __future__ import annotations

import pytest

from store import dlq as s
from store.db import open_migrated

REQ = {"broker": "kafka", "cluster": "c", "dlq": "orders.DLT", "selection": {"mode": "all"}}


@pytest.fixture
def conn(any_store):
    """A writer on a fresh store of each backend (SQLite, PostgreSQL)."""
    c = open_migrated(any_store)
    yield c
    c.close()


def _out(rid, outcome, coord=None):
    return {"replay_id": rid, "coord": coord or rid, "outcome": outcome, "target": "topic orders", "detail": None}


@pytest.mark.parametrize("state, owner_alive, heartbeat_age_ms, claimable", [
    ("queued", True, 0, True),  # a queued job is always taken
    ("running", True, 1_000, False),  # its runner is alive and beating: leave it
    ("running", False, 1_000, True),  # its runner died (SIGKILL): resume at once
    ("running", True, 60_000, True),  # silent for longer than the stale limit: take over
])
def test_claim(conn, state, owner_alive, heartbeat_age_ms, claimable):
    jid = s.create_job(conn, "kafka", "c", "orders.DLT", REQ, "ann", 1)
    if state == "running":
        s.claim(conn, "h:1", 100_000 - heartbeat_age_ms, 30_000, lambda o: True)
    got = s.claim(conn, "h:2", 100_000, 30_000, lambda o: owner_alive)
    assert (got is not None) is claimable
    if got:
        assert got["id"] == jid and got["state"] == "running" and got["owner"] == "h:2"


def test_cancel_queued_and_running(conn):
    a = s.create_job(conn, "kafka", "c", "d", REQ, "ann", 1)
    b = s.create_job(conn, "kafka", "c", "d", REQ, "ann", 2)
    s.claim(conn, "h:1", 10, 30_000, lambda o: True, job_id=b)
    assert s.request_cancel(conn, a) and s.get_job(conn, a)["state"] == "cancelled"
    assert s.request_cancel(conn, b) and s.get_job(conn, b)["state"] == "running"
    assert s.heartbeat(conn, b, 20) is True  # the runner learns of it on its next beat
    s.finish(conn, b, "cancelled", 30)
    assert not s.request_cancel(conn, b)  # an ended job cannot be cancelled


def test_outcomes_counted_once_and_ledger(conn):
    job = s.claim(conn, "h:1", 10, 30_000, lambda o: True, job_id=s.create_job(conn, "kafka", "c", "d", REQ, "a", 1))
    s.add_inflight(conn, job["id"], [("r1", "0:1", "replayed", "topic orders")], {"targets": {"orders:0": 4}})
    assert len(s.inflight(conn, job["id"])) == 1
    s.record(conn, job, [_out("r1", "replayed", "0:1"), _out("r2", "failed", "0:2")], 20)
    s.record(conn, job, [_out("r1", "replayed", "0:1")], 21)  # a resumed run recording again: counted once
    j = s.get_job(conn, job["id"])
    assert (j["replayed"], j["failed"]) == (1, 1)
    assert j["marks"] == {"targets": {"orders:0": 4}}
    assert s.inflight(conn, job["id"]) == []
    assert s.ledger(conn, "kafka", "c", "d", ["0:1", "0:2"]) == {"0:1": ("replayed", job["id"])}
    assert s.job_message_ids(conn, job["id"]) == {"r1", "r2"}


def test_replay_id_is_unique_in_the_ledger(conn):
    job = s.claim(conn, "h:1", 10, 30_000, lambda o: True, job_id=s.create_job(conn, "kafka", "c", "d", REQ, "a", 1))
    s.record(conn, job, [_out("same", "replayed", "0:1")], 20)
    with pytest.raises(Exception, match="(?i)unique"):
        s.record(conn, job, [_out("same", "replayed", "0:2")], 21)


def test_list_dlqs_from_latest_sizes(conn):
    from dlq import api
    from store.types import Sample
    from store.writes import SampleWriter

    SampleWriter(conn).write([
        Sample("dlq_messages", {"broker": "kafka", "cluster": "c", "dlq": "orders.DLT"}, 1_000, 5),
        Sample("dlq_messages", {"broker": "kafka", "cluster": "c", "dlq": "orders.DLT"}, 2_000, 7),  # latest wins
        Sample("dlq_messages", {"broker": "rabbitmq", "cluster": "r", "dlq": "pay.dlq"}, 2_000, 40),
    ])
    rows = api.list_dlqs(conn)
    assert [(r["broker"], r["dlq"], r["messages"]) for r in rows] == [("rabbitmq", "pay.dlq", 40),
                                                                      ("kafka", "orders.DLT", 7)]


def test_list_dlqs_empty_store(conn):
    from dlq import api

    assert api.list_dlqs(conn) == []


def test_enqueue_is_validated_and_audited(conn):
    from dlq import api
    from dlq.plan import RequestError

    with pytest.raises(RequestError, match="selection.mode"):
        api.enqueue_replay(conn, {**REQ, "selection": {"mode": "most"}}, "ann", 5)
    jid = api.enqueue_replay(conn, REQ, "ann", 5)
    assert api.job(conn, jid)["state"] == "queued"
    [entry] = api.audit(conn)
    assert (entry["actor"], entry["action"], entry["target"], entry["outcome"]) == (
        "ann", "dlq.replay.requested", "kafka:c:orders.DLT", "queued")
    assert entry["detail"]["job"] == jid and entry["detail"]["rate_per_s"] == "default"


def test_enqueue_leaves_no_job_when_its_audit_entry_is_refused(conn):
    from dlq import api

    # the audit log refuses a non-text actor: the job goes with it (a replay is never unaudited)
    with pytest.raises(ValueError, match="actor"):
        api.enqueue_replay(conn, REQ, 42, 5)
    assert api.list_jobs(conn) == [] and api.audit(conn) == []
