"""PostgreSQL store specifics: placeholder adaptation (pure), URL handling, per-dialect migrations, the
writers' lock, read-only readers, snapshots and claims of replay jobs (on the machine's PostgreSQL, over
its Unix socket)."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest

from store import db, dlq as store_dlq, postgres


@pytest.mark.parametrize("sql, want, order", [
    ("SELECT ?", "SELECT %s", None),
    ("SELECT ?, ?", "SELECT %s, %s", None),
    ("VALUES (?1, ?2, ?1)", "VALUES (%s, %s, %s)", (0, 1, 0)),
    ("SELECT '?', ? WHERE a LIKE 'x%'", "SELECT '?', %s WHERE a LIKE 'x%'", None),
    ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s", None),
    ('SELECT "we?ird" FROM t WHERE v % 2 = ?', 'SELECT "we?ird" FROM t WHERE v %% 2 = %s', None),
    ("UPDATE t SET a = :now WHERE id = :job", "UPDATE t SET a = %(now)s WHERE id = %(job)s", None),
    ("SELECT value::bigint FROM x WHERE y = ?", "SELECT value::bigint FROM x WHERE y = %s", None),
])
def test_placeholders(sql, want, order):
    assert postgres.convert(sql) == (want, order)


@pytest.mark.parametrize("url, shown", [
    ("postgresql://eventdeck:s3cret@db:5432/ed", "postgresql://eventdeck:***@db:5432/ed"),
    ("postgresql://eventdeck@db/ed", "postgresql://eventdeck@db/ed"),
])
def test_redact(url, shown):
    assert postgres.redact(url) == shown


def test_password_from_environment_or_secrets_file(tmp_path):
    f = tmp_path / "secrets.env"
    f.write_text(f"{postgres.PASSWORD_ENV}=fromfile\n")
    assert "password=fromenv" in postgres.conninfo("postgresql://u@h/db", {postgres.PASSWORD_ENV: "fromenv"})
    assert "password=fromfile" in postgres.conninfo("postgresql://u@h/db", {"EVENTDECK_SECRETS_FILE": str(f)})
    assert postgres.conninfo("postgresql://u:given@h/db", {postgres.PASSWORD_ENV: "x"}) == "postgresql://u:given@h/db"
    assert postgres.conninfo("postgresql://u@h/db", {}) == "postgresql://u@h/db"


def test_store_url_setting_refuses_a_password_and_selects_the_location():
    from config import ConfigError, load_settings

    s = load_settings(environ={"EVENTDECK_STORE__URL": "postgresql://eventdeck@db:5432/ed"})
    assert s.store.location == "postgresql://eventdeck@db:5432/ed"
    assert load_settings(environ={}).store.location == s.store.path
    with pytest.raises(ConfigError, match="store: .*url must not hold the password.*EVENTDECK_STORE_PASSWORD") as err:
        load_settings(environ={"EVENTDECK_STORE__URL": "postgresql://eventdeck:hunter2@db/ed"})
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError, match="store.url"):
        load_settings(environ={"EVENTDECK_STORE__URL": "mysql://x@db/ed"})


def test_is_url():
    assert postgres.is_url("postgresql://u@h/db") and postgres.is_url("postgres://u@h/db")
    assert not postgres.is_url("/var/lib/eventdeck.db") and not postgres.is_url(None)


def test_migrations_are_recorded_per_dialect(pg_store):
    conn = db.connect_writer(pg_store)
    assert db.applied_migrations(conn) == []
    assert db.migrate(conn) == [v for v, _, _ in db.migration_files(db.PG_MIGRATIONS_DIR)]
    assert db.migrate(conn) == [] and db.pending_migrations(conn) == []
    assert db.is_postgres(conn) and db.checkpoint(conn) == (0, 0, 0)
    conn.close()


def test_concurrent_starters_apply_each_migration_once(pg_store):
    errors, applied = [], []

    def start():
        try:
            c = db.connect_writer(pg_store)
            applied.append(db.migrate(c))
            c.close()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # every migration applied exactly once overall (starters may interleave, taking turns per migration)
    done = [v for a in applied for v in a]
    assert sorted(done) == [v for v, _, _ in db.migration_files(db.PG_MIGRATIONS_DIR)]


def test_reader_is_read_only_and_snapshot_is_one_instant(pg_store):
    w = db.open_migrated(pg_store)
    r = db.connect_reader(pg_store)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        r.execute("INSERT INTO store_meta (key, value) VALUES ('x', 1)")
    with db.snapshot(r):
        assert r.execute("SELECT count(*) FROM store_meta").fetchone()[0] == 0
        with db.transaction(w):
            w.execute("INSERT INTO store_meta (key, value) VALUES ('x', 1)")
        assert r.execute("SELECT count(*) FROM store_meta").fetchone()[0] == 0
    assert r.execute("SELECT count(*) FROM store_meta").fetchone()[0] == 1
    w.close()
    r.close()


def test_transaction_rolls_back_and_writers_take_turns(pg_store):
    a, b = db.open_migrated(pg_store), db.connect_writer(pg_store)
    with pytest.raises(ZeroDivisionError):
        with db.transaction(a):
            a.execute("INSERT INTO store_meta (key, value) VALUES ('gone', 1)")
            1 / 0
    assert a.execute("SELECT count(*) FROM store_meta").fetchone()[0] == 0 and not a.in_transaction
    order = []

    def second():
        with db.transaction(b):  # waits for a's transaction: the writers' lock
            order.append("b")

    with db.transaction(a):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("a")
    t.join()
    assert order == ["a", "b"]
    a.close()
    b.close()


def test_each_replay_job_is_claimed_once_by_concurrent_claimers(pg_store):
    conn = db.open_migrated(pg_store)
    ids = [store_dlq.create_job(conn, "kafka", "c", "d", {"n": i}, "op", 1_000) for i in range(20)]
    claimed: list[int] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def claimer(k: int):
        c = db.connect_writer(pg_store)
        try:
            while (job := store_dlq.claim(c, f"host:{k}", 2_000, 60_000, lambda owner: True)) is not None:
                with lock:
                    claimed.append(job["id"])
                store_dlq.finish(c, job["id"], "done", 3_000)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(claimed) == ids  # every job once, none twice
    assert conn.execute("SELECT count(*) FROM dlq_jobs WHERE state = 'done'").fetchone()[0] == 20
    conn.close()


def test_large_batches_keep_the_first_write_of_a_sample_on_both_backends(store):
    """Batches from 2,000 samples go by binary COPY on PostgreSQL: the first write of a (series, ts) wins,
    within a batch (duplicates) and across batches (already stored), as on SQLite."""
    from store import queries
    from store.types import Sample
    from store.writes import SampleWriter

    w, r = store
    sw = SampleWriter(w)
    first = [Sample("kafka_group_lag_messages", {"cluster": "c", "group": f"g{i % 500}"}, 60_000 * (i // 500), 1.0)
             for i in range(2_000)]
    assert sw.write(first) == 2_000
    again = [s._replace(value=2.0) for s in first[:1_000]]  # stored already: ignored
    fresh = [Sample("kafka_group_lag_messages", {"cluster": "c", "group": f"g{i % 500}"}, 600_000 + 60_000 * (i // 500),
                    3.0) for i in range(1_000)]
    assert sw.write(again + fresh) == 1_000
    dup = [Sample("kafka_group_lag_messages", {"cluster": "c", "group": f"g{i % 500}"}, 1_200_000, float(4 + i // 500))
           for i in range(2_000)]  # each (series, ts) four times in one batch: the first (4.0) wins
    assert sw.write(dup) == 500
    df = queries.range_query(r, "kafka_group_lag_messages", {"group": "g7"}, 0, 2_000_000)
    assert df.sort_values("ts_ms")["value"].tolist() == [1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 4.0]
