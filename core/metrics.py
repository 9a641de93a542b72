"""The metric catalogue: every series Eventdeck writes, once, with what the rest of the code needs to know.

Each entry names a store metric and gives its kind (``gauge`` or ``counter``: a counter's name ends in
``_total``), its unit (the pages' units: ``messages``, ``s``, ``msg/s``, ``ratio``...), its labels, a help
text (the ``/metrics`` HELP line and the README's meaning column), the name ``/metrics`` exposes it under
(kafka-lag-exporter's or rabbitmq_prometheus' name for the series Grafana dashboards already know, else
``eventdeck_<metric>``) with the label renames that go with it, and its display name (the pages' column).

Write sites use the module constants (``metrics.KAFKA_GROUP_LAG_MESSAGES``) or the names themselves;
``tests/unit/test_metric_catalogue.py`` checks that every name the code writes is here and that the
README's metric reference table is this catalogue (``python -m core.metrics`` prints that table).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from core.codes import GROUP_STATE_NAMES, LAG_METHOD_NAMES, NOT_DRAINING_S, STATUS_NAMES

_NEVER = f"{NOT_DRAINING_S:.0f} (ten years) when not draining"


def _codes(names: Mapping[int, str]) -> str:
    return ", ".join(f"{code} {name}" for code, name in sorted(names.items()))

PREFIX = "eventdeck_"
GAUGE, COUNTER = "gauge", "counter"
KLE = {"cluster": "cluster_name"}  # kafka-lag-exporter's label names


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    unit: str
    labels: tuple[str, ...]
    help: str
    display: str
    exposed: str  # the /metrics name, prefix included
    exposed_labels: Mapping[str, str] = field(default_factory=dict)  # store label -> /metrics label
    optional: tuple[str, ...] = ()  # labels only some of the series carry


CATALOGUE: dict[str, Metric] = {}


def _m(name: str, unit: str, labels: str, help: str, display: str, *, exposed: str | None = None,
       renames: Mapping[str, str] | None = None, optional: str = "") -> str:
    """Enter one metric in the catalogue and return its name (the module constant)."""
    if name in CATALOGUE:
        raise ValueError(f"metric {name} defined twice")
    CATALOGUE[name] = Metric(
        name, COUNTER if name.endswith("_total") else GAUGE, unit, tuple(labels.split()), help, display,
        PREFIX + (exposed or name.removeprefix(PREFIX)), dict(renames or {}), tuple(optional.split()))
    return name


_P = "cluster group topic partition"  # a group's partition
_Q = "cluster vhost queue"
_SC = "cluster vhost stream consumer"
_C = "cluster broker consumer"
_D = "broker cluster vhost dlq"

# -- Kafka (collectors.kafka) ---------------------------------------------------------------------
KAFKA_GROUP_COMMITTED_OFFSET = _m(
    "kafka_group_committed_offset", "offset", _P, "Offset the group committed (OffsetFetch)", "committed offset",
    exposed="kafka_consumergroup_group_offset", renames=KLE)
KAFKA_GROUP_LAG_MESSAGES = _m(
    "kafka_group_lag_messages", "messages", _P, "Lag in messages: max(0, log-end offset - committed offset)",
    "lag (messages)", exposed="kafka_consumergroup_group_lag", renames=KLE)
KAFKA_GROUP_PARTITION_NO_OFFSET = _m(
    "kafka_group_partition_no_offset", "1", _P, "1: the group never committed this partition (no lag written)",
    "no offset")
KAFKA_GROUP_LAG_SECONDS = _m(
    "kafka_group_lag_seconds", "s", _P, "Time lag: exact from the record's timestamp, else interpolated over "
    "(end offset, time seen), else a lower bound", "time lag", exposed="kafka_consumergroup_group_lag_seconds",
    renames=KLE)
KAFKA_GROUP_LAG_SECONDS_METHOD = _m(
    "kafka_group_lag_seconds_method", "code", _P, f"How the time lag was obtained: {_codes(LAG_METHOD_NAMES)}", "method")
KAFKA_GROUP_PARTITION_STATUS = _m(
    "kafka_group_partition_status", "code", _P, f"Burrow status: {_codes(STATUS_NAMES)}",
    "status")
KAFKA_GROUP_TOPIC_LAG_MESSAGES = _m(
    "kafka_group_topic_lag_messages", "messages", "cluster group topic",
    "Sum of the partitions' lag (no-offset partitions excluded)", "lag (messages)",
    exposed="kafka_consumergroup_group_topic_sum_lag", renames=KLE)
KAFKA_GROUP_TOTAL_LAG_MESSAGES = _m(
    "kafka_group_total_lag_messages", "messages", "cluster group", "Sum of the lag over all topics of the group",
    "lag (messages)", exposed="kafka_consumergroup_group_sum_lag", renames=KLE)
KAFKA_GROUP_MAX_LAG_SECONDS = _m(
    "kafka_group_max_lag_seconds", "s", "cluster group", "Worst partition time lag (a lower bound when a "
    "lagging partition's is unknown)", "time lag", exposed="kafka_consumergroup_group_max_lag_seconds", renames=KLE)
KAFKA_GROUP_MAX_LAG_SECONDS_METHOD = _m(
    "kafka_group_max_lag_seconds_method", "code", "cluster group", "How the worst time lag was obtained "
    "(same codes)", "method")
KAFKA_GROUP_STATUS = _m(
    "kafka_group_status", "code", "cluster group", "Worst partition status (same codes)", "status")
KAFKA_GROUP_DRAIN_ETA_SECONDS = _m(
    "kafka_group_drain_eta_seconds", "s", "cluster group", "Seconds until the total lag is 0 at the smoothed "
    f"net drain rate; {_NEVER}, 0 without lag", "drain ETA")
KAFKA_GROUP_STATE = _m(
    "kafka_group_state", "code", "cluster group", f"Group state: {_codes(GROUP_STATE_NAMES)}", "state")
KAFKA_GROUP_MEMBERS = _m(
    "kafka_group_members", "members", "cluster group", "Member count (DescribeGroups)", "members")
KAFKA_GROUP_CONSUME_RATE_PER_S = _m(
    "kafka_group_consume_rate_per_s", "msg/s", "cluster group", "Committed offsets per second over the group's "
    "partitions", "consume (msg/s)")
KAFKA_PARTITION_END_OFFSET = _m(
    "kafka_partition_end_offset", "offset", "cluster topic partition", "Log-end offset (ListOffsets LATEST)",
    "end offset", exposed="kafka_partition_latest_offset", renames=KLE)
KAFKA_TOPIC_PRODUCE_RATE_PER_S = _m(
    "kafka_topic_produce_rate_per_s", "msg/s", "cluster topic", "Log-end offsets per second", "produce (msg/s)")
KAFKA_TOPIC_ERROR_RATE_RATIO = _m(
    "kafka_topic_error_rate_ratio", "ratio", "cluster topic", "DLQ inflow / (consumed + DLQ inflow); topic is "
    "the DLQ's source", "error ratio")
KAFKA_COLLECT_REQUESTS = _m(
    "kafka_collect_requests", "requests", "cluster", "Kafka protocol requests the last cycle sent", "requests")

# -- RabbitMQ (collectors.rabbitmq) ---------------------------------------------------------------
RABBITMQ_QUEUE_READY_MESSAGES = _m(
    "rabbitmq_queue_ready_messages", "messages", _Q, "Messages ready for delivery", "ready",
    exposed="rabbitmq_queue_messages_ready")
RABBITMQ_QUEUE_UNACKED_MESSAGES = _m(
    "rabbitmq_queue_unacked_messages", "messages", _Q, "Messages delivered and not yet acknowledged", "unacked",
    exposed="rabbitmq_queue_messages_unacked")
RABBITMQ_QUEUE_MESSAGES = _m(
    "rabbitmq_queue_messages", "messages", _Q, "Ready + unacked (a stream: its size in offsets)", "messages")
RABBITMQ_QUEUE_CONSUMERS = _m(
    "rabbitmq_queue_consumers", "consumers", _Q, "Consumers attached", "consumers")
RABBITMQ_QUEUE_CONSUMER_UTILISATION_RATIO = _m(
    "rabbitmq_queue_consumer_utilisation_ratio", "ratio", _Q, "Consumer utilisation (or capacity), 0..1",
    "utilisation", exposed="rabbitmq_queue_consumer_utilisation")
RABBITMQ_QUEUE_PUBLISH_RATE_PER_S = _m(
    "rabbitmq_queue_publish_rate_per_s", "msg/s", _Q, "Messages published per second", "publish/s")
RABBITMQ_QUEUE_DELIVER_RATE_PER_S = _m(
    "rabbitmq_queue_deliver_rate_per_s", "msg/s", _Q, "Messages delivered (deliver_get) per second", "deliver/s")
RABBITMQ_QUEUE_ACK_RATE_PER_S = _m(
    "rabbitmq_queue_ack_rate_per_s", "msg/s", _Q, "Messages acknowledged per second", "ack/s")
RABBITMQ_QUEUE_REDELIVER_RATE_PER_S = _m(
    "rabbitmq_queue_redeliver_rate_per_s", "msg/s", _Q, "Messages redelivered per second", "redeliver/s")
RABBITMQ_QUEUE_ERROR_RATE_RATIO = _m(
    "rabbitmq_queue_error_rate_ratio", "ratio", _Q, "Dead-lettered / (consumed + dead-lettered) with DLQs of its "
    "own, else rejected or nacked / deliveries", "error ratio")
RABBITMQ_QUEUE_HEAD_AGE_SECONDS = _m(
    "rabbitmq_queue_head_age_seconds", "s", _Q, "Age of the head message (only when publishers set a timestamp)",
    "head age")
RABBITMQ_QUEUE_STATUS = _m(
    "rabbitmq_queue_status", "code", _Q, "Queue status: 0 OK, 1 WARN, 3 STALL, 4 STOP (not for DLQs and streams)",
    "status")
RABBITMQ_QUEUE_DRAIN_ETA_SECONDS = _m(
    "rabbitmq_queue_drain_eta_seconds", "s", _Q, "Ready messages / smoothed net drain rate; "
    f"{_NEVER}", "drain ETA")
RABBITMQ_QUEUE_DLX_MESSAGES = _m(
    "rabbitmq_queue_dlx_messages", "messages", _Q, "Quorum queue messages waiting to be dead-lettered "
    "(messages_dlx)", "dead-lettering")
RABBITMQ_QUEUE_INFO = _m(
    "rabbitmq_queue_info", "1", _Q + " type", "1 per queue; type: classic, quorum, stream", "type")
RABBITMQ_QUEUE_DELIVERY_LIMIT = _m(
    "rabbitmq_queue_delivery_limit", "deliveries", _Q, "Quorum queue delivery limit (argument or policy)",
    "delivery limit")
RABBITMQ_QUEUE_DELIVERY_LIMIT_WITHOUT_DLX = _m(
    "rabbitmq_queue_delivery_limit_without_dlx", "deliveries", _Q, "The delivery limit when the queue has no "
    "dead-letter exchange (messages past it are dropped), else 0", "drops after")
RABBITMQ_STREAM_LAST_OFFSET = _m(
    "rabbitmq_stream_last_offset", "offset", "cluster vhost stream", "Last offset of the stream", "last offset")
RABBITMQ_STREAM_MAX_LAG_MESSAGES = _m(
    "rabbitmq_stream_max_lag_messages", "messages", "cluster vhost stream", "Worst consumer name's lag on the "
    "stream, connected or not", "max lag (messages)", exposed="rabbitmq_detailed_stream_consumer_max_offset_lag",
    renames={"stream": "queue"})
RABBITMQ_STREAM_UP = _m(
    "rabbitmq_stream_up", "1", "cluster vhost stream", "1 the stream was read, 0 the stream protocol failed",
    "read")
RABBITMQ_STREAM_CONSUMER_OFFSET = _m(
    "rabbitmq_stream_consumer_offset", "offset", _SC, "Offset the consumer name stored", "stored offset")
RABBITMQ_STREAM_CONSUMER_LAG_MESSAGES = _m(
    "rabbitmq_stream_consumer_lag_messages", "messages", _SC, "Last offset - stored offset", "lag (messages)")
RABBITMQ_STREAM_CONSUMER_LAG_SECONDS = _m(
    "rabbitmq_stream_consumer_lag_seconds", "s", _SC, "Now - chunk timestamp of the first message not yet "
    "processed (exact)", "time lag")
RABBITMQ_STREAM_CONSUMER_STATUS = _m(
    "rabbitmq_stream_consumer_status", "code", _SC, "Burrow status of the consumer name (same codes)", "status")
RABBITMQ_STREAM_CONSUMER_DRAIN_ETA_SECONDS = _m(
    "rabbitmq_stream_consumer_drain_eta_seconds", "s", _SC, "Lag / smoothed net drain rate; "
    f"{_NEVER}", "drain ETA")
RABBITMQ_STREAM_CONSUMER_LIVE = _m(
    "rabbitmq_stream_consumer_live", "consumers", _SC, "Subscriptions connected with that name", "connected")
RABBITMQ_NODE_UP = _m(
    "rabbitmq_node_up", "1", "cluster node", "1 the node is running, 0 not", "running")
RABBITMQ_NODE_MEM_ALARM = _m(
    "rabbitmq_node_mem_alarm", "1", "cluster node", "1 a memory alarm is raised", "memory alarm")
RABBITMQ_NODE_DISK_ALARM = _m(
    "rabbitmq_node_disk_alarm", "1", "cluster node", "1 a disk alarm is raised", "disk alarm")
RABBITMQ_NODE_FD_USED_RATIO = _m(
    "rabbitmq_node_fd_used_ratio", "ratio", "cluster node", "File descriptors used / available", "fd used")

# -- DLQs (both brokers) --------------------------------------------------------------------------
DLQ_MESSAGES = _m(
    "dlq_messages", "messages", _D, "Messages in the DLQ (Kafka: end - start offsets; RabbitMQ: queue depth)",
    "messages", optional="vhost")
DLQ_INFLOW_RATE_PER_S = _m(
    "dlq_inflow_rate_per_s", "msg/s", _D, "Messages dead-lettered into the DLQ per second", "inflow/s",
    optional="vhost")
DLQ_SOURCE_INFO = _m(
    "dlq_source_info", "1", _D + " source via", "1 per source that dead-letters into the DLQ; via: arguments, "
    "policy:NAME, pattern or map", "source", optional="vhost")

# -- consumers (collectors.telemetry, from instrument summaries) ----------------------------------
CONSUMER_PROCESSING_SECONDS = _m(
    "consumer_processing_seconds", "s", _C + " quantile", "Processing time quantile (0.5, 0.95, 0.99) of the "
    "instances' merged summaries", "processing time")
CONSUMER_PROCESSED_RATE_PER_S = _m(
    "consumer_processed_rate_per_s", "calls/s", _C, "Handler calls per second, summed over instances",
    "processed/s")
CONSUMER_ERROR_RATE_RATIO = _m(
    "consumer_error_rate_ratio", "ratio", _C, "Calls that raised / calls", "error ratio")
CONSUMER_ERRORS_TOTAL = _m(
    "consumer_errors_total", "calls", _C + " exception", "Calls that raised, per exception class (module.Class)",
    "errors")
CONSUMER_INSTANCES_COUNT = _m(
    "consumer_instances_count", "instances", _C, "Instances that sent a summary in the tick", "instances")
CONSUMER_TELEMETRY_DROPPED_TOTAL = _m(
    "consumer_telemetry_dropped_total", "summaries", _C, "Summaries the publisher dropped while the telemetry "
    "broker was down", "dropped summaries")

# -- Eventdeck itself (runner.collect, store.status, store.rejects) -------------------------------
COLLECTOR_UP = _m(
    "collector_up", "1", "target", "1 the target's last collection cycle succeeded, 0 it failed (the reason is on "
    "the System page); target: kafka:CLUSTER, rabbitmq:CLUSTER, telemetry:BROKER:CLUSTER", "up")
COLLECTOR_DURATION_SECONDS = _m(
    "collector_duration_seconds", "s", "target", "Wall time of the last collection cycle", "duration")
COLLECTOR_DEGRADED = _m(
    "collector_degraded", "parts", "target reason", "Parts of an up target whose collection failed: Kafka groups or "
    "topics whose offsets the broker refused, a failed ack after the store write; 0 once whole again. reason: "
    "group, topic, ack", "degraded parts")
COLLECTOR_SPOOL_DROPPED_SAMPLES_TOTAL = _m(
    "collector_spool_dropped_samples_total", "samples", "target", "Samples pushed out of the spool while the "
    "store was unreachable", "dropped samples")
EVENTDECK_REJECTED_INPUTS_TOTAL = _m(
    "eventdeck_rejected_inputs_total", "inputs", "source reason", "Inputs skipped as hostile or malformed (broker "
    "messages, telemetry summaries, rules, silences, requests, label values), by source and reason",
    "rejected inputs")


def get(name: str) -> Metric | None:
    return CATALOGUE.get(name)


def unit(name: str) -> str:
    return CATALOGUE[name].unit


def display(name: str) -> str:
    return CATALOGUE[name].display


def columns(*names: str) -> dict[str, str]:
    """``{metric: display name}`` of ``names``, in order: the pages' table columns."""
    return {n: CATALOGUE[n].display for n in names}


def exposed_labels(metric: Metric) -> str:
    """The labels, a renamed one as ``store → exposed`` (on ``/metrics``), one only some series carry in brackets."""
    out = []
    for lab in metric.labels:
        text = f"{lab} → {metric.exposed_labels[lab]}" if lab in metric.exposed_labels else lab
        out.append(f"[{text}]" if lab in metric.optional else text)
    return ", ".join(out)


HEADER = ("| store metric | exposed on `/metrics` | kind | unit | labels | meaning |\n"
          "|---|---|---|---|---|---|")


def reference_row(m: Metric) -> str:
    """The metric's row in the README's metric reference table."""
    return f"| `{m.name}` | `{m.exposed}` | {m.kind} | {m.unit} | {exposed_labels(m)} | {m.help} |"


def reference_table() -> str:
    return "\n".join([HEADER, *(reference_row(m) for m in CATALOGUE.values())])


if __name__ == "__main__":  # python -m core.metrics: the README's table, to paste when the catalogue changes
    print(reference_table())
