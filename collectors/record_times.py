"""Which record timestamps to read for exact time lag, and what a Fetch answer says about them; pure.

For every lagging group partition the collector wants the timestamp of the record at the group's
committed offset (the oldest record the group has not consumed). ``RecordTimes`` remembers what was
read, keyed by (topic, partition, offset): a value stays valid until the committed offset moves
(the record at an offset never changes), so a stuck group costs one read, not one per cycle. Each
cycle ``plan`` names the offsets still to read, at most ``limit`` of them (the oldest asked-for
first, so a burst of new lagging partitions is worked off over a few cycles), and ``forget`` drops
keys no group asked for this cycle.

``first_timestamp`` decodes the records of one partition of a Fetch answer: the timestamp of the
first record at or after the asked offset (CreateTime or LogAppendTime: kafka-python's record
batch gives the one the topic uses). A compacted-away offset yields the next record, which is the
oldest unconsumed one. Anything undecodable, or a record without a timestamp (-1, pre-0.10
format), is ``None``: the caller falls back to interpolation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from kafka.record import MemoryRecords

Key = tuple[str, int, int]  # (topic, partition, offset)
MAX_TS_MS = 2**53  # bound on a decoded timestamp (hostile input)


@dataclass
class RecordTimes:
    """Timestamps read so far; ``None`` values are offsets the broker cannot serve (deleted by
    retention), not retried until the committed offset moves."""

    known: dict[Key, int | None] = field(default_factory=dict)

    def plan(self, wanted: Iterable[Key], limit: int) -> list[Key]:
        """Offsets to fetch this cycle: wanted, not known yet, at most ``limit``, in a stable order."""
        return sorted(k for k in set(wanted) if k not in self.known)[:max(0, limit)]

    def record(self, key: Key, ts_ms: int | None) -> None:
        self.known[key] = ts_ms

    def forget(self, wanted: Iterable[Key]) -> None:
        """Keep only the keys asked for this cycle (a moved offset is a new key)."""
        keep = set(wanted)
        for k in list(self.known.keys() - keep):
            del self.known[k]

    def timestamps(self) -> dict[Key, int]:
        return {k: v for k, v in self.known.items() if v is not None}


def first_timestamp(records: bytes | None, offset: int) -> int | None:
    """Timestamp (ms) of the first record at or after ``offset`` in a Fetch answer's records."""
    if not records:
        return None
    try:
        batches = MemoryRecords(bytes(records))
        while (batch := batches.next_batch()) is not None:
            for rec in batch:
                if rec.offset >= offset:
                    ts = rec.timestamp
                    return ts if isinstance(ts, int) and 0 <= ts <= MAX_TS_MS else None
    except Exception:  # noqa: BLE001 - see below
        # A corrupt or truncated batch: kafka-python raises CorruptRecordError, struct.error, EOFError,
        # and each compression codec its own type (zlib.error, gzip.BadGzipFile, ZstdError, lz4's
        # RuntimeError…); for one partition's records any of them means "timestamp unknown", and
        # interpolation takes over. Nothing else runs inside this block.
        return None
    return None
