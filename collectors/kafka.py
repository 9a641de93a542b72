"""Kafka collector: consumer lag in messages and seconds, Burrow-style status, rates, DLQ sizes.

Series written every cycle (all carry ``cluster``; ``partition`` is the decimal partition number;
unknown values are not written):

per group × topic × partition (labels ``cluster, group, topic, partition``)
  kafka_group_committed_offset        committed offset (OffsetFetch)
  kafka_group_lag_messages            max(0, log-end offset − committed offset)
  kafka_group_partition_no_offset     1 for a partition the group never committed (no lag written)
  kafka_group_lag_seconds             time lag: now − timestamp of the record at the committed offset
                                      (exact), else kafka-lag-exporter interpolation, else a lower
                                      bound (collectors.timelag); not written when unknown
  kafka_group_lag_seconds_method      how: core.codes.LagMethod (0 exact, 1 interpolated,
                                      2 lower bound, 3 unknown); written whenever the lag is known
  kafka_group_partition_status        Burrow status code (core.codes.Status: 0 OK, 1 WARN,
                                      2 REWIND, 3 STALL, 4 STOP, 5 ERR)
per group × topic (labels ``cluster, group, topic``)
  kafka_group_topic_lag_messages      sum of the partitions' lag (no-offset partitions excluded)
per group (labels ``cluster, group``)
  kafka_group_total_lag_messages      sum over all topics of the group
  kafka_group_max_lag_seconds         worst partition time lag; a lower bound when a lagging
                                      partition's is unknown; not written when nothing above 0 is known
  kafka_group_max_lag_seconds_method  LagMethod of that maximum (3 unknown when not written)
  kafka_group_status                  worst partition status code (same codes)
  kafka_group_drain_eta_seconds       seconds until the total lag is 0 at the net drain rate smoothed
                                      over the status window (collectors.drain); NOT_DRAINING_S
                                      (~10 years) when it grows or stays; 0 without lag
  kafka_group_state                   core.codes.GROUP_STATE_CODES: 0 unknown, 1 Stable,
                                      2 PreparingRebalance, 3 CompletingRebalance, 4 Empty, 5 Dead,
                                      6 Assigning, 7 Reconciling
  kafka_group_members                 member count (not written when the broker cannot describe)
  kafka_group_consume_rate_per_s      Δ committed offsets / Δt over the group's partitions
per topic partition (labels ``cluster, topic, partition``)
  kafka_partition_end_offset          log-end offset (ListOffsets LATEST)
per topic (labels ``cluster, topic``)
  kafka_topic_produce_rate_per_s      Δ log-end offsets / Δt
  kafka_topic_error_rate_ratio        DLQ inflow / (consumed + DLQ inflow), topic = the DLQ's source
per DLQ topic (labels ``broker="kafka", cluster, dlq``)
  dlq_messages                        Σ (end − start) offsets
  dlq_inflow_rate_per_s               Δ end offsets / Δt
  dlq_source_info                     1 per DLQ with a known source (labels ``source``, ``via`` = map
                                      or pattern), as the RabbitMQ collector writes it
per cluster (label ``cluster``)
  kafka_collect_requests              Kafka protocol requests sent by the last cycle
The job runner (``runner.collect``) adds ``collector_up`` and ``collector_duration_seconds`` with
``target="kafka:<cluster>"``, and marks the target down with the reason when a cycle fails.

Requests per cycle, B brokers: ListGroups ×B, OffsetFetch and DescribeGroups once per group
coordinator (≤ B each; all groups of a coordinator in one request, OffsetFetch v8+), Metadata ×2
(×3 with DLQs), ListOffsets once per partition leader (≤ B; twice with DLQs, EARLIEST for them),
FindCoordinator only when new groups appear, Fetch once per leader of a lagging partition whose
record timestamp is not cached yet (exact time lag, ≤ B): ≤ 5B + 2, or 6B + 3 with DLQs, whatever
the number of groups and partitions. Brokers older than Kafka 3.0 (OffsetFetch < v8) add one per group.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from pathlib import Path

import kafka.errors as kerr
from kafka import TopicPartition
from kafka.admin import OffsetSpec

from brokers.kafka import AdminClient, client_config, secret_values
from collectors.kafka_fetch import read_timestamps
from collectors.kafka_lag import committed_or_none
from collectors.record_times import RecordTimes
from collectors.kafka_state import TP, ClusterState, GroupInfo, Snapshot, restore_tables
from config import Settings
from config.kafka import KafkaClusterConfig
from core import gcpause
from core.lag import lag_messages
from core.targets import kafka_target
from runner.collect import CollectJob, Cycle, Degraded, reason_of
from runner.jobs import JobSpec
from store import kafka as kstore
from store.db import connect_writer

log = logging.getLogger("eventdeck.kafka")

# Group protocol types whose members consume with committed offsets (Connect workers' "connect"
# groups and the like hold no offsets).
CONSUMER_PROTOCOLS = {"consumer", ""}
# Errors of the connection itself: the whole cycle fails. Error codes in a broker's answer
# (kerr.BrokerResponseError) are about one group or topic and are isolated instead.
_CONNECTION_ERRORS = (kerr.KafkaConnectionError, kerr.KafkaTimeoutError, kerr.NodeNotReadyError)


class KafkaCollector:
    """Collects one cluster: ``collect(now_ms)`` queries it and derives the cycle's samples and
    time-lag table edits; the job runner stores them, records the status and backs off."""

    def __init__(self, cluster_cfg: KafkaClusterConfig, conn: sqlite3.Connection) -> None:
        self.cfg = cluster_cfg
        self.target = kafka_target(cluster_cfg.name)
        self.client_conf = client_config(cluster_cfg)
        tables, edits = restore_tables(cluster_cfg, kstore.load_timelag(conn, cluster_cfg.name))
        kstore.apply_timelag_edits(conn, cluster_cfg.name, edits)
        self.state = ClusterState(cluster_cfg, tables)
        self.record_times = RecordTimes()  # exact time lag: record timestamps read so far
        self.requests: Counter[str] = Counter()  # protocol requests by type, since start
        self.last_requests = 0  # requests of the last cycle
        self.last_timings_ms: dict[str, float] = {}  # fetch / derive of the last cycle, wall and CPU (process)
        self._admin: AdminClient | None = None
        self._degraded: list[Degraded] = []  # parts of this cycle the broker refused (groups, topics)

    def redact(self, text: str) -> str:
        for value in secret_values(self.cfg, self.client_conf):
            text = text.replace(value, "***")
        return text

    def reset(self) -> None:
        """Drop the admin client (the next cycle reconnects)."""
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:  # closing a broken client is best effort; it is dropped either way
                log.debug("closing the admin client of %s failed", self.target, exc_info=True)
            self._admin = None

    close = reset

    # -- one cycle ---------------------------------------------------------------------------

    def collect(self, now_ms: int) -> Cycle:
        """Query the cluster and derive every series; raises when the cluster cannot be read."""
        t0, c0 = time.monotonic(), time.process_time()
        self._degraded = []
        admin = self._client()
        before = sum(self.requests.values())
        snap = self._fetch(admin)
        snap.requests = self.last_requests = sum(self.requests.values()) - before
        t1, c1 = time.monotonic(), time.process_time()
        with gcpause.paused():  # ~5 samples per group-partition, all acyclic (see core.gcpause)
            samples, edits = self.state.update(snap, now_ms)
        self.last_timings_ms = {"fetch": (t1 - t0) * 1000, "derive": (time.monotonic() - t1) * 1000,
                                "fetch CPU": (c1 - c0) * 1000, "derive CPU": (time.process_time() - c1) * 1000}
        name = self.cfg.name
        return Cycle(samples, store=lambda conn: kstore.apply_timelag_edits(conn, name, edits),
                     degraded=self._degraded)

    def _client(self) -> AdminClient:
        if self._admin is None:
            try:
                admin = AdminClient(**self.client_conf)
            except _CONNECTION_ERRORS as exc:
                from brokers.probe import connection_failure
                raise connection_failure(self.cfg, exc) from None
            manager = admin._manager  # count every protocol request the admin client sends
            send = manager.send

            async def counted(request, *args, **kwargs):
                self.requests[type(request).__name__] += 1
                return await send(request, *args, **kwargs)

            manager.send = counted
            self._admin = admin
        return self._admin

    def _fetch(self, admin: AdminClient) -> Snapshot:
        st = self.state
        groups = sorted({g["group_id"] for g in admin.list_groups()
                         if g.get("protocol_type", "consumer") in CONSUMER_PROTOCOLS
                         and st.group_allowed(g["group_id"])})
        # Committed offsets before end offsets: a consistent broker then never shows committed > end.
        committed = self._committed(admin, groups)
        infos = self._describe(admin, groups)
        partitions: dict[str, list[int]] = {}
        readable: list[TP] = []
        leaders: dict[TP, int] = {}
        for topic in admin.describe_topics():
            name = topic["name"]
            if topic["error_code"] or not st.topic_allowed(name):
                continue
            partitions[name] = sorted(p["partition_index"] for p in topic["partitions"])
            readable += [(name, p["partition_index"]) for p in topic["partitions"]
                         if not p["error_code"] and p["leader_id"] >= 0]
            leaders.update({(name, p["partition_index"]): p["leader_id"] for p in topic["partitions"]})
        end: dict[TP, int | None] = {(t, p): None for t, parts in partitions.items() for p in parts}
        end.update(self._offsets(admin, readable, OffsetSpec.LATEST))
        dlqs = st.dlqs(partitions)
        start = self._offsets(admin, [tp for tp in readable if tp[0] in dlqs], OffsetSpec.EARLIEST)
        committed = {g: {tp: o for tp, o in offs.items() if tp[0] in partitions}
                     for g, offs in committed.items()}
        snap = Snapshot(infos, committed, partitions, end, dict(start))
        if self.cfg.exact_timelag:
            snap.record_ts = self._record_times(admin, snap, leaders)
        return snap

    def _record_times(self, admin: AdminClient, snap: Snapshot, leaders: dict[TP, int]) -> dict:
        """Timestamps of the records at the committed offsets of lagging partitions: cached ones plus
        at most ``exact_timelag_max_partitions`` new ones, read by one Fetch per leader."""
        wanted = {(t, p, off) for offs in snap.committed.values() for (t, p), off in offs.items()
                  if (lag_messages(snap.end.get((t, p)), off) or 0) > 0}
        cache = self.record_times
        cache.forget(wanted)
        todo = cache.plan(wanted, self.cfg.exact_timelag_max_partitions)
        if todo:
            for key, ts in read_timestamps(admin, todo, leaders, self.cfg.exact_timelag_partition_bytes).items():
                cache.record(key, ts)
        return cache.timestamps()

    def _committed(self, admin: AdminClient, groups: list[str]) -> dict[str, dict[TP, int]]:
        """Committed offsets (≥ 0) of every group; one batched OffsetFetch per coordinator. A group
        the broker refuses is left out (logged) instead of failing the whole cycle."""
        if not groups:
            return {}
        try:
            answer = admin.list_group_offsets({g: None for g in groups})
        except kerr.BrokerResponseError as exc:
            log.info("%s: batched offset fetch failed (%s); fetching group by group", self.target, exc)
            answer = {}
            for g in groups:
                try:
                    answer.update(admin.list_group_offsets({g: None}))
                except kerr.BrokerResponseError as gexc:
                    log.warning("%s: offsets of group %s unreadable: %s", self.target, g, gexc)
                    self._degraded.append(Degraded("group", g, reason_of(gexc, self.redact)))
        return {g: {(tp.topic, tp.partition): om.offset for tp, om in offs.items()
                    if committed_or_none(om.offset) is not None}
                for g, offs in answer.items()}

    def _describe(self, admin: AdminClient, groups: list[str]) -> dict[str, GroupInfo]:
        """State, members and assigned topics; a group the broker cannot describe is "unknown"."""
        infos = {g: GroupInfo() for g in groups}
        if not groups:
            return infos
        try:
            described = admin.describe_groups(groups)
        except _CONNECTION_ERRORS:
            raise
        except Exception as exc:  # e.g. an answer kafka-python cannot decode: degrade, keep lag
            log.info("%s: describe_groups failed (%s); group states unknown", self.target, exc)
            return infos
        for g, d in described.items():
            if g not in infos or d.get("error"):
                continue
            topics: set[str] = set()
            for m in d.get("members") or []:
                assignment = m.get("member_assignment")
                if isinstance(assignment, dict):
                    topics.update(a["topic"] for a in assignment.get("assigned_partitions") or [])
            infos[g] = GroupInfo(d.get("group_state"), len(d.get("members") or []), topics)
        return infos

    def _offsets(self, admin: AdminClient, tps: list[TP], spec: OffsetSpec) -> dict[TP, int]:
        """Offsets by ``spec``: one ListOffsets per partition leader. A topic whose partitions
        answer with an error is retried alone; its partitions stay unknown if it fails again."""
        if not tps:
            return {}
        try:
            return _offsets_of(admin.list_partition_offsets({TopicPartition(*tp): spec for tp in tps}))
        except kerr.BrokerResponseError as exc:
            log.info("%s: ListOffsets failed (%s); retrying topic by topic", self.target, exc)
        out: dict[TP, int] = {}
        by_topic: dict[str, list[TP]] = {}
        for tp in tps:
            by_topic.setdefault(tp[0], []).append(tp)
        for topic, parts in by_topic.items():
            try:
                out.update(_offsets_of(admin.list_partition_offsets({TopicPartition(*tp): spec for tp in parts})))
            except kerr.BrokerResponseError as exc:
                log.warning("%s: offsets of topic %s unreadable: %s", self.target, topic, exc)
                self._degraded.append(Degraded("topic", topic, reason_of(exc, self.redact)))
        return out


def _offsets_of(answer: dict) -> dict[TP, int]:
    return {(tp.topic, tp.partition): o.offset for tp, o in answer.items() if o.offset >= 0}


def collect_job(cluster: KafkaClusterConfig, store_path: str | Path) -> CollectJob:
    """The collection job of one cluster, with its own writer connection."""
    conn = connect_writer(store_path)
    try:
        return CollectJob(KafkaCollector(cluster, conn), conn, cluster.interval_s)
    except BaseException:
        conn.close()
        raise


def jobs(settings: Settings, store_path: str | Path) -> list[JobSpec]:
    """One collection job per configured cluster."""
    return [collect_job(cluster, store_path).spec() for cluster in settings.kafka.clusters]
