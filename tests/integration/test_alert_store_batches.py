"""The alert store's batched writes (multi-row statements) and the savepoints the evaluator writes each rule in,
on both store backends."""
from __future__ import annotations

import pytest

from store import alerts as store_alerts
from store.db import open_migrated, savepoint, transaction

T0 = 1_800_000_000_000


@pytest.fixture
def conn(any_store):
    c = open_migrated(any_store)
    yield c
    c.close()


def row(rule: str, n: int, state: str = "pending", value: float = 1.0) -> dict:
    labels = {"partition": str(n)}
    key = f'{{"partition":"{n}"}}'
    return {"rule": rule, "group_key": key, "labels": labels, "severity": "warning", "state": state,
            "active_since_ms": T0, "fired_at_ms": None, "last_notified_ms": None, "resolved_at_ms": None,
            "nodata_since_ms": None, "value": value, "summary": f"v {value}", "silenced_by": [3] if n == 7 else None,
            "updated_ms": T0, "identity": "i", "inhibited_by": ["x"] if n == 8 else None, "clear_since_ms": None}


def test_many_state_rows_written_across_statements_last_duplicate_wins(conn):
    n = store_alerts._ROWS_PER_STATEMENT * 2 + 50  # three statements, the last one short
    rows = [row("r", i) for i in range(n)] + [row("r", 5, state="firing", value=9.0)]
    with transaction(conn):
        store_alerts.write_states(conn, rows)
    got = {r["group_key"]: r for r in store_alerts.read_states(conn, "r")}
    assert len(got) == n
    five, seven, eight = (got[f'{{"partition":"{i}"}}'] for i in (5, 7, 8))
    assert (five["state"], five["value"], five["labels"]) == ("firing", 9.0, {"partition": "5"})
    assert (seven["silenced_by"], seven["inhibited_by"], eight["inhibited_by"]) == ([3], None, ["x"])
    with transaction(conn):  # an upsert over stored rows changes them
        store_alerts.write_states(conn, [row("r", i, state="resolved") for i in range(3)])
    states = {r["group_key"]: r["state"] for r in store_alerts.read_states(conn, "r")}
    assert [states[f'{{"partition":"{i}"}}'] for i in range(4)] == ["resolved"] * 3 + ["pending"]


def test_many_keys_deleted_across_statements_only_those(conn):
    n = store_alerts._KEYS_PER_DELETE * 2 + 10
    with transaction(conn):
        store_alerts.write_states(conn, [row("r", i) for i in range(n)] + [row("other", 0)])
    with transaction(conn):
        store_alerts.delete_states(conn, "r", [f'{{"partition":"{i}"}}' for i in range(n - 1)])
    left = ['{"partition":"0"}', f'{{"partition":"{n - 1}"}}']
    assert [r["group_key"] for r in store_alerts.read_states(conn)] == left
    assert [r["rule"] for r in store_alerts.read_states(conn)] == ["other", "r"]


def test_many_transitions_keep_their_order(conn):
    n = store_alerts._ROWS_PER_STATEMENT + 30
    rows = [(T0 + i, "r", f'{{"partition":"{i}"}}', {"partition": str(i)}, "pending", "inactive", "pending",
             float(i), [4] if i == 3 else None) for i in range(n)]
    with transaction(conn):
        store_alerts.add_transitions(conn, rows)
    got = list(reversed(store_alerts.read_transitions(conn, limit=1000)))
    assert [(t["ts_ms"], t["value"], t["labels"]) for t in got] == [(T0 + i, float(i), {"partition": str(i)})
                                                                     for i in range(n)]
    assert [t["silenced_by"] for t in got[:5]] == [None, None, None, [4], None]


def test_savepoint_undoes_only_its_part(conn):
    with transaction(conn):
        store_alerts.write_states(conn, [row("a", 1)])
        with pytest.raises(ZeroDivisionError):
            with savepoint(conn, "alert_rule"):
                store_alerts.write_states(conn, [row("b", 1)])
                raise ZeroDivisionError
        with pytest.raises(Exception):  # a failed statement: on PostgreSQL the transaction goes on after it
            with savepoint(conn, "alert_rule"):
                conn.execute("INSERT INTO alert_state(rule) VALUES (NULL)")
        with savepoint(conn, "alert_rule"):
            store_alerts.write_states(conn, [row("c", 1)])
    assert [r["rule"] for r in store_alerts.read_states(conn)] == ["a", "c"]


def test_savepoint_needs_a_transaction_and_a_plain_name(conn):
    with pytest.raises(RuntimeError, match="open a transaction"):
        with savepoint(conn):
            pass
    with transaction(conn), pytest.raises(ValueError, match="not an SQL name"):
        with savepoint(conn, "x; DROP TABLE alert_state"):
            pass
