"""Helpers of the consumer-group action tests (skip-to-DLQ, offset reset): a consumer that crashes on a
poison record, seeding into chosen partitions, reading committed offsets with a client of its own."""
from __future__ import annotations

import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

POISON = b"POISON"


def seed_to(bootstrap: str, topic: str, records: list[tuple[int, bytes | None, bytes, list]]) -> None:
    """(partition, key, value, headers) in order, one record per batch (Tansu counts batches as offsets)."""
    p = KafkaProducer(bootstrap_servers=bootstrap, batch_size=1, linger_ms=0, acks="all")
    try:
        for part, key, value, headers in records:
            p.send(topic, key=key, value=value, headers=headers, partition=part).get(timeout=30)
    finally:
        p.close()


def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    a = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        got = a.list_group_offsets({group: None}).get(group) or {}
        return {(tp.topic, tp.partition): om.offset for tp, om in got.items()}
    finally:
        a.close()


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    a = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        res = a.alter_group_offsets(group, {TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                                            for (t, p), o in offsets.items()})
        assert all(e.errno == 0 for e in res.values()), res
    finally:
        a.close()


def member(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    """A live member of ``group`` (joined, partitions assigned); close it to leave."""
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
                      client_id="crash-test-consumer")
    deadline = time.monotonic() + 40
    while not c.assignment():
        assert time.monotonic() < deadline, f"consumer never joined group {group}"
        c.poll(timeout_ms=200)
    for tp in c.assignment():  # records polled while joining were not handled: start at the commit
        pos = c.committed(tp)
        if pos is None:
            c.seek_to_beginning(tp)
        else:
            c.seek(tp, pos)
    return c


def consume_until_crash(bootstrap: str, topic: str, group: str, handled: list[Any], expect: int,
                        timeout: float = 40.0) -> Any:
    """A consumer that processes records one by one, committing each, and crashes (closes without
    committing) on a record whose value is POISON; returns that record, or None once ``expect`` records
    were handled with no poison met."""
    c = member(bootstrap, topic, group)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for tp, recs in c.poll(timeout_ms=300).items():
                for r in recs:
                    if r.value == POISON:
                        return r  # the crash: nothing committed past it
                    handled.append(r)
                    c.commit({tp: OffsetAndMetadata(r.offset + 1, "", -1)})
            if len(handled) >= expect:
                return None
        raise AssertionError(f"consumer handled {len(handled)} of {expect} records in {timeout} s and met no poison")
    finally:
        c.close(autocommit=False)


def records_with(bootstrap: str, topic: str, header: str, timeout: float = 10.0) -> list[Any]:
    """Every record of ``topic`` carrying ``header`` (read from the beginning until quiet)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        c.assign(tps)
        c.seek_to_beginning()
        ends = c.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        quiet = None
        while time.monotonic() < deadline:
            got = c.poll(timeout_ms=200)
            for recs in got.values():
                out += [r for r in recs if any(k == header for k, _ in r.headers)]
            if got:
                quiet = None
            elif all(c.position(tp) >= ends[tp] for tp in tps):
                quiet = quiet or time.monotonic()
                if time.monotonic() - quiet > 0.7:
                    break
        return out
    finally:
        c.close()
