"""Kafka DLQ replay execution (kafka-python).

Replay produces with ``acks=all`` in batches. Before a batch goes out, its messages are written as
in flight together with, per target partition, the offset from which the batch can only have
landed; the ledger marks a DLQ offset replayed only after the broker acknowledged the record. A
resumed job first reconciles in-flight rows by reading the targets from those offsets for the
``eventdeck-replay-id`` header, so a crash does not even duplicate. DLQ records are never deleted.
Reading the DLQ (consumer, ranges, records, targets) is ``dlq.kafka_io``'s.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from brokers.kafka import open_admin, open_producer
from brokers.polling import kafka_poll
from core import gcpause
from config.kafka import KafkaClusterConfig
from dlq import headers as hdr
from dlq import plan, targets
from dlq.context import HEARTBEAT_EVERY_S, JobContext, ReplayError, outcome
from dlq.kafka_io import MAX_BATCH, READ_PAUSE_S, open_consumer, read, resolve, scope, to_message
from store import dlq as store_dlq

ACK_TIMEOUT_S = 120.0  # waiting for a batch's acks beyond this fails its records (they stay in the DLQ)


def plan_items(ctx: JobContext, cfg: KafkaClusterConfig, records: list[Any],
               topics: "_Topics") -> list[tuple[plan.PlanItem, plan.Message]]:
    """Plan the selected, not yet handled records of a batch; checks the target topic/partition exist."""
    msgs = [to_message(r, shown=False) for r in records]
    ledger = ctx.ledger([m.coord for m, _ in msgs])
    out = []
    for msg, err in msgs:
        if not plan.selected(ctx.req["selection"], msg):
            continue
        rid = ctx.rid(msg.coord)
        if rid in ctx.done:
            continue
        t = resolve(msg, err, cfg, ctx.job["dlq"], ctx.req["target"], policy=ctx.policy)
        if isinstance(t, targets.Target):
            topics.check(t.topic or "")
            if t.topic not in topics.known:
                t = targets.NoTarget(f"record {msg.coord}: target topic {t.topic!r} does not exist "
                                     f"(from {t.source}); the record stays in {ctx.job['dlq']}")
            elif t.partition is not None and t.partition >= topics.partitions[t.topic]:
                t = targets.NoTarget(f"record {msg.coord}: target topic {t.topic!r} has {topics.partitions[t.topic]} "
                                     f"partitions, no partition {t.partition} (from {t.source})")
        state = ledger.get(msg.coord)
        out.append((ctx.decide(msg, rid, t, state[0] if state else None), msg))
    return out


class _Topics:
    """Topic existence and partition counts, refreshed on a miss; creates the parking topic."""

    def __init__(self, consumer: KafkaConsumer, cfg: KafkaClusterConfig) -> None:
        self.consumer = consumer
        self.cfg = cfg
        self.known: set[str] = set(consumer.topics())
        self.partitions: dict[str, int] = {}
        self.missing: set[str] = set()  # looked up in this batch and absent

    def check(self, topic: str) -> None:
        if topic not in self.known and topic not in self.missing:
            self.known = set(self.consumer.topics())
            if topic not in self.known:
                self.missing.add(topic)
        if topic in self.known and topic not in self.partitions:
            self.partitions[topic] = len(self.consumer.partitions_for_topic(topic) or ())

    def ensure_parking(self, topic: str, num_partitions: int) -> None:
        self.missing.discard(topic)
        self.check(topic)
        if topic in self.known:
            return
        admin = open_admin(self.cfg)
        try:
            admin.create_topics({topic: {"num_partitions": num_partitions, "replication_factor": 1}})
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()
        deadline = time.monotonic() + 30
        while topic not in self.known or not self.consumer.partitions_for_topic(topic):
            if time.monotonic() > deadline:
                raise ReplayError(f"parking topic {topic!r} was created but never appeared in the metadata")
            time.sleep(0.2)
            self.known = set(self.consumer.topics())
        self.missing.discard(topic)
        self.check(topic)


def _marks_for(consumer: KafkaConsumer, marks: dict[str, int], sends: list[plan.PlanItem],
               topics: _Topics) -> dict[str, int]:
    """Scan-from offsets for target partitions this job has not sent to yet (all partitions of a topic
    when the producer picks the partition)."""
    need = []
    for it in sends:
        assert it.target is not None and it.target.topic is not None
        t = it.target
        parts = [t.partition] if t.partition is not None else range(topics.partitions[t.topic])
        need += [TopicPartition(t.topic, p) for p in parts if f"{t.topic}:{p}" not in marks]
    if need:
        for tp, off in consumer.end_offsets(list(set(need))).items():
            marks[f"{tp.topic}:{tp.partition}"] = off
    return marks


def scan_for_ids(consumer: KafkaConsumer, starts: dict[TopicPartition, int], want: set[str],
                 idle_s: float = 1.0) -> dict[str, Any]:
    """Records carrying one of the ``want`` replay ids, read from ``starts`` on; reading goes past the
    reported end offsets until a poll stays empty for ``idle_s`` (some brokers under-report them)."""
    found: dict[str, Any] = {}
    if not starts or not want:
        return found
    consumer.assign(list(starts))
    for tp, off in starts.items():
        consumer.seek(tp, off)
    ends = consumer.end_offsets(list(starts))
    quiet_since = None
    while len(found) < len(want):
        got = kafka_poll(consumer, 0.2, MAX_BATCH, pause_s=READ_PAUSE_S)
        for recs in got.values():
            for rec in recs:
                rid = next((v for k, v in (rec.headers or []) if k == hdr.REPLAY_ID), None)
                try:  # anyone may write this header into a target partition: not ours unless it decodes
                    text = rid.decode("utf-8") if isinstance(rid, (bytes, bytearray)) else None
                except UnicodeDecodeError:
                    text = None
                if text is not None and text in want:
                    found[text] = rec
        if got:
            quiet_since = None
        elif all(consumer.position(tp) >= ends[tp] for tp in starts):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= idle_s:
                break
    return found


def reconcile(ctx: JobContext, consumer: KafkaConsumer) -> int:
    """Settle in-flight rows of a crashed run: found on a target → recorded, else sent again."""
    pending = {r["replay_id"]: r for r in store_dlq.inflight(ctx.conn, ctx.job["id"])}
    if not pending:
        return 0
    starts = {}
    for key, off in ctx.job["marks"].get("targets", {}).items():
        topic, _, p = key.rpartition(":")
        starts[TopicPartition(topic, int(p))] = off
    recs = scan_for_ids(consumer, starts, set(pending))
    ctx.record([{"replay_id": rid, "coord": pending[rid]["coord"], "outcome": pending[rid]["action"],
                 "target": pending[rid]["target"], "detail": "acknowledged before a crash (reconciled)",
                 "target_coord": f"{rec.topic}:{rec.partition}:{rec.offset}"} for rid, rec in recs.items()])
    store_dlq.clear_inflight(ctx.conn, ctx.job["id"])
    return len(recs)


def run_replay(ctx: JobContext, cfg: KafkaClusterConfig) -> str:
    """Execute (or resume) a Kafka replay job; returns the final state ('done' or 'cancelled').

    Batches are double-buffered: batch n+1 is planned and sent while batch n's acks arrive; both are
    in flight in the store, so a crash at any point is reconciled on resume.
    """
    dlq = ctx.job["dlq"]
    consumer = open_consumer(cfg)
    producer = open_producer(cfg, acks="all", linger_ms=5, retries=5, batch_size=256 * 1024,
                             max_in_flight_requests_per_connection=1)
    previous: _Batch | None = None
    try:
        marks = ctx.job["marks"]
        if "scope" not in marks:  # the dry run's ranges when Confirm pinned them
            marks["scope"] = {str(p): list(r) for p, r in plan.pinned_ranges(ctx.req, scope(consumer, dlq)).items()}
            marks["targets"] = {}
            store_dlq.set_marks(ctx.conn, ctx.job["id"], marks, ctx.job.get("owner"))
        ranges = {int(p): (r[0], r[1]) for p, r in marks["scope"].items()}
        sel = ctx.req["selection"]
        total = len(sel["coords"]) if sel["mode"] == "picked" else sum(e - b for b, e in ranges.values())
        ctx.beat(total=total)
        reconcile(ctx, consumer)
        topics = _Topics(consumer, cfg)
        rate = ctx.req.get("rate_per_s")
        size = MAX_BATCH if not rate else max(1, min(MAX_BATCH, int(rate / 10)))
        state = "done"
        for records in read(consumer, dlq, ranges, batch=size):
            for i in range(0, len(records), size):
                # A batch allocates ~30 short-lived objects per record; the cyclic collector walking the
                # process's heap meanwhile was ~15% of a 10,000-record replay's CPU (bench/replay_bench.py).
                # Off for the batch: its leftovers (kafka-python futures form cycles) are collected young
                # when it is back on, so a long job's memory stays bounded by a batch.
                with gcpause.paused():
                    done, previous = previous, _send(ctx, consumer, producer, topics, cfg, records[i:i + size])
                    if done is not None:
                        _settle(ctx, done)
                if ctx.beat():
                    state = "cancelled"
                    break
            if state == "cancelled":
                break
        last, previous = previous, None
        if last is not None:
            _settle(ctx, last)
        return state
    except Exception:
        if previous is not None:  # best effort; what stays in flight is reconciled when the job resumes
            with contextlib.suppress(Exception):
                _settle(ctx, previous)
        raise
    finally:
        producer.close(timeout=10)
        consumer.close()


@dataclass
class _Batch:
    settled: list[dict[str, Any]]  # outcomes known without the broker (skipped, failed)
    sends: list[tuple[plan.PlanItem, Any]]  # (item, future)


def _send(ctx: JobContext, consumer: KafkaConsumer, producer: KafkaProducer, topics: _Topics,
          cfg: KafkaClusterConfig, records: list[Any]) -> _Batch:
    """Plan one batch, write its in-flight rows and scan marks, then hand it to the producer."""
    topics.missing.clear()
    items = plan_items(ctx, cfg, records, topics)
    batch = _Batch([outcome(it, "skipped" if it.action == "skip" else "failed") for it, _ in items
                    if it.action in ("skip", "error")], [])
    sends = [(it, m) for it, m in items if it.action in ("replay", "park")]
    if not sends:
        return batch
    if any(it.action == "park" for it, _ in sends):
        topics.ensure_parking(ctx.parking().topic or "", max(1, len(ctx.job["marks"]["scope"])))
    marks = ctx.job["marks"]
    marks["targets"] = _marks_for(consumer, marks.setdefault("targets", {}), [it for it, _ in sends], topics)
    store_dlq.add_inflight(ctx.conn, ctx.job["id"],
                           [(it.replay_id, it.coord, "replayed" if it.action == "replay" else "parked",
                             it.target.describe() if it.target else "") for it, _ in sends], marks,
                           ctx.job.get("owner"))
    ctx.pace(len(sends))
    for it, m in sends:
        t = it.target
        assert t is not None
        count = m.decoded.replay_count + (1 if it.action == "replay" else 0)
        try:
            value, headers = ctx.edited(m, it.action)  # a schema'd edit that no longer encodes fails alone
            fut = producer.send(t.topic, value=value, key=m.key, partition=t.partition,
                                headers=plan.replay_headers(headers, it.replay_id, count, t))
        except (KafkaError, TypeError, ValueError, AssertionError) as exc:
            # This record cannot be encoded for its target (a null header value, a bad partition...):
            # it fails alone, stays in the DLQ, and the job goes on.
            batch.settled.append(outcome(it, "failed", f"record {it.coord}: cannot be sent to {t.describe()}: "
                                                       f"{type(exc).__name__}: {str(exc)[:200]}; "
                                                       f"the record stays in the DLQ"))
            continue
        batch.sends.append((it, fut))
    return batch


def _settle(ctx: JobContext, batch: _Batch) -> None:
    """Wait for the batch's acks (acks=all), then record outcomes and ledger rows; advance the marks."""
    marks = ctx.job["marks"]
    settled = list(batch.settled)
    for it, fut in batch.sends:
        try:
            md = _acked(ctx, fut)
        except KafkaError as exc:
            settled.append(outcome(it, "failed", f"record {it.coord}: produce to {it.target.describe()} "
                                                 f"failed: {exc}; the record stays in the DLQ"))
            continue
        key = f"{md.topic}:{md.partition}"
        marks["targets"][key] = max(marks["targets"].get(key, 0), md.offset + 1)
        settled.append(outcome(it, "replayed" if it.action == "replay" else "parked",
                               target_coord=f"{md.topic}:{md.partition}:{md.offset}"))
    ctx.record(settled)
    if batch.sends:
        store_dlq.set_marks(ctx.conn, ctx.job["id"], marks, ctx.job.get("owner"))


def _acked(ctx: JobContext, fut: Any) -> Any:
    """The record metadata of an acknowledged send; waits at most ACK_TIMEOUT_S, heartbeating meanwhile
    (a job waiting on slow acks must not look dead and be taken over). KafkaTimeoutError past the limit."""
    if fut.is_done:  # the common case once the next batch was sent: no timer, no wait
        if fut.failed():
            raise fut.exception
        return fut.value
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while True:
        try:
            return fut.get(timeout=min(HEARTBEAT_EVERY_S, max(0.01, deadline - time.monotonic())))
        except KafkaTimeoutError:
            if fut.is_done or time.monotonic() >= deadline:
                raise
            ctx.beat()
