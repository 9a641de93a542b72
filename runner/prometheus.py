"""Prometheus ``/metrics`` of the collector service: the store's latest table as an exposition.

A custom collector reads the latest sample of every series at each scrape (nothing is cached, so
what Prometheus sees is what the dashboard sees). Exposed names, label renames, kinds and help texts
come from the metric catalogue (``core.metrics``): names carry the ``eventdeck_`` prefix; the series
Grafana dashboards already know take the names of kafka-lag-exporter and rabbitmq_prometheus
(kafka-lag-exporter's ``cluster_name`` label for ``cluster``), every other series keeps its store name
(``eventdeck_<metric>``). prometheus_client serves both the text format and OpenMetrics (by ``Accept``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import CollectorRegistry

from core import metrics
from core.names import safe_label_value

PREFIX = metrics.PREFIX
# kafka-lag-exporter's max lag in messages per group: the maximum over the group's partitions, computed at scrape.
MAX_LAG = (metrics.KAFKA_GROUP_LAG_MESSAGES, "kafka_consumergroup_group_max_lag", ("cluster", "group"))

log = logging.getLogger("eventdeck.prometheus")


def exposed(metric: str, labels: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(exposed name with prefix, exposed labels) of a store series, as the catalogue (``core.metrics``) names
    them; a metric it does not know (rows of an older version) is ``eventdeck_<metric>``, never with the prefix
    twice. Label values are made safe (a stored value is already, this guards older rows)."""
    known = metrics.get(metric)
    if known is not None:
        name, renames = known.exposed, known.exposed_labels
    else:
        name, renames = (metric if metric.startswith(PREFIX) else PREFIX + metric), {}
    out = {}
    for key, value in labels.items():
        new = renames.get(key, key)
        # never let a rename hide an existing label
        out[new if new not in labels else key] = safe_label_value(value if isinstance(value, str) else str(value))
    return name, out


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
        known = metrics.get(metric)
        counter = known.kind == metrics.COUNTER if known is not None else name.endswith("_total")
        base = name[:-len("_total")] if counter and name.endswith("_total") else name
        fam = fams.get(base)
        if fam is None:
            fam = fams[base] = Metric(base, known.help if known is not None else f"Eventdeck {metric}",
                                      "counter" if counter else "gauge")
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
