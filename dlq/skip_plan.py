"""Pure planning of the operator actions on a stuck Kafka consumer group: skip-to-DLQ and offset reset.

No I/O here: the executor (``dlq.group_actions``) reads the broker and the store, passes what it read,
and does what these functions decide. Every refusal is a ``Refused`` whose message names what to change.

Skip-to-DLQ copies records to the group's DLQ with Spring Kafka's ``kafka_dlt-original-*`` headers
(partition 4-byte, offset and timestamp 8-byte big-endian, as ``DeadLetterPublishingRecoverer`` writes
them) plus ``eventdeck-skipped-by``, ``eventdeck-skip-reason`` and ``eventdeck-skip-id``: a deterministic
id of (cluster, group, topic, partition, offset), so a re-run after a crash finds the copy it made.
"""
from __future__ import annotations

import fnmatch
import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping

SPRING = "kafka_dlt-"
SKIPPED_BY = "eventdeck-skipped-by"
SKIP_REASON = "eventdeck-skip-reason"
SKIP_ID = "eventdeck-skip-id"
SKIP_EXCEPTION = "eventdeck.SkippedByOperator"  # the exception class a skipped record's copy names
MAX_SKIP = 1000  # records one skip may move
MAX_REASON = 1024
MAX_OFFSET = 2 ** 63 - 1


class Refused(ValueError):
    """The action is not done (and nothing was changed); the message says why and what to do."""


def require_operator(role: str, action: str) -> None:
    if role != "operator":
        raise Refused(f"{action} needs the operator role (you are {role!r})")


def require_writable(cluster: str, read_only: bool, action: str) -> None:
    if read_only:
        raise Refused(f"cluster {cluster!r} is read-only (read_only: true in its configuration): {action} is refused")


def skip_id(cluster: str, group: str, topic: str, partition: int, offset: int) -> str:
    """The copy id of one skipped record: the same inputs always give the same id."""
    raw = "\x1f".join(("skip", cluster, group, topic, str(partition), str(offset))).encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:32]


def copy_headers(original: Iterable[tuple[str, bytes | None]] | None, *, topic: str, partition: int, offset: int,
                 timestamp_ms: int | None, timestamp_type: int | None, group: str, actor: str, reason: str,
                 copy_id: str) -> list[tuple[str, bytes]]:
    """The DLQ copy's headers: the original headers unchanged and in order, then Spring's original-*
    headers and Eventdeck's (a repeated header's last value wins, as Spring reads it)."""
    out = list(original or [])
    out += [(SPRING + "original-topic", topic.encode()),
            (SPRING + "original-partition", struct.pack(">i", partition)),
            (SPRING + "original-offset", struct.pack(">q", offset))]
    if timestamp_ms is not None and timestamp_ms >= 0:
        out += [(SPRING + "original-timestamp", struct.pack(">q", timestamp_ms)),
                (SPRING + "original-timestamp-type", b"LogAppendTime" if timestamp_type == 1 else b"CreateTime")]
    out += [(SPRING + "original-consumer-group", group.encode()),
            # what DLQ tools (and Eventdeck's DLQ page, search, replay filters) read as the failure
            (SPRING + "exception-fqcn", SKIP_EXCEPTION.encode()),
            (SPRING + "exception-message", reason.encode()),
            (SKIPPED_BY, actor.encode()), (SKIP_REASON, reason.encode()), (SKIP_ID, copy_id.encode())]
    return out


def header_value(headers: Iterable[tuple[str, bytes | None]] | None, name: str) -> bytes | None:
    """The last value of header ``name`` (None when absent)."""
    found = None
    for k, v in headers or []:
        if k == name:
            found = v
    return found


def check_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise Refused("reason: say why the record is skipped (it travels with the copy and into the audit)")
    if len(text) > MAX_REASON:
        raise Refused(f"reason: at most {MAX_REASON} characters")
    return text


def group_dlq(topic: str, group: str, dlq_map: Mapping[str, Any], patterns: Iterable[str],
              existing: Iterable[str], explicit: str | None = None) -> str:
    """The DLQ a skipped record of ``topic`` goes to: the explicit one; the ``dlq_map`` entry for this
    group and topic, else for this topic; else an existing topic named by a DLQ pattern for this topic
    (``orders`` + ``*.DLT`` → ``orders.DLT``), in pattern order. Refused when none exists."""
    known = set(existing)
    if explicit:
        if explicit not in known:
            raise Refused(f"DLQ topic {explicit!r} does not exist")
        return explicit
    for want_group in (True, False):
        for name, t in dlq_map.items():
            if t.source_topic == topic and (not want_group or t.group == group) and name in known:
                return name
    for pat in patterns:
        if pat.count("*") == 1 and not any(c in pat for c in "?[]"):
            name = pat.replace("*", topic)
            if name in known and fnmatch.fnmatchcase(name, pat):
                return name
    raise Refused(f"no DLQ topic for {topic!r} exists: create one named by kafka.clusters[].dlq_patterns "
                  f"(e.g. {topic}.DLT), map one in kafka.clusters[].dlq_map, or name it with --dlq")


def dlq_partition(source_partition: int, dlq_partitions: int) -> int:
    """Spring's default: the DLQ partition of the same number; modulo when the DLQ has fewer."""
    if dlq_partitions <= 0:
        raise Refused("the DLQ topic has no partitions")
    return source_partition % dlq_partitions


@dataclass(frozen=True)
class SkipPlan:
    topic: str
    partition: int
    committed: int | None
    offsets: tuple[int, ...]  # records to copy (those that exist in [start, commit_to))
    commit_to: int
    dlq: str
    dlq_partition: int
    already_past: bool = False  # the group's committed offset is at or beyond commit_to: nothing to do

    def describe(self) -> str:
        if self.already_past:
            return (f"{self.topic}[{self.partition}]: the group's committed offset {self.committed} is already past "
                    f"{self.commit_to - 1}; nothing to skip")
        span = (f"offset {self.offsets[0]}" if len(self.offsets) == 1
                else f"{len(self.offsets)} records, offsets {self.offsets[0]}..{self.offsets[-1]}")
        return (f"copy {span} of {self.topic}[{self.partition}] to {self.dlq}[{self.dlq_partition}], "
                f"then commit the group at {self.commit_to} (now {self.committed})")


def plan_skip(topic: str, partition: int, committed: int | None, offset: int | None, count: int,
              log_start: int, log_end: int, present: Iterable[int], dlq: str, dlq_partitions: int) -> SkipPlan:
    """What a skip does on one partition. ``offset`` defaults to the committed offset; ``present`` are the
    offsets read in ``[offset, offset + count)`` (a compacted topic may have gaps). Refused when there is
    no record to skip, or when the group was never committed and no offset is given."""
    if not 1 <= count <= MAX_SKIP:
        raise Refused(f"count: 1..{MAX_SKIP} records")
    if offset is None:
        if committed is None:
            raise Refused(f"{topic}[{partition}]: the group has no committed offset here; give the offset to skip")
        offset = committed
    if not 0 <= offset <= MAX_OFFSET:
        raise Refused(f"offset: must be 0..2^63-1, got {offset}")
    commit_to = offset + count
    if committed is not None and committed >= commit_to:
        return SkipPlan(topic, partition, committed, (), commit_to, dlq, dlq_partition(partition, dlq_partitions),
                        already_past=True)
    if offset < log_start:
        raise Refused(f"{topic}[{partition}]: offset {offset} is before the log start {log_start} (deleted by "
                      f"retention); reset the group instead")
    if commit_to > log_end:
        raise Refused(f"{topic}[{partition}]: no record at offset {log_end if offset < log_end else offset} "
                      f"(the log ends at {log_end}); nothing to skip there")
    if committed is not None and committed != offset:
        raise Refused(f"{topic}[{partition}]: the group's committed offset is {committed}, not {offset}; skipping "
                      f"from {offset} would {'skip' if committed < offset else 're-read'} other records too — "
                      f"use an offset reset for that")
    got = tuple(sorted(o for o in set(present) if offset <= o < commit_to))
    return SkipPlan(topic, partition, committed, got, commit_to, dlq, dlq_partition(partition, dlq_partitions))


# --- offset reset -------------------------------------------------------------------------------------

ResetMode = Literal["earliest", "latest", "timestamp", "offset", "shift"]
RESET_MODES = ("earliest", "latest", "timestamp", "offset", "shift")


@dataclass(frozen=True)
class ResetSpec:
    mode: ResetMode
    value: int | None = None  # timestamp ms / offset / shift by N (negative: back)

    def __post_init__(self) -> None:
        if self.mode not in RESET_MODES:
            raise Refused(f"reset mode: one of {', '.join(RESET_MODES)}, got {self.mode!r}")
        if self.mode in ("timestamp", "offset", "shift"):
            if not isinstance(self.value, int) or isinstance(self.value, bool):
                raise Refused(f"reset to {self.mode}: a whole number is needed")
            if self.mode != "shift" and self.value < 0:
                raise Refused(f"reset to {self.mode}: must be >= 0, got {self.value}")
            if abs(self.value) > MAX_OFFSET:
                raise Refused(f"reset to {self.mode}: out of range")

    def describe(self) -> str:
        return self.mode if self.value is None else f"{self.mode} {self.value}"


@dataclass(frozen=True)
class PartitionReset:
    topic: str
    partition: int
    current: int | None  # committed offset, None: the group never committed here
    new: int
    log_start: int
    log_end: int
    note: str = ""

    @property
    def skipped(self) -> int:
        """Records the group will not read that it would have (moving forward)."""
        base = self.log_start if self.current is None else max(self.current, self.log_start)
        return max(0, self.new - base)

    @property
    def reread(self) -> int:
        """Records the group will read again (moving back)."""
        if self.current is None:
            return 0
        return max(0, min(self.current, self.log_end) - self.new)

    def row(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "current": self.current, "new": self.new,
                "skipped": self.skipped, "reread": self.reread, "log_start": self.log_start,
                "log_end": self.log_end, "note": self.note}


@dataclass
class ResetPlan:
    spec: ResetSpec
    partitions: list[PartitionReset] = field(default_factory=list)

    @property
    def changes(self) -> dict[tuple[str, int], int]:
        return {(p.topic, p.partition): p.new for p in self.partitions if p.new != p.current}

    def rows(self) -> list[dict[str, Any]]:
        return [p.row() for p in self.partitions]


def plan_reset(spec: ResetSpec, partitions: Iterable[tuple[str, int]], committed: Mapping[tuple[str, int], int | None],
               log_start: Mapping[tuple[str, int], int], log_end: Mapping[tuple[str, int], int],
               by_time: Mapping[tuple[str, int], int | None] | None = None) -> ResetPlan:
    """New offsets per partition. ``by_time`` is ListOffsets for the timestamp (None: no record at or after
    it → the log end, as Kafka's ``--to-datetime`` does). Offsets are clamped to [log start, log end];
    shifting a partition without a commit is refused for that partition (nothing to shift from)."""
    plan = ResetPlan(spec)
    for tp in sorted(set(partitions)):
        start, end = log_start[tp], log_end[tp]
        cur = committed.get(tp)
        note = ""
        if spec.mode == "earliest":
            new = start
        elif spec.mode == "latest":
            new = end
        elif spec.mode == "timestamp":
            found = (by_time or {}).get(tp)
            new = end if found is None else found
            if found is None:
                note = "no record at or after the time: the log end"
        elif spec.mode == "offset":
            new = int(spec.value or 0)
        else:
            if cur is None:
                raise Refused(f"{tp[0]}[{tp[1]}]: the group has no committed offset to shift from")
            new = cur + int(spec.value or 0)
        clamped = min(max(new, start), end)
        if clamped != new:
            note = f"{new} is outside the log [{start}, {end}]: clamped"
        plan.partitions.append(PartitionReset(tp[0], tp[1], cur, clamped, start, end, note))
    if not plan.partitions:
        raise Refused("no partitions to reset: the group has no committed offsets for that topic (name the topic)")
    return plan
