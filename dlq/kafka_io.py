"""Kafka DLQ browse and replay execution (kafka-python).

Replay produces with ``acks=all`` in batches. Before a batch goes out, its messages are written as
in flight together with, per target partition, the offset from which the batch can only have
landed; the ledger marks a DLQ offset replayed only after the broker acknowledged the record. A
resumed job first reconciles in-flight rows by reading the targets from those offsets for the
``eventdeck-replay-id`` header, so a crash does not even duplicate. DLQ records are never deleted.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Iterator

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from brokers.kafka import client_config, open_admin, open_consumer as _open_consumer, open_producer
from brokers.polling import kafka_poll
from config import ConfigError
from config.kafka import KafkaClusterConfig
from dlq import headers as hdr
from dlq import plan, targets
from dlq.context import HEARTBEAT_EVERY_S, JobContext, ReplayError, outcome
from dlq.policy import TargetPolicy
from dlq.payload import message_view
from store import dlq as store_dlq

MAX_BATCH = 500
ACK_TIMEOUT_S = 120.0  # waiting for a batch's acks beyond this fails its records (they stay in the DLQ)
IDLE_READ_S = 20.0  # no record at all for this long while records are expected: give up reading


def client_kwargs(cfg: KafkaClusterConfig) -> dict[str, Any]:
    """Connection settings of a cluster, built as the collector builds them (secrets from the
    environment or the secrets file); a bad option or missing secret fails the job naming the key."""
    try:
        return client_config(cfg)
    except ConfigError as exc:
        raise ReplayError(str(exc)) from None


def open_consumer(cfg: KafkaClusterConfig) -> KafkaConsumer:
    try:  # a bad option or missing secret: ReplayError naming the key
        return _open_consumer(cfg, group_id=None, enable_auto_commit=False,
                              auto_offset_reset="earliest", consumer_timeout_ms=1000)
    except ConfigError as exc:
        raise ReplayError(str(exc)) from None


def to_message(rec: Any) -> tuple[plan.Message, hdr.HeaderError | None]:
    """A consumer record as a plan.Message, with the header error (if any) kept apart."""
    pairs = list(rec.headers or [])
    decoded, err = hdr.decode_lenient(pairs)
    return plan.Message(coord=plan.kafka_coord(rec.partition, rec.offset), key=rec.key, value=rec.value,
                        ts_ms=rec.timestamp, headers=pairs, decoded=decoded, partition=rec.partition,
                        offset=rec.offset), err


def scope(consumer: KafkaConsumer, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (first offset, end offset) of a DLQ topic; ReplayError if it does not exist."""
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        raise ReplayError(f"DLQ topic {topic!r} does not exist")
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    begin = consumer.beginning_offsets(tps)
    end = consumer.end_offsets(tps)
    return {tp.partition: (begin[tp], end[tp]) for tp in tps}


def read(consumer: KafkaConsumer, topic: str, ranges: dict[int, tuple[int, int]],
         batch: int = MAX_BATCH) -> Iterator[list[Any]]:
    """Records of ``topic`` in ``[start, end)`` per partition, in batches; never commits."""
    wanted = {TopicPartition(topic, p): r for p, r in ranges.items() if r[1] > r[0]}
    if not wanted:
        return
    consumer.assign(list(wanted))
    for tp, (start, _) in wanted.items():
        consumer.seek(tp, start)
    open_ = set(wanted)
    last_seen = time.monotonic()
    out: list[Any] = []
    while open_:
        got = kafka_poll(consumer, 0.1 if out else 0.5, batch - len(out))
        for tp, recs in got.items():
            end = wanted[tp][1]
            out.extend(r for r in recs if r.offset < end)
        for tp in list(open_):
            if consumer.position(tp) >= wanted[tp][1]:
                open_.discard(tp)
                consumer.pause(tp)
        if got:
            last_seen = time.monotonic()
        if out and (len(out) >= batch or not got or not open_):
            yield out
            out = []
        elif not got and time.monotonic() - last_seen > IDLE_READ_S:
            missing = ", ".join(f"{tp.partition}@{consumer.position(tp)}<{wanted[tp][1]}" for tp in sorted(open_))
            raise ReplayError(f"reading {topic}: no records arrived for {IDLE_READ_S:.0f} s "
                              f"before the end offsets ({missing})")
    if out:
        yield out


def resolve(msg: plan.Message, err: hdr.HeaderError | None, cfg: KafkaClusterConfig, dlq: str,
            explicit: dict[str, Any] | None, *, policy: TargetPolicy
            ) -> targets.Target | targets.NoTarget | hdr.HeaderError:
    """The target of a record, a header-derived one only if ``policy`` permits it."""
    if err is not None and not explicit:
        return err
    try:
        t = targets.resolve_kafka(msg.decoded, dlq, explicit,
                                  {k: v.source_topic for k, v in cfg.dlq_map.items()}, cfg.dlq_patterns)
    except targets.NoTarget as exc:
        return exc
    return policy.check(t)


def dry_run_targets(cfg: KafkaClusterConfig, req: dict[str, Any], scan: int, *, policy: TargetPolicy,
                    max_bytes: int = 16 * 1024 * 1024) -> plan.Scan:
    """Records of the request's DLQ from the start of each partition, each with the target a replay would
    use (a target topic that does not exist is a NoTarget), up to ``scan`` records or ``max_bytes``; reads
    only, commits nothing. The scan's pin is the per-partition offset ranges it covered."""
    consumer = open_consumer(cfg)
    try:
        known = set(consumer.topics())
        ranges = scope(consumer, req["dlq"])
        msgs: list[tuple[plan.Message, hdr.HeaderError | None]] = []
        seen: dict[int, int] = {}
        size, stopped = 0, None
        for batch in read(consumer, req["dlq"], ranges):
            for r in batch:
                if len(msgs) >= scan or size >= max_bytes:
                    stopped = "messages" if len(msgs) >= scan else "bytes"
                    break
                msgs.append(to_message(r))
                size += plan.message_bytes(r.key, r.value, r.headers)
                seen[r.partition] = r.offset + 1
            if stopped:
                break
    finally:
        consumer.close()
    covered = ranges if not stopped else {p: (b, seen.get(p, b)) for p, (b, e) in ranges.items()}
    out = []
    for m, e in msgs:
        t = resolve(m, e, cfg, req["dlq"], req["target"], policy=policy)
        if isinstance(t, targets.Target) and t.topic not in known:
            t = targets.NoTarget(f"record {m.coord}: target topic {t.topic!r} does not exist")
        out.append((m, t))
    return plan.Scan(out, sum(e - b for b, e in ranges.values()), size, stopped,
                     {"ranges": {str(p): [b, e] for p, (b, e) in covered.items()}})


def browse(cfg: KafkaClusterConfig, dlq: str, page: int, page_size: int, preview: int, *,
           policy: TargetPolicy, max_messages: int = 20_000, max_bytes: int = 16 * 1024 * 1024,
           **filters: Any) -> list[dict[str, Any]]:
    """Newest first, one page; filters: partition, from_offset, to_offset, from_ms, to_ms and the
    selection filters (key, reason, exception_class). Without selection filters only the needed
    window is read; reading stops after ``max_messages`` records or ``max_bytes``."""
    consumer = open_consumer(cfg)
    try:
        ranges = scope(consumer, dlq)
        if filters.get("partition") is not None:
            ranges = {p: r for p, r in ranges.items() if p == int(filters["partition"])}
        if filters.get("from_ms") is not None:
            found = consumer.offsets_for_times({TopicPartition(dlq, p): int(filters["from_ms"]) for p in ranges})
            ranges = {p: ((found[TopicPartition(dlq, p)].offset if found.get(TopicPartition(dlq, p)) else e), e)
                      for p, (b, e) in ranges.items()}
        if filters.get("from_offset") is not None:
            ranges = {p: (max(b, int(filters["from_offset"])), e) for p, (b, e) in ranges.items()}
        if filters.get("to_offset") is not None:
            ranges = {p: (b, min(e, int(filters["to_offset"]))) for p, (b, e) in ranges.items()}
        sel = {"mode": "filter", **{k: filters.get(k) for k in ("from_ms", "to_ms", "key", "reason",
                                                                 "exception_class")}}
        schema = _schema_browse(cfg, filters)
        narrow = any(sel[k] for k in ("to_ms", "key", "reason", "exception_class")) or schema.filtering
        window = (page + 1) * page_size if not narrow else max_messages
        ranges = {p: (max(b, e - window), e) for p, (b, e) in ranges.items()}
        picked = []
        count = size = 0
        for batch in read(consumer, dlq, ranges):
            for rec in batch:
                msg, err = to_message(rec)
                if plan.selected(sel, msg) and schema.selected(msg):
                    picked.append((msg, err))
                count += 1
                size += plan.message_bytes(rec.key, rec.value, rec.headers)
            if count >= max_messages or size >= max_bytes:
                break
    finally:
        consumer.close()
    picked.sort(key=lambda me: (me[0].ts_ms or 0, me[0].offset or 0), reverse=True)
    out = []
    for msg, err in picked[page * page_size:(page + 1) * page_size]:
        t = resolve(msg, err, cfg, dlq, None, policy=policy)
        where = t.describe() if isinstance(t, targets.Target) else f"no target: {t}"
        out.append(schema.annotate(message_view(msg, err, where, preview), msg))
    return out


class _SchemaBrowse:
    """Schema decoding of one browse page (dlq.schemas) and its decoded-field filter; each message is
    decoded at most once, and a message that cannot be decoded gets its reason, alone."""

    def __init__(self, cfg: KafkaClusterConfig, filters: dict[str, Any]) -> None:
        from dlq import schema_view, schemas

        self.view = schema_view
        self.decoder = schemas.decoder_for(cfg) if cfg.schema_registry is not None else None
        self.path = schema_view.parse_path(filters["field"]) if filters.get("field") else None
        self.op = filters.get("field_op") or "equals"
        self.wanted = str(filters.get("field_value") or "")
        if self.path and self.op not in schema_view.FIELD_OPS:
            raise schema_view.FieldFilterError(f"field_op: one of {', '.join(schema_view.FIELD_OPS)}, "
                                               f"got {self.op!r}")
        self.filtering = self.path is not None
        self.seen: dict[str, dict[str, Any] | None] = {}

    def _value(self, msg: plan.Message) -> dict[str, Any] | None:
        if self.decoder is None:
            return None
        if msg.coord not in self.seen:
            self.seen[msg.coord] = self.decoder.decode(msg.value, msg.headers, is_key=False)
        return self.seen[msg.coord]

    def selected(self, msg: plan.Message) -> bool:
        return self.path is None or self.view.field_matches(self._value(msg), self.path, self.op, self.wanted)

    def annotate(self, view: dict[str, Any], msg: plan.Message) -> dict[str, Any]:
        if self.decoder is None:
            return view
        return self.view.annotate(view, self._value(msg), self.decoder.decode(msg.key, msg.headers, is_key=True))


def _schema_browse(cfg: KafkaClusterConfig, filters: dict[str, Any]) -> _SchemaBrowse:
    return _SchemaBrowse(cfg, filters)


def fetch_one(cfg: KafkaClusterConfig, dlq: str, partition: int, offset: int) -> Any:
    """The record at ``dlq:partition:offset`` (ReplayError when it is not there)."""
    consumer = open_consumer(cfg)
    try:
        ranges = scope(consumer, dlq)
        if partition not in ranges or not ranges[partition][0] <= offset < ranges[partition][1]:
            raise ReplayError(f"{dlq}:{partition}:{offset} is not in the DLQ")
        for batch in read(consumer, dlq, {partition: (offset, offset + 1)}):
            for rec in batch:
                if rec.offset == offset:
                    return rec
    finally:
        consumer.close()
    raise ReplayError(f"{dlq}:{partition}:{offset} could not be read")


def plan_items(ctx: JobContext, cfg: KafkaClusterConfig, records: list[Any],
               topics: "_Topics") -> list[tuple[plan.PlanItem, plan.Message]]:
    """Plan the selected, not yet handled records of a batch; checks the target topic/partition exist."""
    msgs = [to_message(r) for r in records]
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
        got = kafka_poll(consumer, 0.2, MAX_BATCH)
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
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while True:
        try:
            return fut.get(timeout=min(HEARTBEAT_EVERY_S, max(0.01, deadline - time.monotonic())))
        except KafkaTimeoutError:
            if fut.is_done or time.monotonic() >= deadline:
                raise
            ctx.beat()
