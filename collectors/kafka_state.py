"""From one cycle's raw Kafka answers to samples: the collector's memory, without any I/O.

``ClusterState.update(snapshot, now_ms)`` keeps what must outlive a cycle — the previous offsets
(for rates), each group-partition's Burrow history and each partition's time-lag table — and
returns the samples of the cycle plus the time-lag table edits for the store. The series are
listed in ``collectors.kafka``'s docstring.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from collectors import burrow
from collectors.kafka_lag import (dlq_source, error_ratio, lag_messages, offset_rate, state_code)
from collectors.patterns import allowed, is_dlq
from collectors.timelag import Point, TimeTable, time_lag_s
from config.kafka import KafkaClusterConfig
from store.types import Sample

TP = tuple[str, int]  # (topic, partition)
# A time-lag table change for the store: (topic, partition, ts_ms rows removed, (ts_ms, offset) added)
TableEdit = tuple[str, int, tuple[int, ...], "tuple[int, int] | None"]


@dataclass
class GroupInfo:
    """What DescribeGroups said; ``state``/``members`` are None when the broker could not tell."""

    state: str | None = None
    members: int | None = None
    topics: set[str] = field(default_factory=set)  # topics assigned to its members


@dataclass
class Snapshot:
    """Raw answers of one cycle, already filtered by the allow/deny lists."""

    groups: dict[str, GroupInfo]
    committed: dict[str, dict[TP, int]]  # group → partitions with a commit (offset ≥ 0)
    partitions: dict[str, list[int]]  # topic → partition numbers
    end: dict[TP, int | None]  # log-end offset; None when it could not be read
    start: dict[TP, int | None]  # log-start offset of DLQ partitions
    requests: int = 0  # Kafka protocol requests this cycle took


@dataclass
class _Prev:
    ts_ms: int
    end: dict[TP, int]
    committed: dict[tuple[str, str, int], int]


class ClusterState:
    """In-memory state of one cluster's collection between cycles."""

    def __init__(self, cfg: KafkaClusterConfig, tables: dict[TP, TimeTable] | None = None) -> None:
        self.cfg = cfg
        self.tables: dict[TP, TimeTable] = tables or {}
        self.histories: dict[tuple[str, str, int], list[burrow.Observation]] = {}
        self.prev: _Prev | None = None

    # -- classification ------------------------------------------------------------------

    def topic_allowed(self, topic: str) -> bool:
        return topic in self.cfg.dlq_map or allowed(topic, self.cfg.topics_allow, self.cfg.topics_deny)

    def group_allowed(self, group: str) -> bool:
        return allowed(group, self.cfg.groups_allow, self.cfg.groups_deny)

    def dlqs(self, topics: Iterable[str]) -> dict[str, str | None]:
        """DLQ topic → its source topic (None when neither the map nor the name tells)."""
        out: dict[str, str | None] = {}
        for t in topics:
            if t in self.cfg.dlq_map:
                out[t] = self.cfg.dlq_map[t].source_topic
            elif is_dlq(t, self.cfg.dlq_patterns, self.cfg.dlq_exclude):
                out[t] = dlq_source(t, self.cfg.dlq_patterns)
        return out

    # -- one cycle -------------------------------------------------------------------------

    def update(self, snap: Snapshot, now_ms: int) -> tuple[list[Sample], list[TableEdit]]:
        """Samples of this cycle and the time-lag edits ``(topic, partition, removed, added)``."""
        c = self.cfg.name
        out: list[Sample] = []

        def put(metric: str, labels: dict[str, str], value: float) -> None:
            out.append(Sample(metric, {"cluster": c, **labels}, now_ms, float(value)))

        edits = self._update_tables(snap, now_ms)
        for (t, p), end in snap.end.items():
            if end is not None:
                put("kafka_partition_end_offset", {"topic": t, "partition": str(p)}, end)

        prev = self.prev
        dt = now_ms - prev.ts_ms if prev else 0
        cur_end = {tp: e for tp, e in snap.end.items() if e is not None}
        cur_by_topic, prev_by_topic = _by_topic(cur_end), _by_topic(prev.end if prev else {})
        produce: dict[str, float | None] = {}
        for t in snap.partitions:
            produce[t] = offset_rate(prev_by_topic.get(t, {}), cur_by_topic.get(t, {}), dt)
            if produce[t] is not None:
                put("kafka_topic_produce_rate_per_s", {"topic": t}, produce[t])

        window_ms = int(self.cfg.status_window_s * 1000)
        cur_committed: dict[tuple[str, str, int], int] = {}
        consume: dict[tuple[str, str], float | None] = {}  # (group, topic) → rate
        live_hist: set[tuple[str, str, int]] = set()
        for g, info in snap.groups.items():
            put("kafka_group_state", {"group": g}, state_code(info.state))
            if info.members is not None:
                put("kafka_group_members", {"group": g}, info.members)
            commits = snap.committed.get(g, {})
            topics = {t for t, _ in commits} | info.topics
            statuses: list[burrow.Status | None] = []
            total_lag, max_secs, have_lag = 0, None, False
            group_prev: dict[tuple[str, str, int], int] = {}
            group_cur: dict[tuple[str, str, int], int] = {}
            for t in sorted(topics):
                if t not in snap.partitions:
                    continue
                topic_lag, topic_known = 0, False
                t_prev: dict[tuple[str, str, int], int] = {}
                t_cur: dict[tuple[str, str, int], int] = {}
                for p in snap.partitions[t]:
                    lab = {"group": g, "topic": t, "partition": str(p)}
                    key = (g, t, p)
                    committed = commits.get((t, p))
                    if committed is None:
                        put("kafka_group_partition_no_offset", lab, 1)
                        continue
                    end = snap.end.get((t, p))
                    cur_committed[key] = t_cur[key] = committed
                    if prev and key in prev.committed:
                        t_prev[key] = prev.committed[key]
                    put("kafka_group_committed_offset", lab, committed)
                    lag = lag_messages(end, committed)
                    if lag is not None:
                        put("kafka_group_lag_messages", lab, lag)
                        topic_lag += lag
                        topic_known = True
                    table = self.tables.get((t, p))
                    secs = time_lag_s(table.points, committed, now_ms) if table and end is not None else None
                    if secs is not None:
                        put("kafka_group_lag_seconds", lab, secs)
                        max_secs = secs if max_secs is None else max(max_secs, secs)
                    hist = self.histories.setdefault(key, [])
                    hist.append(burrow.Observation(now_ms, committed, end))
                    hist[:] = burrow.trim(hist, now_ms, window_ms)
                    live_hist.add(key)
                    st = burrow.partition_status(hist, now_ms, window_ms, info.members)
                    if st is not None:
                        put("kafka_group_partition_status", lab, int(st))
                    statuses.append(st)
                if topic_known:
                    put("kafka_group_topic_lag_messages", {"group": g, "topic": t}, topic_lag)
                    total_lag += topic_lag
                    have_lag = True
                consume[(g, t)] = offset_rate(t_prev, t_cur, dt)
                group_prev.update(t_prev)
                group_cur.update(t_cur)
            if have_lag:
                put("kafka_group_total_lag_messages", {"group": g}, total_lag)
            if max_secs is not None:
                put("kafka_group_max_lag_seconds", {"group": g}, max_secs)
            gs = burrow.group_status(statuses)
            if gs is not None:
                put("kafka_group_status", {"group": g}, int(gs))
            rate = offset_rate(group_prev, group_cur, dt)
            if rate is not None:
                put("kafka_group_consume_rate_per_s", {"group": g}, rate)
        for key in self.histories.keys() - live_hist:
            del self.histories[key]

        self._dlq_samples(snap, put, produce, consume)
        put("kafka_collect_requests", {}, snap.requests)
        self.prev = _Prev(now_ms, cur_end, cur_committed)
        return out, edits

    def _update_tables(self, snap: Snapshot, now_ms: int) -> list[TableEdit]:
        edits: list[TableEdit] = []
        for (t, p), end in snap.end.items():
            if end is None:
                continue
            table = self.tables.get((t, p))
            if table is None:
                table = self.tables[(t, p)] = TimeTable(self.cfg.timelag_points)
            e = table.add(now_ms, end)
            if e.removed or e.added:
                edits.append((t, p, e.removed, tuple(e.added) if e.added else None))
        known = {(t, p) for t, parts in snap.partitions.items() for p in parts}
        for tp in list(self.tables.keys() - known):  # topic deleted or no longer allowed
            edits.append((tp[0], tp[1], tuple(pt.ts_ms for pt in self.tables.pop(tp).points), None))
        return edits

    def _dlq_samples(self, snap: Snapshot, put: Callable[[str, dict[str, str], float], None],
                     produce: dict[str, float | None],
                     consume: dict[tuple[str, str], float | None]) -> None:
        inflow_by_source: dict[str, float | None] = {}
        groups_by_source: dict[str, set[str]] = defaultdict(set)
        for dlq, source in self.dlqs(snap.partitions).items():
            lab = {"broker": "kafka", "dlq": dlq}
            parts = snap.partitions[dlq]
            ends = [snap.end.get((dlq, p)) for p in parts]
            starts = [snap.start.get((dlq, p)) for p in parts]
            if None not in ends and None not in starts:
                put("dlq_messages", lab, sum(max(0, e - s) for e, s in zip(ends, starts)))
            inflow = produce.get(dlq)
            if inflow is not None:
                put("dlq_inflow_rate_per_s", lab, inflow)
            if source is None:
                continue
            have = inflow_by_source.get(source, 0.0)
            inflow_by_source[source] = None if have is None or inflow is None else have + inflow
            mapped = self.cfg.dlq_map.get(dlq)
            if mapped and mapped.group:
                groups_by_source[source].add(mapped.group)
        # consumed = the mapped group's rate on the source, else the busiest group reading it (each
        # group reads every record, so rates are not added); no known consumer: ratio unknown.
        for source, inflow in inflow_by_source.items():
            groups = groups_by_source[source] or {g for g, t in consume if t == source}
            rates = [consume[(g, source)] for g in groups if (g, source) in consume]
            consumed = max(rates) if rates and None not in rates else None
            ratio = error_ratio(inflow, consumed)
            if ratio is not None:
                put("kafka_topic_error_rate_ratio", {"topic": source}, ratio)


def _by_topic(offsets: dict[TP, int]) -> dict[str, dict[TP, int]]:
    out: dict[str, dict[TP, int]] = defaultdict(dict)
    for tp, v in offsets.items():
        out[tp[0]][tp] = v
    return out


def restore_tables(cfg: KafkaClusterConfig, stored: dict[TP, list[tuple[int, int]]]
                   ) -> tuple[dict[TP, TimeTable], list[TableEdit]]:
    """Time-lag tables from the store, plus edits deleting rows the rebuilt tables dropped."""
    tables: dict[TP, TimeTable] = {}
    edits: list[TableEdit] = []
    for (t, p), rows in stored.items():
        table, edit = TimeTable.restore(cfg.timelag_points, [Point(ts, off) for ts, off in rows])
        tables[(t, p)] = table
        if edit.removed:
            edits.append((t, p, edit.removed, None))
    return tables, edits
