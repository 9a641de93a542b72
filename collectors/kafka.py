"""Kafka collector: consumer lag in messages and seconds, Burrow-style status, rates, DLQ sizes.

Series written every cycle (all carry ``cluster``; ``partition`` is the decimal partition number;
unknown values are not written):

per group × topic × partition (labels ``cluster, group, topic, partition``)
  kafka_group_committed_offset        committed offset (OffsetFetch)
  kafka_group_lag_messages            max(0, log-end offset − committed offset)
  kafka_group_partition_no_offset     1 for a partition the group never committed (no lag written)
  kafka_group_lag_seconds             time lag, kafka-lag-exporter interpolation (collectors.timelag)
  kafka_group_partition_status        Burrow status code (collectors.burrow: 0 OK, 1 WARN,
                                      2 REWIND, 3 STALL, 4 STOP, 5 ERR)
per group × topic (labels ``cluster, group, topic``)
  kafka_group_topic_lag_messages      sum of the partitions' lag (no-offset partitions excluded)
per group (labels ``cluster, group``)
  kafka_group_total_lag_messages      sum over all topics of the group
  kafka_group_max_lag_seconds         worst partition time lag
  kafka_group_status                  worst partition status code (same codes)
  kafka_group_state                   collectors.kafka_lag.GROUP_STATE_CODES: 0 unknown, 1 Stable,
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
per cluster (label ``cluster``)
  kafka_collect_requests              Kafka protocol requests sent by the last cycle
  kafka_collect_duration_seconds      wall time of the last attempt (also when it failed)
plus ``store.status.set_status("kafka:<cluster>", ...)`` with the cycle duration, which writes
``collector_up{target="kafka:<cluster>"}``.

Requests per cycle, B brokers: ListGroups ×B, OffsetFetch and DescribeGroups once per group
coordinator (≤ B each; all groups of a coordinator in one request, OffsetFetch v8+), Metadata ×2
(×3 with DLQs), ListOffsets once per partition leader (≤ B; twice with DLQs, EARLIEST for them),
FindCoordinator only when new groups appear: ≤ 4B + 2, or 5B + 3 with DLQs, whatever the number
of groups and partitions. Brokers older than Kafka 3.0 (OffsetFetch < v8) add one per group.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import kafka.errors as kerr
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec

from collectors.kafka_lag import committed_or_none
from collectors.kafka_state import TP, ClusterState, GroupInfo, Snapshot, restore_tables
from collectors.scheduler import Backoff, JobSpec, now_ms as wall_now_ms
from config import ConfigError, Settings, secret
from config.kafka import KafkaClusterConfig
from store import kafka as kstore
from store.db import connect_writer
from store.status import set_status
from store.types import Sample
from store.writes import SampleWriter

log = logging.getLogger("eventdeck.kafka")

# Group protocol types whose members consume with committed offsets (Connect workers' "connect"
# groups and the like hold no offsets).
CONSUMER_PROTOCOLS = {"consumer", ""}
# Errors of the connection itself: the whole cycle fails. Error codes in a broker's answer
# (kerr.BrokerResponseError) are about one group or topic and are isolated instead.
_CONNECTION_ERRORS = (kerr.KafkaConnectionError, kerr.KafkaTimeoutError, kerr.NodeNotReadyError)


def client_config(cfg: KafkaClusterConfig) -> dict[str, Any]:
    """kafka-python settings of a cluster; ``"env:NAME"`` values are secrets read with ``secret``."""
    conf: dict[str, Any] = {
        "bootstrap_servers": list(cfg.bootstrap_servers), "client_id": cfg.client_id,
        "request_timeout_ms": cfg.request_timeout_ms, "bootstrap_timeout_ms": cfg.request_timeout_ms,
    }
    for key, value in cfg.client_options.items():
        where = f"kafka.clusters[{cfg.name}].client_options.{key}"
        if key not in KafkaAdminClient.DEFAULT_CONFIG or key in conf:
            raise ConfigError(f"{where}: not a kafka-python admin client setting that may be set here")
        if isinstance(value, str) and value.startswith("env:"):
            value = secret(value[4:])
            if value is None:
                raise ConfigError(f"{where}: secret {cfg.client_options[key][4:]} is not set "
                                  "(environment or secrets file)")
        conf[key] = value
    return conf


class _Admin(KafkaAdminClient):
    """The admin client, minus a thread leak: a failed bootstrap stops the I/O thread it started."""

    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            if getattr(self, "_client", None) is not None:
                self._client.close()
            if getattr(self, "_net", None) is not None:
                self._net.stop()
            raise


class KafkaCollector:
    """Collects one cluster. ``collect_once`` does one cycle and stores it; ``run`` is the job body
    (clock, status, back-off)."""

    def __init__(self, cluster_cfg: KafkaClusterConfig, writer_conn: sqlite3.Connection,
                 now_ms: Callable[[], int] = wall_now_ms) -> None:
        self.cfg = cluster_cfg
        self.conn = writer_conn
        self.now_ms = now_ms
        self.target = f"kafka:{cluster_cfg.name}"
        self.client_conf = client_config(cluster_cfg)
        self.writer = SampleWriter(writer_conn)
        tables, edits = restore_tables(cluster_cfg, kstore.load_timelag(writer_conn, cluster_cfg.name))
        kstore.apply_timelag_edits(writer_conn, cluster_cfg.name, edits)
        self.state = ClusterState(cluster_cfg, tables)
        self.requests: Counter[str] = Counter()  # protocol requests by type, since start
        self.last_requests = 0  # requests of the last cycle
        self.last_timings_ms: dict[str, float] = {}  # fetch / derive / store of the last cycle
        self._admin: _Admin | None = None
        self.backoff = Backoff()

    # -- job ---------------------------------------------------------------------------------

    def run(self, now_ms: int | None = None) -> bool | None:
        """One scheduled tick: True collected, False failed (recorded as down), None backed off."""
        if not self.backoff.should_attempt():
            return None
        now = self.now_ms() if now_ms is None else now_ms
        t0 = time.monotonic()
        try:
            self.collect_once(now)
        except Exception as exc:  # a down or refusing broker must never stop the service
            self.backoff.failed()
            self.close()
            reason = self._reason(exc)
            log.warning("%s down (%s); next attempt in %d interval(s)", self.target, reason,
                        self.backoff.skip_left + 1)
            self._record(False, reason, now, _ms_since(t0))
            return False
        self.backoff.succeeded()
        self._record(True, None, now, _ms_since(t0))
        return True

    def _record(self, up: bool, reason: str | None, now: int, duration_ms: int) -> None:
        set_status(self.conn, self.target, up, reason, now, duration_ms)
        self.writer.write([Sample("kafka_collect_duration_seconds", {"cluster": self.cfg.name}, now,
                                  duration_ms / 1000.0)])

    def _reason(self, exc: Exception) -> str:
        text = f"{type(exc).__name__}: {exc}"[:300]
        for key, raw in self.cfg.client_options.items():
            value = self.client_conf.get(key)
            if isinstance(raw, str) and raw.startswith("env:") and isinstance(value, str) and value:
                text = text.replace(value, "***")
        return text

    def close(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:
                log.debug("closing the admin client of %s failed", self.target, exc_info=True)
            self._admin = None

    def shutdown(self) -> None:
        """Release the admin client and the writer connection (the service is stopping)."""
        self.close()
        self.conn.close()

    # -- one cycle ---------------------------------------------------------------------------

    def collect_once(self, now_ms: int) -> list[Sample]:
        """Query the cluster, derive every series, store samples and time-lag edits; raises when
        the cluster cannot be read."""
        t0 = time.monotonic()
        admin = self._client()
        before = sum(self.requests.values())
        snap = self._fetch(admin)
        snap.requests = self.last_requests = sum(self.requests.values()) - before
        t1 = time.monotonic()
        samples, edits = self.state.update(snap, now_ms)
        t2 = time.monotonic()
        self.writer.write(samples)
        kstore.apply_timelag_edits(self.conn, self.cfg.name, edits)
        self.last_timings_ms = {"fetch": (t1 - t0) * 1000, "derive": (t2 - t1) * 1000,
                                "store": (time.monotonic() - t2) * 1000}
        return samples

    def _client(self) -> _Admin:
        if self._admin is None:
            admin = _Admin(**self.client_conf)
            manager = admin._manager  # count every protocol request the admin client sends
            send = manager.send

            async def counted(request, *args, **kwargs):
                self.requests[type(request).__name__] += 1
                return await send(request, *args, **kwargs)

            manager.send = counted
            self._admin = admin
        return self._admin

    def _fetch(self, admin: _Admin) -> Snapshot:
        st = self.state
        groups = sorted({g["group_id"] for g in admin.list_groups()
                         if g.get("protocol_type", "consumer") in CONSUMER_PROTOCOLS
                         and st.group_allowed(g["group_id"])})
        # Committed offsets before end offsets: a consistent broker then never shows committed > end.
        committed = self._committed(admin, groups)
        infos = self._describe(admin, groups)
        partitions: dict[str, list[int]] = {}
        readable: list[TP] = []
        for topic in admin.describe_topics():
            name = topic["name"]
            if topic["error_code"] or not st.topic_allowed(name):
                continue
            partitions[name] = sorted(p["partition_index"] for p in topic["partitions"])
            readable += [(name, p["partition_index"]) for p in topic["partitions"]
                         if not p["error_code"] and p["leader_id"] >= 0]
        end: dict[TP, int | None] = {(t, p): None for t, parts in partitions.items() for p in parts}
        end.update(self._offsets(admin, readable, OffsetSpec.LATEST))
        dlqs = st.dlqs(partitions)
        start = self._offsets(admin, [tp for tp in readable if tp[0] in dlqs], OffsetSpec.EARLIEST)
        committed = {g: {tp: o for tp, o in offs.items() if tp[0] in partitions}
                     for g, offs in committed.items()}
        return Snapshot(infos, committed, partitions, end, dict(start))

    def _committed(self, admin: _Admin, groups: list[str]) -> dict[str, dict[TP, int]]:
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
        return {g: {(tp.topic, tp.partition): om.offset for tp, om in offs.items()
                    if committed_or_none(om.offset) is not None}
                for g, offs in answer.items()}

    def _describe(self, admin: _Admin, groups: list[str]) -> dict[str, GroupInfo]:
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

    def _offsets(self, admin: _Admin, tps: list[TP], spec: OffsetSpec) -> dict[TP, int]:
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
        return out


def _offsets_of(answer: dict) -> dict[TP, int]:
    return {(tp.topic, tp.partition): o.offset for tp, o in answer.items() if o.offset >= 0}


def _ms_since(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)


def jobs(settings: Settings, store_path: str | Path) -> list[JobSpec]:
    """One collection job per configured cluster, each with its own writer connection."""
    specs = []
    for cluster in settings.kafka.clusters:
        collector = KafkaCollector(cluster, connect_writer(store_path))
        specs.append(JobSpec(f"kafka:{cluster.name}", collector.run, cluster.interval_s, close=collector.shutdown))
    return specs
