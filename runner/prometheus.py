"""Prometheus ``/metrics`` of the collector service: the store's latest table as an exposition.

A custom collector reads the latest sample of every series at each scrape (nothing is cached, so
what Prometheus sees is what the dashboard sees). Names carry the ``eventdeck_`` prefix; the
series Grafana dashboards already know take the names of kafka-lag-exporter and rabbitmq_prometheus
(:data:`RENAMES`; kafka-lag-exporter's ``cluster_name`` label for ``cluster``), every other series
keeps its store name (``eventdeck_<metric>``). Store metrics ending in ``_total`` are counters, all
others gauges. prometheus_client serves both the text format and OpenMetrics (by ``Accept``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import CollectorRegistry

from core.names import safe_label_value

PREFIX = "eventdeck_"
KLE = {"cluster": "cluster_name"}  # kafka-lag-exporter's label names

# store metric -> (exposed name without prefix, label renames)
RENAMES: dict[str, tuple[str, dict[str, str]]] = {
    "kafka_group_lag_messages": ("kafka_consumergroup_group_lag", KLE),
    "kafka_group_lag_seconds": ("kafka_consumergroup_group_lag_seconds", KLE),
    "kafka_group_max_lag_seconds": ("kafka_consumergroup_group_max_lag_seconds", KLE),
    "kafka_group_total_lag_messages": ("kafka_consumergroup_group_sum_lag", KLE),
    "kafka_group_topic_lag_messages": ("kafka_consumergroup_group_topic_sum_lag", KLE),
    "kafka_group_committed_offset": ("kafka_consumergroup_group_offset", KLE),
    "kafka_partition_end_offset": ("kafka_partition_latest_offset", KLE),
    "rabbitmq_queue_ready_messages": ("rabbitmq_queue_messages_ready", {}),
    "rabbitmq_queue_unacked_messages": ("rabbitmq_queue_messages_unacked", {}),
    "rabbitmq_queue_consumer_utilisation_ratio": ("rabbitmq_queue_consumer_utilisation", {}),
    # rabbitmq_prometheus' per-stream maximum offset lag; ours includes consumers that are not connected
    "rabbitmq_stream_max_lag_messages": ("rabbitmq_detailed_stream_consumer_max_offset_lag", {"stream": "queue"}),
}
# kafka-lag-exporter's max lag in messages per group: the maximum over the group's partitions.
MAX_LAG = ("kafka_group_lag_messages", "kafka_consumergroup_group_max_lag", ("cluster", "group"))

# Help texts of the series whose meaning is not obvious from the name (others: "Eventdeck <metric>").
HELP: dict[str, str] = {
    "eventdeck_rejected_inputs_total": "Inputs skipped as hostile or malformed (broker messages, telemetry "
                                       "summaries, rules, silences, requests, label values), by source and reason",
}

log = logging.getLogger("eventdeck.prometheus")


def exposed(metric: str, labels: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(exposed name with prefix, exposed labels) of a store series. A store metric that already carries the
    prefix (``eventdeck_rejected_inputs_total``) keeps its name; label values are made safe (a stored value
    is already, this guards older rows)."""
    name, renames = RENAMES.get(metric, (metric, {}))
    out = {}
    for key, value in labels.items():
        new = renames.get(key, key)
        # never let a rename hide an existing label
        out[new if new not in labels else key] = safe_label_value(value if isinstance(value, str) else str(value))
    return (name if name.startswith(PREFIX) else PREFIX + name), out


def families(rows: Iterable[tuple[str, str, int, float]]) -> list[Metric]:
    """Metric families of ``(metric, labels JSON, ts_ms, value)`` rows (pure: no I/O)."""
    fams: dict[str, Metric] = {}
    max_lag: dict[tuple[str, ...], float] = {}
    for metric, labels_json, _ts, value in rows:
        try:  # one row that cannot be exposed is left out (and logged), never the whole scrape
            labels = json.loads(labels_json)
            name, labs = exposed(metric, labels)
        except (ValueError, TypeError, AttributeError) as exc:
            log.warning("/metrics: leaving out a series of %s: %s", metric, exc)
            continue
        counter = name.endswith("_total")
        base = name[:-len("_total")] if counter else name
        fam = fams.get(base)
        if fam is None:
            fam = fams[base] = Metric(base, HELP.get(name, f"Eventdeck {metric}"), "counter" if counter else "gauge")
        fam.add_sample(name, labs, value)
        if metric == MAX_LAG[0]:
            key = tuple(labels.get(k, "") for k in MAX_LAG[2])
            if value > max_lag.get(key, float("-inf")):
                max_lag[key] = value
    if max_lag:
        name = PREFIX + MAX_LAG[1]
        fam = fams[name] = Metric(name, "Eventdeck maximum partition lag (messages) per group", "gauge")
        for key, value in sorted(max_lag.items()):
            _, labs = exposed(MAX_LAG[0], dict(zip(MAX_LAG[2], key)))
            fam.add_sample(name, labs, value)
    return [fams[k] for k in sorted(fams)]


class StoreCollector:
    """A prometheus_client collector reading the latest table through ``open_reader()`` at each scrape."""

    def __init__(self, open_reader: Callable[[], Any], clock: Callable[[], int], max_age_ms: int):
        self.open_reader, self.clock, self.max_age_ms = open_reader, clock, max_age_ms

    def collect(self) -> Iterator[Metric]:
        from store import export

        since = self.clock() - self.max_age_ms if self.max_age_ms > 0 else -(2 ** 62)
        conn = self.open_reader()
        try:
            rows = export.latest_rows(conn, since)
        finally:
            conn.close()
        yield from families(rows)


@dataclass
class Exporter:
    """A running ``/metrics`` HTTP server."""

    server: Any
    thread: Any
    on_close: Callable[[], None] | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        if self.on_close is not None:
            self.on_close()


def registry(open_reader: Callable[[], Any], clock: Callable[[], int], max_age_ms: int) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StoreCollector(open_reader, clock, max_age_ms))
    return reg


def serve(host: str, port: int, open_reader: Callable[[], Any], clock: Callable[[], int],
          max_age_ms: int) -> Exporter:
    """Start serving ``/metrics`` on ``host:port`` in a daemon thread (raises OSError if it cannot bind)."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=registry(open_reader, clock, max_age_ms))
    return Exporter(server, thread)


def serve_settings(settings: Any, store: Any) -> Exporter | None:
    """The service's exporter from ``settings.prometheus``, or None when disabled or it cannot bind
    (collection matters more than the exporter: the error is logged and the service goes on)."""
    from core.clock import now_ms
    from store.handle import Store

    store = Store.of(store)
    cfg = settings.prometheus
    if not cfg.enabled:
        return None
    pool = store.reader_pool()
    open_reader = pool.connect if pool is not None else store.reader
    try:
        exp = serve(cfg.host, cfg.port, open_reader, now_ms, int(cfg.max_age_s * 1000))
        exp.on_close = pool.close if pool is not None else None
    except OSError as exc:  # port taken or address not local: say so, keep collecting
        if pool is not None:
            pool.close()
        log.error("cannot serve /metrics on %s:%s: %s (set prometheus.port, or prometheus.enabled: false)",
                  cfg.host, cfg.port, exc)
        return None
    log.info("serving Prometheus /metrics on http://%s:%d/metrics", cfg.host, exp.port)
    return exp
