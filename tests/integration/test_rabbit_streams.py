"""RabbitMQ streams against the real node (stream protocol on the node's stream port, plugin enabled
by the ``rabbitmq`` fixture): two named consumers of one stream, one keeping up and live, one that
stored its offset mid-way and disconnected. The collector's lag, time lag and status are compared
with the truth the test wrote: the offsets the consumers saw and the broker's own chunk timestamps,
and the wall-clock time each batch was published."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from rstream import AMQPMessage, Consumer, ConsumerOffsetSpecification, OffsetType, Producer

from alerts import api
from alerts.evaluator import Options, evaluate
from collectors.rabbitmq import RabbitCollector
from config.rabbitmq import RabbitClusterConfig
from core.codes import Status
from runner.collect import CollectJob
from store import queries
from store.db import open_migrated

STREAM_PORT = 5552


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


async def _scenario(rabbitmq, stream: str) -> dict:
    """Batch A (10 messages), a pause, batch B (10); consumer ``slow`` processes A[0..6], stores offset 6
    and disconnects; consumer ``fast`` (live, subscription property name=fast) processes all and stores
    the last offset. Returns what really happened."""
    kw = dict(username=rabbitmq.user, password=rabbitmq.password)
    truth: dict = {"published_ms": {}}
    async with Producer(rabbitmq.host, STREAM_PORT, **kw) as p:
        await p.create_stream(stream)
        for batch in ("A", "B"):
            for i in range(10):
                await p.send_wait(stream, AMQPMessage(body=f"{batch}{i}".encode()))
            truth["published_ms"][batch] = int(time.time() * 1000)
            if batch == "A":
                await asyncio.sleep(2.5)
    seen: dict[str, list[tuple[int, int]]] = {"slow": [], "fast": []}
    slow = Consumer(rabbitmq.host, STREAM_PORT, **kw)
    got7 = asyncio.Event()

    def on_slow(_msg, ctx):
        if len(seen["slow"]) < 7:
            seen["slow"].append((ctx.offset, ctx.timestamp))
            if len(seen["slow"]) == 7:
                got7.set()

    await slow.subscribe(stream, on_slow, subscriber_name="slow",
                         offset_specification=ConsumerOffsetSpecification(OffsetType.FIRST, None))
    await asyncio.wait_for(got7.wait(), 30)
    await slow.store_offset(stream, "slow", seen["slow"][-1][0])
    await slow.close()  # stopped mid-way: its stored offset stays, its connection is gone

    fast = Consumer(rabbitmq.host, STREAM_PORT, **kw)
    got_all = asyncio.Event()

    def on_fast(_msg, ctx):
        seen["fast"].append((ctx.offset, ctx.timestamp))
        if len(seen["fast"]) == 20:
            got_all.set()

    await fast.subscribe(stream, on_fast, subscriber_name="fast", properties={"name": "fast"},
                         offset_specification=ConsumerOffsetSpecification(OffsetType.FIRST, None))
    await asyncio.wait_for(got_all.wait(), 30)
    await fast.store_offset(stream, "fast", seen["fast"][-1][0])
    truth.update(seen=seen, fast=fast)
    return truth


def test_stream_lag_time_lag_and_stop_for_the_stopped_consumer(rabbitmq, tmp_store):
    stream = f"edstream-{uuid.uuid4().hex[:10]}"
    loop = asyncio.new_event_loop()
    truth = loop.run_until_complete(_scenario(rabbitmq, stream))
    fast: Consumer = truth["fast"]
    all_offsets = [o for o, _ in truth["seen"]["fast"]]
    ts_of = dict(truth["seen"]["fast"])
    last, slow_stored = all_offsets[-1], truth["seen"]["slow"][-1][0]
    cfg = RabbitClusterConfig(name="itest-streams", management_url=rabbitmq.mgmt_url, amqp_url=rabbitmq.amqp_url,
                              username=rabbitmq.user, queues_allow=[stream], stream_consumers=["slow"],
                              status_window_s=20, interval_s=10)
    conn = open_migrated(tmp_store)
    job = CollectJob(RabbitCollector(cfg), conn, cfg.interval_s)
    try:
        # the live consumer must be visible in the management API before its name can be discovered
        deadline = time.monotonic() + 60
        while not _has(job.collector.collect(int(time.time() * 1000)).samples, job.collector, stream, "fast"):
            assert time.monotonic() < deadline, "the live consumer 'fast' never showed in /api/stream/consumers"
            time.sleep(1)
        t0 = int(time.time() * 1000)
        api.seed_builtin(conn, t0)
        for i in range(7):  # one tick every 10 s of injected time: the 20 s window is covered from tick 2
            ts = t0 + i * 10_000
            assert job.run(ts) is True, job.last_reason
            evaluate(conn, ts, Options())
        now = t0 + 60_000

        def latest(metric: str, consumer: str) -> float:
            df = queries.latest(conn, metric, {"stream": stream, "consumer": consumer})
            assert len(df) == 1, f"no {metric} for {consumer}"
            return float(df.iloc[0]["value"])

        assert float(queries.latest(conn, "rabbitmq_stream_last_offset", {"stream": stream}).iloc[0]["value"]) == last
        # lag in messages = last offset − stored offset; the test's truth: the messages 'slow' never processed
        unprocessed = [o for o in all_offsets if o > slow_stored]
        assert latest("rabbitmq_stream_consumer_lag_messages", "slow") == last - slow_stored == len(unprocessed) == 13
        assert latest("rabbitmq_stream_consumer_lag_messages", "fast") == 0
        # time lag: now − the broker's timestamp of the first unprocessed message (batch A), exact
        first_unprocessed = unprocessed[0]
        expect_s = (now - ts_of[first_unprocessed]) / 1000.0
        got_s = latest("rabbitmq_stream_consumer_lag_seconds", "slow")
        assert got_s == pytest.approx(expect_s, abs=1e-3)
        # ... and against the wall-clock time the test wrote batch A (the chunk is stamped on append)
        assert got_s == pytest.approx((now - truth["published_ms"]["A"]) / 1000.0, abs=1.0)
        assert latest("rabbitmq_stream_consumer_lag_seconds", "fast") == 0.0
        assert latest("rabbitmq_stream_consumer_status", "slow") == Status.STOP
        assert latest("rabbitmq_stream_consumer_status", "fast") == Status.OK
        assert latest("rabbitmq_stream_consumer_live", "fast") == 1
        assert latest("rabbitmq_stream_consumer_live", "slow") == 0
        firing = api.alerts(conn, ["firing"])
        rows = firing[firing["rule"] == "rabbitmq-stream-consumer-stalled"]
        assert [r["consumer"] for r in rows["labels"]] == ["slow"]
        print(f"\nstream {stream}: last offset {last}; slow stored {slow_stored} -> lag "
              f"{latest('rabbitmq_stream_consumer_lag_messages', 'slow'):g} (truth {len(unprocessed)}), "
              f"time lag {got_s:.3f} s (truth from chunk timestamp {expect_s:.3f} s, from publish clock "
              f"{(now - truth['published_ms']['A']) / 1000.0:.3f} s), status STOP; fast lag 0, OK")
    finally:
        job.close()
        loop.run_until_complete(fast.close())
        loop.run_until_complete(_delete(rabbitmq, stream))
        loop.close()


def _has(samples, col: RabbitCollector, stream: str, name: str) -> bool:
    """The stream was read (its stats are out) and ``name`` was discovered on a live subscription."""
    read = any(s.metric == "rabbitmq_stream_last_offset" for s in samples)
    return read and name in col._stream_names.get(("/", stream), set())


async def _delete(rabbitmq, stream: str) -> None:
    async with Producer(rabbitmq.host, STREAM_PORT, username=rabbitmq.user, password=rabbitmq.password) as p:
        await p.delete_stream(stream, missing_ok=True)
