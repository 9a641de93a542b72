"""The bounded spool of a collection job: cycles held while the store does not answer, oldest pushed out first
and counted, written in order when the store answers again (pure logic and a CollectJob on a store that fails)."""
from __future__ import annotations

import sqlite3

import pytest

from runner.collect import Cycle, CollectJob, Spool, Spooled, store_unreachable
from store import db, queries
from store.handle import StoreUnreachable
from store.types import Sample


def _item(ts: int, n: int) -> Spooled:
    return Spooled(ts, [Sample("rabbitmq_queue_messages", {"queue": "q"}, ts, 1.0)] * n, None, True, None, 5)


@pytest.mark.parametrize("max_samples, sizes, kept, dropped", [
    (100, [3, 3, 3], [0, 1, 2], 0),  # fits: all kept, nothing dropped
    (10, [3, 3, 3], [1, 2], 5),  # each cycle is n + 2 samples (collector_up, duration): the oldest goes
    (10, [20], [], 22),  # a cycle larger than the spool: counted as dropped, never held
    (12, [3, 3, 8], [2], 10),  # a large cycle pushes out as many old ones as it needs
])
def test_spool_keeps_the_newest_and_counts_what_it_drops(max_samples, sizes, kept, dropped):
    spool = Spool(max_samples)
    for ts, n in enumerate(sizes):
        spool.add(_item(ts, n))
    assert [i.ts_ms for i in spool.items] == kept
    assert spool.dropped_samples_total == dropped
    assert spool.samples == sum(sizes[k] + 2 for k in kept) <= max_samples
    assert spool.spooled_total == len(sizes)


@pytest.mark.parametrize("exc, unreachable", [
    (StoreUnreachable("down"), True),
    (__import__("psycopg").OperationalError("server closed the connection"), True),
    (sqlite3.OperationalError("database is locked"), False),  # a busy SQLite store is an error, not an outage
    (ConnectionRefusedError("broker"), False),  # a broker's refusal is the target being down
    (ValueError("bad"), False),
])
def test_what_counts_as_the_store_being_away(exc, unreachable):
    assert store_unreachable(exc) is unreachable


class _Collector:
    target = "rabbitmq:t"
    rejects = None

    def __init__(self):
        self.resets = 0

    def collect(self, now_ms: int) -> Cycle:
        return Cycle([Sample("rabbitmq_queue_messages", {"cluster": "t", "queue": "q"}, now_ms, float(now_ms))])

    def reset(self):
        self.resets += 1

    def close(self):
        pass

    def redact(self, text):
        return text


class _Flaky:
    """A writer connection whose store stops answering while ``down`` is set (as a PostgreSQL restart)."""

    def __init__(self, conn):
        self.conn, self.down = conn, False

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def execute(self, *a):
        if self.down:
            raise StoreUnreachable("the store does not answer")
        return self.conn.execute(*a)

    def executemany(self, *a):
        if self.down:
            raise StoreUnreachable("the store does not answer")
        return self.conn.executemany(*a)


def test_a_job_holds_cycles_while_the_store_is_away_and_writes_them_in_order(tmp_path):
    conn = _Flaky(db.open_migrated(tmp_path / "s.db"))
    clock = {"ms": 1_000_000}
    job = CollectJob(_Collector(), conn, 1.0, clock=lambda: clock["ms"])
    stamps = []
    for k in range(6):
        conn.down = 1 <= k <= 3  # three cycles while the store is away
        assert job.run() is True  # the broker answered: collected, whatever the store does
        stamps.append(job.last_ts)
        assert len(job.spool) == (k if 1 <= k <= 3 else 0)
        clock["ms"] += 1000
    with db.connect_reader(tmp_path / "s.db") as r:
        ts = sorted(queries.range_query(r, "rabbitmq_queue_messages", {"queue": "q"}, 0, 2_000_000)["ts_ms"])
        up = queries.range_query(r, "collector_up", {"target": "rabbitmq:t"}, 0, 2_000_000)
    assert ts == stamps  # every slot, none lost
    assert sorted(up["ts_ms"]) == stamps and (up["value"] == 1.0).all()  # truthful: up all along
    assert job.spool.dropped_samples_total == 0
