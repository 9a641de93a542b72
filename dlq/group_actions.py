"""Operator actions on a Kafka consumer group: skip-to-DLQ and offset reset (the executor).

The decisions are in ``dlq.skip_plan`` (pure); this module reads the broker, writes the copy, commits
and keeps the audit row. Broker clients come from ``brokers``.

Skip, in order (each step safe to crash after):
  1. refuse a viewer, a read-only cluster, a group with live members (listed when the broker describes
     them; always checked with a no-op commit of the current offset, which a broker refuses for a live group);
  2. write the audit row (outcome ``copying``) with the DLQ partition's end offset: where a re-run looks
     for copies it may have made;
  3. look there for records carrying this skip's ``eventdeck-skip-id``; copy the records not found and
     wait for their ``acks=all``;
  4. commit the group past the skipped records; 5. mark the audit row ``skipped``.
A re-run after a crash reuses the row of step 2, finds the copy by its id and does not copy twice; the
group is never committed before every copy is acknowledged or found.
"""
from __future__ import annotations

import sqlite3
import time
from typing import Any, Callable, Iterable

from kafka import TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from brokers.kafka import open_consumer
from brokers.kafka import open_admin, open_producer
from brokers.polling import kafka_poll
from config import Settings
from config.kafka import KafkaClusterConfig
from core.clock import Clock, now_ms as wall_now_ms
from dlq import skip_plan as sp
from dlq.context import kafka_cluster
from store import audit

ACK_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 20.0
SKIP_ACTION = "kafka.group.skip"
RESET_ACTION = "kafka.group.reset"


def _target(cluster: str, group: str) -> str:
    return f"kafka:{cluster}:{group}"


def _refuse(conn: sqlite3.Connection | None, now: Clock, actor: str, action: str, target: str,
            detail: dict[str, Any], exc: sp.Refused) -> sp.Refused:
    """Audit a refusal (one row, outcome 'refused') and return the exception to raise."""
    if conn is not None:
        audit.record(conn, now(), actor or "unknown", action, target, {**detail, "refused": str(exc)[:1000]},
                     "refused")
    return exc


def _cluster(settings: Settings, name: str, role: str, action: str) -> KafkaClusterConfig:
    sp.require_operator(role, action)
    cfg = kafka_cluster(settings, name)
    sp.require_writable(name, cfg.read_only, action)
    return cfg


# --- group state ----------------------------------------------------------------------------------------

def describe_members(admin: Any, group: str) -> tuple[str | None, list[dict[str, Any]] | None]:
    """(state, members) of a group; (None, None) when the broker cannot describe it."""
    try:
        d = admin.describe_groups([group])[group]
    except Exception:  # noqa: BLE001 - a broker that cannot describe groups: unknown, checked by commit
        return None, None
    members = []
    for m in d.get("members") or []:
        parts = []
        for a in ((m.get("member_assignment") or {}).get("assigned_partitions") or []):
            parts += [f"{a.get('topic')}[{p}]" for p in a.get("partitions") or []]
        members.append({"member_id": m.get("member_id"), "client_id": m.get("client_id"),
                        "host": m.get("client_host"), "partitions": parts})
    return d.get("group_state"), members


def members_text(members: list[dict[str, Any]]) -> str:
    return "; ".join(f"{m['client_id']} at {m['host']} ({m['member_id']})"
                     + (f" on {', '.join(m['partitions'])}" if m["partitions"] else "") for m in members)


def require_no_members(admin: Any, group: str, probe: dict[TopicPartition, int]) -> dict[str, Any]:
    """Refused when the group has live members: Kafka refuses offset commits for them, and Eventdeck offers
    nothing that would fight a live consumer. The description lists the members; a no-op commit of the
    current offsets (``probe``) is the check that works on every broker."""
    state, members = describe_members(admin, group)
    if members:
        raise sp.Refused(f"group {group!r} has {len(members)} active member(s) (state {state}): "
                         f"{members_text(members)} — stop its consumers first; Kafka refuses offset commits "
                         f"for a group with live members")
    if probe:
        errors = _commit(admin, group, probe)
        if errors:
            raise sp.Refused(f"group {group!r} has active members: the broker refused a commit of its current "
                             f"offsets ({errors}) — stop its consumers first" +
                             ("" if members is not None else " (this broker does not describe groups, so the "
                                                               "members cannot be listed)"))
    return {"state": state, "members": members}


def _commit(admin: Any, group: str, offsets: dict[TopicPartition, int]) -> str:
    """Commit ``offsets`` for ``group``; '' on success, else the errors per partition."""
    res = admin.alter_group_offsets(group, {tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
    bad = {tp: err for tp, err in res.items() if getattr(err, "errno", 0) != 0}
    return ", ".join(f"{tp.topic}[{tp.partition}]: {err.__name__}" for tp, err in sorted(bad.items()))


def list_offsets(admin: Any, tps: list[TopicPartition], spec: Any) -> dict[tuple[str, int], int]:
    """ListOffsets (earliest, latest, or the first offset at/after a timestamp; -1: none) per partition."""
    if not tps:
        return {}
    got = admin.list_partition_offsets({tp: spec for tp in tps})
    return {(tp.topic, tp.partition): int(v.offset) for tp, v in got.items()}


def committed_offsets(admin: Any, group: str) -> dict[tuple[str, int], int]:
    got = admin.list_group_offsets({group: None}).get(group) or {}
    return {(tp.topic, tp.partition): om.offset for tp, om in got.items() if om is not None and om.offset >= 0}


# --- skip to DLQ ----------------------------------------------------------------------------------------

def _read_range(consumer: Any, tp: TopicPartition, start: int, end: int) -> list[Any]:
    consumer.assign([tp])
    consumer.seek(tp, start)
    out: list[Any] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise sp.Refused(f"{tp.topic}[{tp.partition}]: reading offsets {start}..{end - 1} took longer than "
                             f"{READ_TIMEOUT_S:.0f} s")
        for recs in kafka_poll(consumer, 0.5, end - start).values():
            out += [r for r in recs if start <= r.offset < end]
    return out


def find_copies(consumer: Any, tp: TopicPartition, start: int, want: set[str], idle_s: float = 1.0) -> dict[str, Any]:
    """Records of ``tp`` from ``start`` on carrying one of the ``want`` skip ids; reads past the reported end
    until a poll stays empty for ``idle_s`` (some brokers under-report the end)."""
    found: dict[str, Any] = {}
    if not want:
        return found
    consumer.assign([tp])
    consumer.seek(tp, start)
    end = consumer.end_offsets([tp])[tp]
    quiet = None
    while len(found) < len(want):
        got = kafka_poll(consumer, 0.2, 500)
        for recs in got.values():
            for r in recs:
                v = sp.header_value(r.headers, sp.SKIP_ID)
                if v is not None and v.decode("utf-8", "replace") in want:
                    found[v.decode()] = r
        if got:
            quiet = None
        elif consumer.position(tp) >= end:
            quiet = quiet or time.monotonic()
            if time.monotonic() - quiet >= idle_s:
                break
    return found


def _pending(conn: sqlite3.Connection, target: str, ids: set[str]) -> dict[str, Any] | None:
    """The newest audit row of a skip of these records (its id, outcome, detail), or None."""
    for row in audit.find(conn, SKIP_ACTION, target):
        if ids & set((row["detail"] or {}).get("copy_ids") or ()):
            return row
    return None


UNFINISHED = ("copying", "copied, commit refused", "copy failed")


def _resume_point(conn: sqlite3.Connection, target: str, topic: str, partition: int, offset: int | None,
                  count: int) -> tuple[int | None, int]:
    """A skip of this partition that did not finish (a crash, a refused commit) is finished first: without
    an offset the re-run takes the interrupted one's (the default, the committed offset, may already be past
    it — re-running the same command must not skip the next record); another offset is refused."""
    for row in audit.find(conn, SKIP_ACTION, target):
        d = row["detail"] or {}
        if d.get("topic") != topic or d.get("partition") != partition:
            continue
        if row["outcome"] not in UNFINISHED:
            return offset, count
        start, n = int(d["commit_to"]) - int(d["count"]), int(d["count"])
        if offset is None or (offset, count) == (start, n):
            return start, n
        raise sp.Refused(f"{topic}[{partition}]: the skip of offset(s) {start}..{start + n - 1} (audit entry "
                         f"{row['id']}) did not finish; run it again (without --offset, or with --offset {start}) "
                         f"before skipping anything else")
    return offset, count


def skip(settings: Settings, conn: sqlite3.Connection | None, cluster: str, group: str, topic: str,
         partition: int, *, offset: int | None = None, count: int = 1, dlq: str | None = None,
         reason: str | None = None, actor: str, role: str, dry_run: bool = False,
         now: Clock = wall_now_ms, after_copy: Callable[[], None] | None = None) -> dict[str, Any]:
    """Skip the record(s) at ``offset`` (default: the group's committed offset) of ``topic[partition]`` to the
    group's DLQ; see the module docstring. Returns the report (``plan``, ``records``, ``copies``, ``outcome``).
    A dry run reads only. ``conn`` is a writer connection of the store (required unless dry run)."""
    target = _target(cluster, group)
    ask = {"topic": topic, "partition": partition, "offset": offset, "count": count, "dlq": dlq}
    try:
        cfg = _cluster(settings, cluster, role, "skip-to-DLQ")
        why = sp.check_reason(reason) if not dry_run else (reason or "").strip()
        if conn is None and not dry_run:
            raise sp.Refused("skip-to-DLQ needs the store (its audit row is the crash-safety record)")
    except sp.Refused as exc:
        raise _refuse(conn if not dry_run else None, now, actor, SKIP_ACTION, target, ask, exc) from None
    tp = TopicPartition(topic, partition)
    admin = open_admin(cfg)
    consumer = open_consumer(cfg, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        known = set(consumer.topics())
        if topic not in known or partition not in (consumer.partitions_for_topic(topic) or ()):
            raise _refuse(conn if not dry_run else None, now, actor, SKIP_ACTION, target, ask,
                          sp.Refused(f"{topic}[{partition}] does not exist"))
        committed = committed_offsets(admin, group).get((topic, partition))
        try:
            if not dry_run and conn is not None:
                offset, count = _resume_point(conn, target, topic, partition, offset, count)
            dlq_name = sp.group_dlq(topic, group, cfg.dlq_map, cfg.dlq_patterns, known, dlq)
            start = offset if offset is not None else committed
            log_start = consumer.beginning_offsets([tp])[tp]
            log_end = consumer.end_offsets([tp])[tp]
            in_log = start is not None and log_start <= start and start + count <= log_end
            records = _read_range(consumer, tp, start, start + count) if in_log else []
            if in_log and committed is not None and committed >= start + count:
                records = []
            plan = sp.plan_skip(topic, partition, committed, offset, count, log_start, log_end,
                                [r.offset for r in records], dlq_name,
                                len(consumer.partitions_for_topic(dlq_name) or ()))
            ids = {o: sp.skip_id(cluster, group, topic, partition, o) for o in plan.offsets}
            report: dict[str, Any] = {
                "plan": plan.describe(), "dlq": plan.dlq, "dlq_partition": plan.dlq_partition,
                "committed": committed, "commit_to": plan.commit_to, "already_past": plan.already_past,
                "records": [{"offset": r.offset, "copy_id": ids[r.offset], "timestamp_ms": r.timestamp,
                             "key_bytes": len(r.key or b""), "value_bytes": len(r.value or b"")}
                            for r in records if r.offset in ids]}
            probe = {tp: committed} if committed is not None else {}
            report.update(require_no_members(admin, group, {} if dry_run else probe))
        except sp.Refused as exc:
            raise _refuse(conn if not dry_run else None, now, actor, SKIP_ACTION, target, ask, exc) from None
        if dry_run:
            report["outcome"] = "dry run"
            return report
        assert conn is not None
        dtp = TopicPartition(plan.dlq, plan.dlq_partition)
        row = _pending(conn, target, set(ids.values())) if ids else None
        if plan.already_past:
            row = _pending(conn, target, {sp.skip_id(cluster, group, topic, partition, o)
                                          for o in range(plan.commit_to - count, plan.commit_to)})
            if row is not None and row["outcome"] == "copying":  # a crash after the commit: finish its row
                audit.set_outcome(conn, row["id"], "skipped", {**row["detail"], "finished_by_rerun": True})
            report["outcome"] = "already past"
            return report
        detail = {"topic": topic, "partition": partition, "offsets": list(plan.offsets), "count": count,
                  "committed": committed, "commit_to": plan.commit_to, "dlq": plan.dlq,
                  "dlq_partition": plan.dlq_partition, "reason": why, "copy_ids": sorted(ids.values())}
        if row is None or row["outcome"] != "copying":
            scan_from = row["detail"]["scan_from"] if row is not None else consumer.end_offsets([dtp])[dtp]
            row_id = audit.record(conn, now(), actor, SKIP_ACTION, target, {**detail, "scan_from": scan_from},
                                  "copying")
        else:
            row_id, scan_from = row["id"], row["detail"]["scan_from"]
        found = find_copies(consumer, dtp, scan_from, set(ids.values()))
        copies = []
        by_offset = {r.offset: r for r in records}
        producer = open_producer(cfg, acks="all", linger_ms=0)  # the copy is acknowledged by every in-sync replica
        try:
            futures = []
            for o in plan.offsets:
                if ids[o] in found:
                    r = found[ids[o]]
                    copies.append({"offset": o, "copy": f"{plan.dlq}:{r.partition}:{r.offset}", "found": True})
                    continue
                rec = by_offset[o]
                headers = sp.copy_headers(rec.headers, topic=topic, partition=partition, offset=o,
                                          timestamp_ms=rec.timestamp, timestamp_type=rec.timestamp_type,
                                          group=group, actor=actor, reason=why, copy_id=ids[o])
                futures.append((o, producer.send(plan.dlq, key=rec.key, value=rec.value, headers=headers,
                                                 partition=plan.dlq_partition)))
            for o, fut in futures:
                try:
                    md = fut.get(timeout=ACK_TIMEOUT_S)
                except KafkaError as exc:
                    audit.set_outcome(conn, row_id, "copy failed", {**detail, "scan_from": scan_from,
                                                                    "error": f"{type(exc).__name__}: {exc}"[:500]})
                    raise sp.Refused(f"copying offset {o} to {plan.dlq} failed ({type(exc).__name__}: {exc}); "
                                     f"the group was not committed") from None
                copies.append({"offset": o, "copy": f"{md.topic}:{md.partition}:{md.offset}", "found": False})
        finally:
            producer.close()
        if after_copy is not None:
            after_copy()
        errors = _commit(admin, group, {tp: plan.commit_to})
        detail.update(scan_from=scan_from, copies=copies)
        if errors:
            audit.set_outcome(conn, row_id, "copied, commit refused", {**detail, "error": errors})
            raise sp.Refused(f"the record(s) were copied to {plan.dlq} but the broker refused the commit ({errors}); "
                             f"run the skip again once the group's consumers are stopped (the copy is found, "
                             f"not made twice)")
        audit.set_outcome(conn, row_id, "skipped", detail)
        report.update(copies=copies, outcome="skipped", audit_id=row_id)
        return report
    finally:
        consumer.close()
        admin.close()


# --- offset reset ---------------------------------------------------------------------------------------

def reset(settings: Settings, conn: sqlite3.Connection | None, cluster: str, group: str, spec: sp.ResetSpec, *,
          topic: str | None = None, partitions: Iterable[int] | None = None, actor: str, role: str,
          dry_run: bool = False, now: Clock = wall_now_ms) -> dict[str, Any]:
    """Reset ``group``'s offsets per ``spec`` on ``topic`` (all its partitions, or ``partitions``), or on every
    partition the group has committed. Returns ``rows`` (per partition: current → new, skipped, re-read)."""
    target = _target(cluster, group)
    ask = {"spec": spec.describe(), "topic": topic, "partitions": sorted(partitions) if partitions else None}
    try:
        cfg = _cluster(settings, cluster, role, "offset reset")
        if conn is None and not dry_run:
            raise sp.Refused("an offset reset needs the store for its audit row")
    except sp.Refused as exc:
        raise _refuse(conn if not dry_run else None, now, actor, RESET_ACTION, target, ask, exc) from None
    admin = open_admin(cfg)
    consumer = open_consumer(cfg, group_id=None, enable_auto_commit=False)
    try:
        try:
            committed = committed_offsets(admin, group)
            if topic is not None:
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    raise sp.Refused(f"topic {topic!r} does not exist")
                wanted = set(partitions) if partitions else set(parts)
                missing = wanted - set(parts)
                if missing:
                    raise sp.Refused(f"topic {topic!r} has no partition(s) {sorted(missing)}")
                tps = [(topic, p) for p in sorted(wanted)]
            else:
                if partitions:
                    raise sp.Refused("partitions need a topic")
                tps = sorted(committed)
            ktps = [TopicPartition(t, p) for t, p in tps]
            begin = list_offsets(admin, ktps, OffsetSpec.EARLIEST)
            end = list_offsets(admin, ktps, OffsetSpec.LATEST)
            by_time = None
            if spec.mode == "timestamp" and ktps:
                by_time = {tp: (o if o >= 0 else None)
                           for tp, o in list_offsets(admin, ktps, int(spec.value or 0)).items()}
            plan = sp.plan_reset(spec, tps, {tp: committed.get(tp) for tp in tps}, begin, end, by_time)
            probe = {TopicPartition(t, p): committed[(t, p)] for t, p in tps if (t, p) in committed}
            group_state = require_no_members(admin, group, {} if dry_run else probe)
        except sp.Refused as exc:
            raise _refuse(conn if not dry_run else None, now, actor, RESET_ACTION, target, ask, exc) from None
        report = {"spec": spec.describe(), "rows": plan.rows(), **group_state,
                  "skipped": sum(p.skipped for p in plan.partitions),
                  "reread": sum(p.reread for p in plan.partitions)}
        if dry_run:
            report["outcome"] = "dry run"
            return report
        assert conn is not None
        changes = {TopicPartition(t, p): o for (t, p), o in plan.changes.items()}
        errors = _commit(admin, group, changes) if changes else ""
        outcome = "failed" if errors else "reset"
        report["audit_id"] = audit.record(conn, now(), actor, RESET_ACTION, target,
                                          {**ask, "rows": plan.rows(), **({"error": errors} if errors else {})},
                                          outcome)
        if errors:
            raise sp.Refused(f"the broker refused the commit ({errors}); nothing was reset where it refused")
        report["outcome"] = outcome
        return report
    finally:
        consumer.close()
        admin.close()
