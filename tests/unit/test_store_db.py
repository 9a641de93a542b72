"""Store connections and migrations on real SQLite files (no network)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store import queries
from store.db import (MigrationError, NotMigrated, applied_migrations, checkpoint, connect_reader, connect_writer,
                      migrate, migration_files, open_migrated, pending_migrations, require_migrated, snapshot,
                      transaction)
from store.rollups import HOUR_MS, MINUTE_MS
from store.types import Sample
from store.writes import SampleWriter, flush

T0 = 1_780_000_000_000 // HOUR_MS * HOUR_MS
CORE = [1, 2, 3, 4, 5, 6, 7]


def test_connect_writer_opens_but_does_not_migrate(tmp_path):
    path = tmp_path / "s.db"
    conn = connect_writer(path)
    want = [v for v, _, _ in migration_files()]
    assert applied_migrations(conn) == []
    assert pending_migrations(conn) == want
    with pytest.raises(NotMigrated, match="python -m store migrate"):
        require_migrated(conn, path)
    assert migrate(conn) == want
    require_migrated(conn, path)  # up to date: no error


def test_migrate_from_empty_applies_every_file_once(tmp_path):
    path = tmp_path / "sub" / "dir" / "s.db"
    conn = open_migrated(path)
    want = [v for v, _, _ in migration_files()]
    assert applied_migrations(conn) == want
    assert set(CORE) <= set(want)
    assert migrate(conn) == []  # nothing pending: a second start changes nothing
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"series", "samples", "samples_recent", "latest", "rollup_1m", "rollup_1h", "collector_status",
            "audit_log", "store_meta", "schema_migrations"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_upgrade_from_a_version_1_database_keeps_data_and_backfills_rollups(tmp_path):
    """A DB made by the first version (only 0001: registry, samples, latest) is upgraded in place."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    assert migrate(old, upto=1) == [1]
    old.execute("INSERT INTO series (id, metric, labels, source, cluster, entity) VALUES "
                "(7, 'kafka_group_lag_messages', '{\"cluster\":\"a\",\"group\":\"g\"}', 'kafka', 'a', 'g')")
    values = [(7, T0 + i * 15_000, float(i)) for i in range(8)]  # two minutes of data
    old.executemany("INSERT INTO samples VALUES (?, ?, ?)", values)
    old.execute("INSERT INTO latest VALUES (7, ?, 7.0)", (values[-1][1],))
    old.close()

    conn = open_migrated(path)
    assert applied_migrations(conn) == [v for v, _, _ in migration_files()]
    r1m = conn.execute("SELECT bucket_ms, min_v, max_v, sum_v, cnt, last_ts_ms, last_v FROM rollup_1m "
                       "WHERE series_id = 7 ORDER BY bucket_ms").fetchall()
    assert r1m == [(T0, 0.0, 3.0, 6.0, 4, T0 + 45_000, 3.0), (T0 + MINUTE_MS, 4.0, 7.0, 22.0, 4, T0 + 105_000, 7.0)]
    assert conn.execute("SELECT min_v, max_v, sum_v, cnt, last_v FROM rollup_1h WHERE series_id = 7").fetchall() \
        == [(0.0, 7.0, 28.0, 8, 7.0)]
    # the upgraded store keeps working: new samples join the old series and its rollups, and a
    # re-sent old sample is still recognised as a duplicate once staged rows are flushed
    labels = {"cluster": "a", "group": "g"}
    SampleWriter(conn).write([Sample("kafka_group_lag_messages", labels, T0, 100.0),
                              Sample("kafka_group_lag_messages", labels, T0 + 120_000, 9.0)])
    flush(conn)
    assert conn.execute("SELECT cnt, sum_v FROM rollup_1m WHERE series_id = 7 ORDER BY bucket_ms").fetchall() \
        == [(4, 6.0), (4, 22.0), (1, 9.0)]
    r = connect_reader(path)
    df = queries.range_query(r, "kafka_group_lag_messages", {"group": "g"}, T0, T0 + 120_000)
    assert df["series_id"].unique().tolist() == [7]
    assert df["value"].tolist() == [*map(float, range(8)), 9.0]
    assert queries.latest(r, "kafka_group_lag_messages")["value"].tolist() == [9.0]


def test_concurrent_starters_apply_each_migration_once(tmp_path):
    path = tmp_path / "s.db"
    a = sqlite3.connect(path, isolation_level=None)
    b = sqlite3.connect(path, isolation_level=None)
    first = migrate(a, upto=2)
    second = migrate(b)
    assert first == [1, 2]
    assert second[:2] == [3, 4]
    assert applied_migrations(a) == [v for v, _, _ in migration_files()]


@pytest.mark.parametrize("names, fragment", [
    (["0001_a.sql", "1_b.sql"], "1_b.sql"),              # number must have 4 digits
    (["0001_a.sql", "0001_b.sql"], "share number 0001"),  # two owners took the same number
    (["0002_Bad-Name.sql"], "0002_Bad-Name.sql"),         # lowercase snake_case names only
])
def test_migration_file_naming_errors(tmp_path, names, fragment):
    for n in names:
        (tmp_path / n).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=fragment):
        migration_files(tmp_path)


def test_migration_files_are_ordered_by_number(tmp_path):
    for n in ("0010_kafka.sql", "0002_b.sql", "0001_a.sql"):
        (tmp_path / n).write_text("SELECT 1;")
    assert [(v, name) for v, name, _ in migration_files(tmp_path)] == [(1, "a"), (2, "b"), (10, "kafka")]


def test_transaction_rolls_back_on_error_and_joins_an_outer_one(tmp_path):
    conn = open_migrated(tmp_path / "s.db")
    with pytest.raises(RuntimeError):
        with transaction(conn):
            conn.execute("INSERT INTO store_meta VALUES ('x', 1)")
            raise RuntimeError("boom")
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM store_meta WHERE key = 'x'").fetchone()[0] == 0
    with pytest.raises(RuntimeError):
        with transaction(conn):
            with transaction(conn):  # joins: the outer failure undoes the inner work too
                conn.execute("INSERT INTO store_meta VALUES ('y', 1)")
            raise RuntimeError("outer")
    assert conn.execute("SELECT count(*) FROM store_meta WHERE key = 'y'").fetchone()[0] == 0


def test_reader_is_read_only_and_sees_committed_writes(tmp_path):
    path = tmp_path / "s.db"
    w = open_migrated(path)
    r = connect_reader(path)
    SampleWriter(w).write([Sample("kafka_group_lag_messages", {"cluster": "a"}, T0, 1.0)])
    assert queries.latest(r, "kafka_group_lag_messages")["value"].tolist() == [1.0]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        r.execute("INSERT INTO store_meta VALUES ('x', 1)")
    busy, _, _ = checkpoint(w)
    assert busy == 0


def test_snapshot_reads_one_instant_while_the_writer_commits(tmp_path):
    path = tmp_path / "s.db"
    w, r = open_migrated(path), connect_reader(path)
    sw = SampleWriter(w)
    sw.write([Sample("kafka_group_lag_messages", {"cluster": "a", "group": "g1"}, T0, 1.0)])
    with snapshot(r):
        before = r.execute("SELECT count(*) FROM latest").fetchone()[0]
        sw.write([Sample("kafka_group_lag_messages", {"cluster": "a", "group": "g2"}, T0, 2.0)])
        assert r.execute("SELECT count(*) FROM latest").fetchone()[0] == before == 1
    assert not r.in_transaction
    assert r.execute("SELECT count(*) FROM latest").fetchone()[0] == 2


def test_reader_on_missing_store_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope.db")):
        connect_reader(Path(tmp_path / "nope.db"))


def test_store_migrate_command_creates_and_migrates(tmp_path, capsys):
    from store.__main__ import main

    path = tmp_path / "new" / "s.db"
    assert main(["migrate", "--store", str(path)]) == 0
    assert "up to date" in capsys.readouterr().out
    conn = connect_writer(path)
    try:
        assert pending_migrations(conn) == []
    finally:
        conn.close()
