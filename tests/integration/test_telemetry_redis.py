"""Idempotent handling with the Redis dedup store: the Redis on 127.0.0.1:6379, or, when none
answers there, a private ``redis-server`` started for these tests."""
from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import pytest
import redis

from demo.brokers import free_port
from instrument.idempotency import RedisDedupStore, idempotent


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory):
    if _answers(6379):
        yield 6379
        return
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("Redis is needed: none answers on 127.0.0.1:6379 and redis-server is not installed "
                    "(run `make system-deps` or `apt-get install -y redis-server`)", pytrace=False)
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path_factory.mktemp("redis"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 30
        while not _answers(port):
            assert proc.poll() is None and time.monotonic() < end, "private redis-server did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def client(redis_port):
    c = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=5)
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
