"""Kafka DLQ reading (kafka-python): the consumer, offset ranges, records as messages, their targets
under the policy, and browse, dry run and fetch-one on top. Reads only; never commits.

Replay execution is in ``dlq.kafka_replay`` (as RabbitMQ's is in ``dlq.rabbit_replay``).
"""
from __future__ import annotations

import time
from typing import Any, Iterator

from kafka import KafkaConsumer, TopicPartition

from brokers.kafka import client_config, open_consumer as _open_consumer
from brokers.polling import kafka_poll
from config import ConfigError
from config.kafka import KafkaClusterConfig
from dlq import headers as hdr
from dlq import plan, targets
from dlq.context import ReplayError
from dlq.policy import TargetPolicy
from dlq.payload import message_view

MAX_BATCH = 500  # records per read batch (and per replay batch)
IDLE_READ_S = 20.0  # no record at all for this long while records are expected: give up reading
# Pause after an empty poll while records are known to be there (offsets below the end): the Fetch is on
# its way, so a short pause keeps the loop from spinning without the idle consumer's half second, which
# was a third of a 10,000-record replay's time (bench/replay_bench.py).
READ_PAUSE_S = 0.005


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


def to_message(rec: Any, *, shown: bool = True) -> tuple[plan.Message, hdr.HeaderError | None]:
    """A consumer record as a plan.Message, with the header error (if any) kept apart; ``shown=False``
    (replay) skips the headers' display text."""
    pairs = list(rec.headers or [])
    decoded, err = hdr.decode_lenient(pairs, shown=shown)
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
        got = kafka_poll(consumer, 0.1 if out else 0.5, batch - len(out), pause_s=READ_PAUSE_S)
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
