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

from brokers.naming import allowed, convention_source, is_dlq
from collectors import burrow, drain
from collectors.kafka_lag import error_ratio, offset_rate
from collectors.timelag import Point, TimeLag, TimeTable, estimate, exact, group_max
from config.kafka import KafkaClusterConfig
from core.codes import LagMethod, state_code
from store.kafka import TimelagEdit
from store.types import Sample

TP = tuple[str, int]  # (topic, partition)
PartKey = tuple[str, str, int]  # (group, topic, partition)


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
    # (topic, partition, committed offset) → timestamp (ms) of the first record at or after that
    # offset, read by Fetch for lagging partitions (collectors.record_times); absent: not read
    record_ts: dict[tuple[str, int, int], int] = field(default_factory=dict)


@dataclass
class _Prev:
    ts_ms: int
    end: dict[TP, int]
    committed: dict[PartKey, int]


@dataclass
class _Cycle:
    """What one ``update`` accumulates: the samples, this cycle's commits and consume rates."""

    cluster: str
    now_ms: int
    prev: _Prev | None
    window_ms: int
    out: list[Sample] = field(default_factory=list)
    committed: dict[PartKey, int] = field(default_factory=dict)
    consume: dict[tuple[str, str], float | None] = field(default_factory=dict)  # (group, topic) -> rate

    @property
    def dt(self) -> int:
        return self.now_ms - self.prev.ts_ms if self.prev else 0

    def put(self, metric: str, labels: dict[str, str], value: float) -> None:
        self.out.append(Sample(metric, {"cluster": self.cluster, **labels}, self.now_ms, float(value)))


@dataclass
class _GroupAcc:
    """Per-group totals gathered over its partitions."""

    total_lag: int | None = None
    time_lags: list[TimeLag | None] = field(default_factory=list)  # of partitions with a known lag
    statuses: list[burrow.Status | None] = field(default_factory=list)
    prev: dict[PartKey, int] = field(default_factory=dict)
    cur: dict[PartKey, int] = field(default_factory=dict)


class ClusterState:
    """In-memory state of one cluster's collection between cycles."""

    def __init__(self, cfg: KafkaClusterConfig, tables: dict[TP, TimeTable] | None = None) -> None:
        self.cfg = cfg
        self.tables: dict[TP, TimeTable] = tables or {}
        self.histories: dict[PartKey, list[burrow.Observation]] = {}
        self.backlogs: dict[str, list[drain.Point]] = {}  # group → total lag over the status window
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
                out[t] = convention_source(t, self.cfg.dlq_patterns)
        return out

    # -- one cycle -------------------------------------------------------------------------

    def update(self, snap: Snapshot, now_ms: int) -> tuple[list[Sample], list[TimelagEdit]]:
        """Samples of this cycle and the time-lag table edits for the store, in four steps:
        tables and end offsets, topic produce rates, one pass per group, DLQs."""
        cycle = _Cycle(self.cfg.name, now_ms, self.prev, int(self.cfg.status_window_s * 1000))
        edits = self._update_tables(snap, now_ms)
        cur_end = self._end_offsets(snap, cycle)
        produce = self._produce_rates(snap, cycle, cur_end)
        live: set[PartKey] = set()
        for g, info in snap.groups.items():
            self._group(snap, cycle, g, info, live)
        for key in self.histories.keys() - live:  # partitions no group reads any more
            del self.histories[key]
        for g in self.backlogs.keys() - snap.groups.keys():
            del self.backlogs[g]
        self._dlq_samples(snap, cycle.put, produce, cycle.consume)
        cycle.put("kafka_collect_requests", {}, snap.requests)
        self.prev = _Prev(now_ms, cur_end, cycle.committed)
        return cycle.out, edits

    def _end_offsets(self, snap: Snapshot, cycle: "_Cycle") -> dict[TP, int]:
        """``kafka_partition_end_offset`` of every readable partition; returns those offsets."""
        cur_end = {tp: e for tp, e in snap.end.items() if e is not None}
        for (t, p), end in cur_end.items():
            cycle.put("kafka_partition_end_offset", {"topic": t, "partition": str(p)}, end)
        return cur_end

    def _produce_rates(self, snap: Snapshot, cycle: "_Cycle", cur_end: dict[TP, int]) -> dict[str, float | None]:
        """``kafka_topic_produce_rate_per_s`` per topic from the end-offset deltas since the last cycle."""
        cur_by_topic = _by_topic(cur_end)
        prev_by_topic = _by_topic(cycle.prev.end if cycle.prev else {})
        produce: dict[str, float | None] = {}
        for t in snap.partitions:
            produce[t] = offset_rate(prev_by_topic.get(t, {}), cur_by_topic.get(t, {}), cycle.dt)
            if produce[t] is not None:
                cycle.put("kafka_topic_produce_rate_per_s", {"topic": t}, produce[t])
        return produce

    def _group(self, snap: Snapshot, cycle: "_Cycle", g: str, info: GroupInfo, live: set[PartKey]) -> None:
        """Every series of one group: state, members, per-topic and total lag, worst time lag,
        Burrow status and consume rate."""
        cycle.put("kafka_group_state", {"group": g}, state_code(info.state))
        if info.members is not None:
            cycle.put("kafka_group_members", {"group": g}, info.members)
        commits = snap.committed.get(g, {})
        acc = _GroupAcc()
        for t in sorted({t for t, _ in commits} | info.topics):
            if t not in snap.partitions:
                continue
            t_prev: dict[PartKey, int] = {}
            t_cur: dict[PartKey, int] = {}
            topic_lag = self._partitions(snap, cycle, g, t, commits, info, acc, t_prev, t_cur, live)
            if topic_lag is not None:
                cycle.put("kafka_group_topic_lag_messages", {"group": g, "topic": t}, topic_lag)
                acc.total_lag = (acc.total_lag or 0) + topic_lag
            cycle.consume[(g, t)] = offset_rate(t_prev, t_cur, cycle.dt)
            acc.prev.update(t_prev)
            acc.cur.update(t_cur)
        if acc.total_lag is not None:
            cycle.put("kafka_group_total_lag_messages", {"group": g}, acc.total_lag)
            backlog = self.backlogs.setdefault(g, [])
            backlog.append(drain.Point(cycle.now_ms, acc.total_lag))
            backlog[:] = drain.trim(backlog, cycle.now_ms, cycle.window_ms)
            eta = drain.drain_eta_s(backlog)
            if eta is not None:
                cycle.put("kafka_group_drain_eta_seconds", {"group": g}, eta)
        if acc.time_lags:
            worst = group_max(acc.time_lags)
            if worst is not None:
                cycle.put("kafka_group_max_lag_seconds", {"group": g}, worst.seconds)
            cycle.put("kafka_group_max_lag_seconds_method", {"group": g},
                      int(worst.method if worst is not None else LagMethod.UNKNOWN))
        gs = burrow.group_status(acc.statuses)
        if gs is not None:
            cycle.put("kafka_group_status", {"group": g}, int(gs))
        rate = offset_rate(acc.prev, acc.cur, cycle.dt)
        if rate is not None:
            cycle.put("kafka_group_consume_rate_per_s", {"group": g}, rate)

    def _partitions(self, snap: Snapshot, cycle: "_Cycle", g: str, t: str, commits: dict[TP, int],
                    info: GroupInfo, acc: "_GroupAcc", t_prev: dict[PartKey, int], t_cur: dict[PartKey, int],
                    live: set[PartKey]) -> int | None:
        """Every partition of one group's topic: committed offset, lag, time lag, Burrow status;
        returns the topic's lag (None when no partition's is known).

        The hot loop of a cycle (one pass per group-partition, 50,000 at the scale of issue 26): the
        five samples of a partition share one label dict, and the common cases (no lag: status OK,
        time lag 0 exact) skip the general functions, which give the same answers for them."""
        out, now, cluster, window = cycle.out, cycle.now_ms, cycle.cluster, cycle.window_ms
        start = now - window
        end_of, record_ts, tables, histories = snap.end, snap.record_ts, self.tables, self.histories
        prev = cycle.prev.committed if cycle.prev else {}
        committed_now = cycle.committed
        time_lags, statuses, members = acc.time_lags, acc.statuses, info.members
        topic_lag: int | None = None
        for p in snap.partitions[t]:
            lab = {"cluster": cluster, "group": g, "topic": t, "partition": _pstr(p)}
            committed = commits.get((t, p))
            if committed is None:
                out.append(Sample("kafka_group_partition_no_offset", lab, now, 1.0))
                continue
            key = (g, t, p)
            end = end_of.get((t, p))
            committed_now[key] = t_cur[key] = committed
            before = prev.get(key)
            if before is not None:
                t_prev[key] = before
            out.append(Sample("kafka_group_committed_offset", lab, now, float(committed)))
            if end is None:
                lag = tl = None
            else:
                lag = end - committed if end > committed else 0
                out.append(Sample("kafka_group_lag_messages", lab, now, float(lag)))
                if lag == 0:
                    tl = _CAUGHT_UP
                else:
                    ts = record_ts.get((t, p, committed))
                    if ts is not None and ts < now:  # a record "from the future" (clock skew) dates nothing
                        tl = exact(ts, now)
                    else:
                        table = tables.get((t, p))
                        tl = estimate(table.points, committed, now) if table else None
                if tl is not None:
                    out.append(Sample("kafka_group_lag_seconds", lab, now, tl.seconds))
                out.append(Sample("kafka_group_lag_seconds_method", lab, now,
                                  float(tl.method if tl else LagMethod.UNKNOWN)))
                time_lags.append(tl)
                topic_lag = (topic_lag or 0) + lag
            hist = histories.get(key)
            if hist is None:
                hist = histories[key] = []
            hist.append(burrow.Observation(now, committed, end))
            if len(hist) > 1 and hist[1].ts_ms <= start:  # burrow.trim, in place
                i = 1
                while i + 1 < len(hist) and hist[i + 1].ts_ms <= start:
                    i += 1
                del hist[:i]
            live.add(key)
            st = burrow.Status.OK if lag == 0 else burrow.partition_status(hist, now, window, members)
            if st is not None:
                out.append(Sample("kafka_group_partition_status", lab, now, float(st)))
            statuses.append(st)
        return topic_lag

    def _update_tables(self, snap: Snapshot, now_ms: int) -> list[TimelagEdit]:
        edits: list[TimelagEdit] = []
        for (t, p), end in snap.end.items():
            if end is None:
                continue
            table = self.tables.get((t, p))
            if table is None:
                table = self.tables[(t, p)] = TimeTable(self.cfg.timelag_points)
            e = table.add(now_ms, end)
            if e.removed or e.added:
                edits.append((t, p, e.removed, e.added))
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
            put("dlq_source_info", {**lab, "source": source, "via": "map" if dlq in self.cfg.dlq_map else "pattern"}, 1)
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


_CAUGHT_UP = TimeLag(0.0, LagMethod.EXACT)
_PSTR: list[str] = [str(p) for p in range(4096)]


def _pstr(p: int) -> str:
    """``str(p)`` of a partition number (cached for the usual range)."""
    return _PSTR[p] if 0 <= p < 4096 else str(p)


def _by_topic(offsets: dict[TP, int]) -> dict[str, dict[TP, int]]:
    out: dict[str, dict[TP, int]] = defaultdict(dict)
    for tp, v in offsets.items():
        out[tp[0]][tp] = v
    return out


def restore_tables(cfg: KafkaClusterConfig, stored: dict[TP, list[tuple[int, int]]]
                   ) -> tuple[dict[TP, TimeTable], list[TimelagEdit]]:
    """Time-lag tables from the store, plus edits deleting rows the rebuilt tables dropped."""
    tables: dict[TP, TimeTable] = {}
    edits: list[TimelagEdit] = []
    for (t, p), rows in stored.items():
        table, edit = TimeTable.restore(cfg.timelag_points, [Point(ts, off) for ts, off in rows])
        tables[(t, p)] = table
        if edit.removed:
            edits.append((t, p, edit.removed, None))
    return tables, edits
