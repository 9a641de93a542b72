"""Idempotent handling with the SQLite dedup store, including across a process restart."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from instrument.idempotency import SqliteDedupStore, idempotent

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000

    def __call__(self) -> int:
        return self.t


def _charger(store):
    charged: list[str] = []

    @idempotent(store, key=lambda order: order["order_id"])
    def charge(order: dict) -> str:
        charged.append(order["order_id"])
        return f"charged {order['amount']}"
    return charge, charged


def test_same_order_twice_is_charged_once(tmp_path):
    charge, charged = _charger(SqliteDedupStore(tmp_path / "d.db"))
    order = {"order_id": "o-1", "amount": 42}
    assert charge(order) == "charged 42"
    assert charge(order) is None
    assert charged == ["o-1"] and (charge.processed, charge.duplicates) == (1, 1)


def test_failure_releases_the_claim_so_a_redelivery_is_processed(tmp_path):
    store = SqliteDedupStore(tmp_path / "d.db")
    attempts = []

    @idempotent(store, key=lambda o: o["order_id"])
    def charge(o: dict) -> str:
        attempts.append(o["order_id"])
        if len(attempts) == 1:
            raise ConnectionError("bank timeout")
        return "ok"
    with pytest.raises(ConnectionError):
        charge({"order_id": "o-2"})
    assert charge({"order_id": "o-2"}) == "ok"
    assert charge({"order_id": "o-2"}) is None
    assert attempts == ["o-2", "o-2"]


@pytest.mark.parametrize("advance_ms, processed_again", [
    (59_999, False),   # done mark still within the TTL: duplicate
    (60_000, True),    # TTL over: the id may be processed again
])
def test_done_mark_expires_after_ttl(tmp_path, advance_ms, processed_again):
    clock = Clock()
    charge, charged = _charger(SqliteDedupStore(tmp_path / "d.db", ttl_ms=60_000, lease_ms=5_000, clock_ms=clock))
    charge({"order_id": "o-3", "amount": 1})
    clock.t += advance_ms
    assert (charge({"order_id": "o-3", "amount": 1}) is not None) is processed_again


@pytest.mark.parametrize("advance_ms, claimed", [
    (4_999, False),   # another worker still holds the lease
    (5_000, True),    # the worker died: after the lease the message can be processed
])
def test_lease_of_a_crashed_handler_expires(tmp_path, advance_ms, claimed):
    clock = Clock()
    store = SqliteDedupStore(tmp_path / "d.db", ttl_ms=60_000, lease_ms=5_000, clock_ms=clock)
    assert store.claim("o-4")  # claimed, never marked done nor released (crash)
    clock.t += advance_ms
    assert store.claim("o-4") is claimed


def test_expired_rows_are_purged(tmp_path):
    clock = Clock()
    store = SqliteDedupStore(tmp_path / "d.db", ttl_ms=10, lease_ms=10, clock_ms=clock, purge_every=3)
    for k in ("a", "b"):
        store.claim(k)
        store.mark_done(k)
    clock.t += 10
    store.claim("c")  # third claim purges a and b
    rows = store._conn.execute("SELECT key FROM instrument_dedup ORDER BY key").fetchall()
    assert rows == [("c",)]


def test_bad_message_id_is_refused(tmp_path):
    charge, _ = _charger(SqliteDedupStore(tmp_path / "d.db"))
    with pytest.raises(ValueError, match="message id"):
        charge({"order_id": "", "amount": 1})


def test_dedup_survives_a_process_restart(tmp_path):
    db, log = tmp_path / "dedup.db", tmp_path / "charges.log"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from instrument.idempotency import SqliteDedupStore, idempotent
        store = SqliteDedupStore({str(db)!r})
        @idempotent(store, key=lambda o: o["order_id"])
        def charge(o):
            with open({str(log)!r}, "a") as f:
                f.write(o["order_id"] + "\\n")
        charge({{"order_id": sys.argv[1]}})
    """)
    for order in ("o-7", "o-7", "o-8"):  # the second run is a redelivery after a restart
        subprocess.run([sys.executable, "-c", script, order], check=True, timeout=60)
    assert log.read_text().split() == ["o-7", "o-8"]
