"""Idempotent handling with the Redis dedup store (the Redis on 127.0.0.1:6379)."""
from __future__ import annotations

import time
import uuid

import pytest
import redis

from instrument.idempotency import RedisDedupStore, idempotent


@pytest.fixture
def client():
    c = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)
    prefix = f"test:dedup:{uuid.uuid4().hex[:8]}:"
    yield c, prefix
    for key in c.scan_iter(match=prefix + "*"):
        c.delete(key)
    c.close()


def test_double_delivered_order_is_charged_once_across_instances(client):
    c, prefix = client
    charged: list[str] = []

    def make_instance():  # a second consumer instance (or a restarted one) shares the store
        @idempotent(RedisDedupStore(c, prefix=prefix), key=lambda o: o["order_id"])
        def charge(o: dict) -> str:
            charged.append(o["order_id"])
            return "ok"
        return charge

    first, second = make_instance(), make_instance()
    assert first({"order_id": "o-1"}) == "ok"
    assert second({"order_id": "o-1"}) is None
    assert charged == ["o-1"] and second.duplicates == 1


def test_failure_releases_the_claim_but_never_a_done_mark(client):
    c, prefix = client
    store = RedisDedupStore(c, prefix=prefix)
    calls = []

    @idempotent(store, key=lambda o: o["order_id"])
    def charge(o: dict) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("bank timeout")
        return "ok"
    with pytest.raises(ConnectionError):
        charge({"order_id": "o-2"})
    assert charge({"order_id": "o-2"}) == "ok"
    store.release("o-2")  # a stray release must not undo the done mark
    assert charge({"order_id": "o-2"}) is None
    assert len(calls) == 2


def test_done_mark_expires_after_the_ttl(client):
    c, prefix = client
    store = RedisDedupStore(c, prefix=prefix, ttl_ms=300, lease_ms=300)
    assert store.claim("o-3")
    store.mark_done("o-3")
    assert not store.claim("o-3")
    assert 0 < c.pttl(prefix + "o-3") <= 300
    end = time.monotonic() + 10
    while not store.claim("o-3"):
        assert time.monotonic() < end, "dedup mark never expired"
        time.sleep(0.05)
